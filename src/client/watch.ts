/**
 * The client side of `/watch/0.1`: an async iterable of typed changes that
 * reconnects by itself (to another registry-service when the first is gone)
 * and resumes from the last revision it delivered, so each change comes out
 * once, in order.
 *
 * @module
 */
import type { Stream } from "@libp2p/interface";
import { WATCH_PROTOCOL } from "../protocol/ids.ts";
import {
  decodeWatchEvent,
  encodeWatchRequest,
  validateServiceName,
  type WatchEvent,
} from "../protocol/messages.ts";
import { parseServiceInfo, type ServiceInfo } from "../protocol/service_info.ts";
import { retry } from "../_retry.ts";
import { type Logger, silentLogger } from "../log/logger.ts";
import type { Requester } from "./requester.ts";

/** A change, or a point in the feed, as {@linkcode RegistryClient.watch} delivers it. */
export type ServiceChange =
  | {
    type: "put";
    name: string;
    /** The entry, or `undefined` when it is not a valid ServiceInfo (see `invalid`). */
    info: ServiceInfo | undefined;
    /** Why `info` is `undefined`. */
    invalid?: string;
    /** The entry as stored. */
    infoStr: string;
    revision: number;
  }
  | { type: "delete"; name: string; revision: number }
  /** Everything up to `revision` has been delivered; later changes follow as they commit. */
  | { type: "synced"; revision: number }
  /**
   * The revision to resume from was compacted away: the current entries
   * follow (then `synced`); drop what you built and rebuild from them.
   */
  | { type: "reset" };

/** Options for {@linkcode RegistryClient.watch}. */
export interface WatchOptions {
  /** Only this service's changes; every service when omitted. */
  name?: string;
  /** Start after this revision (every change since, then `synced`) instead of a snapshot. */
  fromRevision?: number;
  /** Ends the iteration. */
  signal?: AbortSignal;
}

/** Settings of {@linkcode watchChanges}. */
export interface WatchInit {
  /** Opens the stream on a registry-service. */
  requester: Pick<Requester, "open">;
  /** Where reconnections are reported. */
  logger?: Logger;
  /** A stream without a line (pings come every 15 s) for this long is given up (ms). */
  silenceMs?: number;
}

const decoder = new TextDecoder();

/**
 * The changes of `options` as they commit, resuming through any instance.
 *
 * @example
 * ```ts ignore
 * for await (const change of watchChanges({ requester }, { name: "svc" })) console.log(change);
 * ```
 */
export async function* watchChanges(
  init: WatchInit,
  options: WatchOptions = {},
): AsyncGenerator<ServiceChange> {
  const logger = init.logger ?? silentLogger;
  const silenceMs = init.silenceMs ?? 40_000;
  const name = options.name === undefined ? undefined : validateServiceName(options.name);
  if (
    options.fromRevision !== undefined &&
    !(Number.isSafeInteger(options.fromRevision) && options.fromRevision >= 0)
  ) {
    throw new RangeError(`fromRevision must be an integer >= 0, got ${options.fromRevision}`);
  }
  const signal = options.signal;
  /** The revision delivered last: a reconnection resumes after it. */
  let position = options.fromRevision;
  while (!signal?.aborted) {
    const stream = await retry(
      () =>
        init.requester.open(
          WATCH_PROTOCOL,
          new TextEncoder().encode(encodeWatchRequest({ Name: name, FromRevision: position })),
          signal,
        ),
      {
        initialDelayMs: 250,
        maxDelayMs: 5_000,
        signal,
        onRetry: (err, attempt, delay) =>
          logger.warn(
            `watch: no registry-service took the watch (${(err as Error).message}); ` +
              `attempt ${attempt}, retrying in ${delay} ms`,
          ),
      },
    ).catch((err) => {
      if (signal?.aborted) return undefined;
      throw err;
    });
    if (!stream) return;
    let ended = "the registry-service closed the watch";
    try {
      for await (const event of lines(stream, silenceMs, signal)) {
        switch (event.Type) {
          case "put":
          case "delete": {
            // The service sends nothing older (a resumption asks for what is after `position`);
            // one transaction may change several names at one revision.
            if (position !== undefined && event.Revision < position) continue;
            position = Math.max(position ?? 0, event.Revision);
            yield event.Type === "put" ? toPut(event) : {
              type: "delete",
              name: event.Name,
              revision: event.Revision,
            };
            break;
          }
          case "synced":
            position = Math.max(position ?? 0, event.Revision);
            yield { type: "synced", revision: event.Revision };
            break;
          case "ping":
            if (position !== undefined) position = Math.max(position, event.Revision);
            break;
          case "reset":
            // The entries follow from revisions the caller had passed: start over from them.
            position = undefined;
            yield { type: "reset" };
            break;
          case "error":
            ended = `the registry-service ended the watch: ${event.Message}`;
            break;
        }
      }
    } catch (err) {
      if (signal?.aborted) return;
      ended = `the watch stream failed: ${(err as Error).message}`;
    } finally {
      if (stream.status === "open") stream.abort(new Error("watch ended"));
    }
    if (signal?.aborted) return;
    logger.warn(
      `watch: ${ended}; resuming ${
        position === undefined ? "from a snapshot" : `after revision ${position}`
      }`,
    );
  }
}

function toPut(event: Extract<WatchEvent, { Type: "put" }>): ServiceChange {
  try {
    return {
      type: "put",
      name: event.Name,
      info: parseServiceInfo(event.InfoStr),
      infoStr: event.InfoStr,
      revision: event.Revision,
    };
  } catch (err) {
    return {
      type: "put",
      name: event.Name,
      info: undefined,
      invalid: (err as Error).message,
      infoStr: event.InfoStr,
      revision: event.Revision,
    };
  }
}

/** The answer's lines as events; fails when nothing arrives for `silenceMs`. */
async function* lines(
  stream: Stream,
  silenceMs: number,
  signal?: AbortSignal,
): AsyncGenerator<WatchEvent> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastData = Date.now();
  // One timer, re-armed only when it fires: a timer per line costs more than the line.
  const check = () => {
    const left = lastData + silenceMs - Date.now();
    if (left > 0) timer = setTimeout(check, left);
    else stream.abort(new Error(`nothing from the registry-service for ${silenceMs} ms`));
  };
  const onAbort = () => stream.abort(new Error("watch stopped"));
  signal?.addEventListener("abort", onAbort, { once: true });
  let rest = "";
  try {
    check();
    for await (const chunk of stream) {
      lastData = Date.now();
      rest += decoder.decode(chunk instanceof Uint8Array ? chunk : chunk.subarray(), {
        stream: true,
      });
      // Complete lines are taken from the front at once: one slice per chunk, not per line.
      const end = rest.lastIndexOf("\n");
      if (end < 0) continue;
      const complete = rest.slice(0, end);
      rest = rest.slice(end + 1);
      for (const line of complete.split("\n")) {
        if (line.trim() !== "") yield decodeWatchEvent(line);
      }
    }
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}
