/**
 * The `/watch/0.1` handler: a stream that stays open, one JSON line per
 * change (see `store/changes.ts` for order and resumption), a ping after
 * 15 s of quiet, and a bound on what a watcher that does not read may hold.
 *
 * Lines go to the stream while it takes them; once the transport's window is
 * full they wait in a queue of the watcher's own, whose bytes are counted.
 * A watcher whose queue passes its limit is sent the error line and closed:
 * what a slow reader costs the service is its queue limit, never more.
 *
 * @module
 */
import type { Stream } from "@libp2p/interface";
import { decodeWatchRequest, encodeWatchEvent, type WatchEvent } from "../protocol/messages.ts";
import type { ChangeSource } from "../store/changes.ts";
import { openChanges, WatcherTooSlowError } from "../store/changes.ts";
import type { Logger } from "../log/logger.ts";
import type { RegistryMetrics } from "./metrics.ts";
import type { Outcome, RequestContext } from "./handlers.ts";

/** Bounds on watchers. */
export interface WatchLimits {
  /** Watchers open at once across all peers. */
  maxWatchers: number;
  /** Watchers one peer may have open at once. */
  maxWatchersPerPeer: number;
  /** Watchers one remote host (all its peer ids) may have open at once. */
  maxWatchersPerHost: number;
  /** Bytes of lines that may wait for one watcher that does not read; more closes it. */
  maxQueuedBytes: number;
  /** A ping is sent after this long without a line (ms). */
  pingMs: number;
  /** A watcher that takes none of its snapshot (or catch-up) for this long is closed (ms). */
  snapshotIdleMs: number;
  /** A watcher whose snapshot (or catch-up) is not all sent after this long is closed (ms). */
  snapshotTotalMs: number;
}

/** The watch limits the service runs with unless told otherwise. */
export const DEFAULT_WATCH_LIMITS: WatchLimits = {
  maxWatchers: 10_000,
  maxWatchersPerPeer: 100,
  maxWatchersPerHost: 5_000,
  maxQueuedBytes: 1024 * 1024,
  pingMs: 15_000,
  snapshotIdleMs: 30_000,
  snapshotTotalMs: 300_000,
};

/** Handles a request whose answer is a stream that stays open; resolves with how it ended. */
export type StreamingHandler = (
  request: string,
  ctx: RequestContext,
  stream: Stream,
) => Promise<Outcome>;

/** Components for {@linkcode watchHandler}. */
export interface WatchComponents {
  /** Where the changes come from (the store). */
  changes: ChangeSource;
  /** Watchers gauge, events counter, queued bytes. */
  metrics: Pick<RegistryMetrics, "watchers" | "watchEvents" | "watchQueuedBytes">;
  /** Where a watcher closed for being too slow is reported. */
  logger: Logger;
  /** Bounds; {@linkcode DEFAULT_WATCH_LIMITS} when omitted. */
  limits?: WatchLimits;
}

const encoder = new TextEncoder();

/** Lines by event: a change goes to every watcher as the same event, encoded once. */
const lines = new WeakMap<WatchEvent, Uint8Array>();

function encoded(event: WatchEvent): Uint8Array {
  let bytes = lines.get(event);
  if (!bytes) lines.set(event, bytes = encoder.encode(encodeWatchEvent(event)));
  return bytes;
}

/**
 * The `/watch/0.1` handler (the `serve` wrapper counts it against the watcher
 * limits, not the requests in flight).
 *
 * @example
 * ```ts ignore
 * const handler = watchHandler({ changes: store, metrics, logger });
 * ```
 */
export function watchHandler(components: WatchComponents): StreamingHandler {
  const { changes, metrics, logger } = components;
  const limits = components.limits ?? DEFAULT_WATCH_LIMITS;
  return async (text, ctx, stream) => {
    const request = decodeWatchRequest(text);
    const ended = Promise.withResolvers<Outcome>();
    const queue = new LineQueue(stream, metrics, limits.maxQueuedBytes / 2);
    let lastLine = Date.now();
    let closing = false;
    const finish = (outcome: Outcome, line?: WatchEvent) => {
      if (closing) return;
      closing = true;
      queue.drop();
      if (line) {
        // Sent after what the transport already holds; a reader that never reads just loses it.
        try {
          stream.send(encoded(line));
        } catch {
          // The stream is gone already.
        }
      }
      stream.close({ signal: AbortSignal.timeout(limits.pingMs) })
        .catch((err) => stream.abort(err))
        .finally(() => ended.resolve(outcome));
    };
    const tooSlow = (err: WatcherTooSlowError) => {
      logger.warn(`${ctx.protocol} from ${ctx.peer} closed: ${err.message}`);
      finish("refused", { Type: "error", Message: err.message });
    };
    const emit = (event: WatchEvent) => {
      if (closing) return;
      try {
        queue.push(encoded(event));
      } catch {
        // The stream closed under us (it throws on send); the store's listener must not see it.
        return finish("ok");
      }
      lastLine = Date.now();
      if (event.Type === "put" || event.Type === "delete") metrics.watchEvents.inc();
      if (queue.bytes > limits.maxQueuedBytes) {
        tooSlow(
          new WatcherTooSlowError(
            `${queue.bytes} bytes queued for this watcher, limit ${limits.maxQueuedBytes}`,
          ),
        );
      }
    };
    ctx.signal.addEventListener("abort", () => finish("ok"), { once: true });
    metrics.watchers.inc();
    let feed: Awaited<ReturnType<typeof openChanges>> | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // The snapshot waits for the reader, and live changes wait for the snapshot: both bounded.
      const snapshotEnd = Date.now() + limits.snapshotTotalMs;
      feed = await openChanges(
        changes,
        {
          name: request.Name,
          fromRevision: request.FromRevision,
          ready: () =>
            queue.ready(
              Math.min(limits.snapshotIdleMs, snapshotEnd - Date.now()),
              (waited) =>
                new WatcherTooSlowError(
                  waited < limits.snapshotIdleMs
                    ? `the snapshot was not taken within ${limits.snapshotTotalMs} ms`
                    : `the watcher took none of its snapshot for ${limits.snapshotIdleMs} ms`,
                ),
            ),
          maxHeldBytes: limits.maxQueuedBytes,
        },
        emit,
        (err) =>
          err instanceof WatcherTooSlowError
            ? tooSlow(err)
            : finish("error", { Type: "error", Message: err.message }),
      );
      if (ctx.signal.aborted) finish("ok");
      // One timer per watcher, re-armed for the quiet time left.
      const ping = () => {
        if (closing) return;
        const quiet = Date.now() - lastLine;
        if (quiet >= limits.pingMs) emit({ Type: "ping", Revision: feed!.revision });
        timer = setTimeout(ping, limits.pingMs - (Date.now() - lastLine));
      };
      timer = setTimeout(ping, limits.pingMs);
      return await ended.promise;
    } catch (err) {
      if (err instanceof WatcherTooSlowError) {
        tooSlow(err);
        return await ended.promise;
      }
      finish("error", { Type: "error", Message: (err as Error).message });
      await ended.promise;
      throw err;
    } finally {
      clearTimeout(timer);
      await feed?.close();
      queue.drop();
      metrics.watchers.dec();
    }
  };
}

/**
 * Lines on their way to a watcher: handed to the stream while it takes them,
 * queued (and counted) while it waits for the reader.
 */
class LineQueue {
  readonly #stream: Stream;
  readonly #metrics: Pick<RegistryMetrics, "watchQueuedBytes">;
  readonly #lowWater: number;
  #lines: Uint8Array[] = [];
  #bytes = 0;
  #waiting = false;
  #readers: (() => void)[] = [];

  constructor(
    stream: Stream,
    metrics: Pick<RegistryMetrics, "watchQueuedBytes">,
    lowWater: number,
  ) {
    this.#stream = stream;
    this.#metrics = metrics;
    this.#lowWater = lowWater;
  }

  /**
   * Resolves once at most half the limit is queued (at once when it is
   * already); rejects with `timeout(ms)` when that takes longer than `ms`.
   */
  ready(ms: number, timeout: (ms: number) => Error): Promise<void> {
    if (this.#bytes <= this.#lowWater) return Promise.resolve();
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const wake = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      this.#readers = this.#readers.filter((reader) => reader !== wake);
      reject(timeout(ms));
    }, Math.max(0, ms));
    this.#readers.push(wake);
    return promise;
  }

  #wake(): void {
    if (this.#bytes > this.#lowWater) return;
    for (const resolve of this.#readers.splice(0)) resolve();
  }

  /** Bytes queued, not yet taken by the stream. */
  get bytes(): number {
    return this.#bytes;
  }

  push(bytes: Uint8Array): void {
    if (!this.#waiting) {
      if (!this.#stream.send(bytes)) void this.#drain();
      return;
    }
    this.#lines.push(bytes);
    this.#bytes += bytes.byteLength;
    this.#metrics.watchQueuedBytes.inc(bytes.byteLength);
  }

  /** Forgets what is queued (the watcher is closing). */
  drop(): void {
    this.#metrics.watchQueuedBytes.dec(this.#bytes);
    this.#lines = [];
    this.#bytes = 0;
    this.#wake();
  }

  async #drain(): Promise<void> {
    this.#waiting = true;
    try {
      while (true) {
        await this.#stream.onDrain();
        let line: Uint8Array | undefined;
        let full = false;
        while (!full && (line = this.#lines.shift()) !== undefined) {
          this.#bytes -= line.byteLength;
          this.#metrics.watchQueuedBytes.dec(line.byteLength);
          full = !this.#stream.send(line);
        }
        this.#wake();
        if (!full) return;
      }
    } catch {
      // The stream closed: the handler ends through its close event.
      this.drop();
    } finally {
      this.#waiting = false;
    }
  }
}
