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
  /** Every change up to this revision has been delivered: a reconnection resumes after it. */
  let position = options.fromRevision;
  /**
   * The newest revision delivered, perhaps only in part: one transaction changes several names
   * at one revision (group commit), and a stream can end between them. Its names are kept so
   * that a resumption, which starts after `position`, delivers only the rest.
   */
  let partial: { revision: number; names: Set<string> } | undefined;
  const complete = (revision: number) => {
    position = Math.max(position ?? 0, revision);
    if (partial && partial.revision <= revision) partial = undefined;
  };
  // Events come in revision order: all before a partly delivered revision came out whole.
  const resumeAfter = () => partial ? Math.max(position ?? 0, partial.revision - 1) : position;
  while (!signal?.aborted) {
    const from = resumeAfter();
    const stream = await retry(
      () =>
        init.requester.open(
          WATCH_PROTOCOL,
          new TextEncoder().encode(encodeWatchRequest({ Name: name, FromRevision: from })),
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
      for await (const batch of batches(stream, silenceMs, signal)) {
        for (const event of batch) {
          switch (event.Type) {
            case "put":
            case "delete": {
              if (position !== undefined && event.Revision <= position) continue;
              if (partial?.revision === event.Revision) {
                if (partial.names.has(event.Name)) continue;
                partial.names.add(event.Name);
              } else {
                // A newer revision: the one before it has come out whole.
                if (partial) complete(partial.revision);
                partial = { revision: event.Revision, names: new Set([event.Name]) };
              }
              yield event.Type === "put" ? toPut(event) : {
                type: "delete",
                name: event.Name,
                revision: event.Revision,
              };
              break;
            }
            case "synced":
              complete(event.Revision);
              yield { type: "synced", revision: event.Revision };
              break;
            case "ping":
              if (position !== undefined) complete(event.Revision);
              break;
            case "reset":
              // The entries follow from revisions the caller had passed: start over from them.
              position = undefined;
              partial = undefined;
              yield { type: "reset" };
              break;
            case "error":
              ended = `the registry-service ended the watch: ${event.Message}`;
              break;
          }
        }
      }
    } catch (err) {
      if (signal?.aborted) return;
      ended = `the watch stream failed: ${(err as Error).message}`;
    } finally {
      if (stream.status === "open") stream.abort(new Error("watch ended"));
    }
    if (signal?.aborted) return;
    const next = resumeAfter();
    logger.warn(
      `watch: ${ended}; resuming ${
        next === undefined ? "from a snapshot" : `after revision ${next}`
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

/**
 * The answer's lines as events, in the batches they arrived in (one await
 * per batch, not per line: a watcher of a busy registry gets many); fails
 * when nothing arrives for `silenceMs`.
 */
async function* batches(
  stream: Stream,
  silenceMs: number,
  signal?: AbortSignal,
): AsyncGenerator<WatchEvent[]> {
  let queue: WatchEvent[] = [];
  /** `undefined` while open, `null` once ended cleanly, else why it failed. */
  let ended: Error | null | undefined;
  let wake: (() => void) | undefined;
  let lastData = Date.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let rest = "";
  const end = (err: Error | null) => {
    ended ??= err;
    wake?.();
  };
  const onMessage = (evt: { data: Uint8Array | { subarray(): Uint8Array } }) => {
    lastData = Date.now();
    const bytes = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray();
    rest += decoder.decode(bytes, { stream: true });
    // Complete lines are taken from the front at once: one slice per chunk, not per line.
    const last = rest.lastIndexOf("\n");
    if (last < 0) return;
    const complete = rest.slice(0, last);
    rest = rest.slice(last + 1);
    try {
      for (const line of complete.split("\n")) {
        if (line.trim() !== "") queue.push(decodeWatchEvent(line));
      }
    } catch (err) {
      stream.abort(err as Error);
      end(err as Error);
    }
    wake?.();
    maybeDone();
  };
  // The remote's close can be announced before the last of its data is dispatched.
  let remoteClosed = false;
  const maybeDone = () => {
    if (remoteClosed && stream.readBufferLength === 0) end(null);
  };
  const onRemoteClose = () => {
    remoteClosed = true;
    maybeDone();
  };
  const onClose = (evt: Event) => {
    const error = (evt as Event & { error?: Error }).error;
    end(error ?? (ended === undefined ? new Error("the stream closed") : null));
  };
  // One timer, re-armed only when it fires: a timer per line costs more than the line.
  const check = () => {
    const left = lastData + silenceMs - Date.now();
    if (left > 0) timer = setTimeout(check, left);
    else stream.abort(new Error(`nothing from the registry-service for ${silenceMs} ms`));
  };
  const onAbort = () => stream.abort(new Error("watch stopped"));
  signal?.addEventListener("abort", onAbort, { once: true });
  stream.addEventListener("message", onMessage);
  stream.addEventListener("remoteCloseWrite", onRemoteClose);
  stream.addEventListener("close", onClose);
  if (stream.remoteWriteStatus === "closed") onRemoteClose();
  try {
    check();
    while (true) {
      if (queue.length > 0) {
        const batch = queue;
        queue = [];
        yield batch;
        continue;
      }
      if (ended !== undefined) {
        if (ended) throw ended;
        return;
      }
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    stream.removeEventListener("message", onMessage);
    stream.removeEventListener("remoteCloseWrite", onRemoteClose);
    stream.removeEventListener("close", onClose);
  }
}
