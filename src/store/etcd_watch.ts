/**
 * etcd's Watch as a gRPC stream over our own HTTP/2 connection (`_h2.ts`):
 * the store's view of etcd is fed by it.
 *
 * etcd3's watch decodes each response through grpc-js and protobuf.js
 * (objects, `toObject`, revisions as `Long` then strings) on top of Deno's
 * `node:http2`: measured on a three-member cluster, about a third of a
 * follower's CPU per add went to keeping its view. Here a response is read
 * once, straight into what the store uses.
 *
 * One watch per stream (etcd allows several on one; each of ours has its
 * own, so a stream's end is that watch's alone). A stream that fails is
 * opened again from the revision after the last one delivered, like etcd3's
 * watcher did: the store sees each change once, in order.
 *
 * @module
 */
import { concatBytes } from "../_bytes.ts";
import { retry } from "../_retry.ts";
import type { H2Connection, H2Stream } from "./_h2.ts";
import {
  EtcdCallError,
  prefixEnd,
  Reader,
  readHeader,
  readKeyValue,
  Writer,
} from "./_etcd_proto.ts";
import type { KvEntry } from "./etcd_kv.ts";

/** One change of a watched key. */
export interface WatchEvent {
  type: "put" | "delete";
  key: Uint8Array;
  /** The value put (empty for a delete). */
  value: Uint8Array;
  /** The revision of the change. */
  modRevision: number;
}

/** One response of a watch. */
export interface WatchBatch {
  /**
   * etcd's revision when it sent the response (its header's): with no
   * events, a progress notification that every change up to it was sent.
   */
  revision: number;
  /** The changes, in revision order (none in a progress notification). */
  events: WatchEvent[];
}

/** What to watch. */
export interface WatchRequest {
  /** Every key starting with this. */
  prefix: string;
  /** The first revision whose changes are sent (etcd's history from there on). */
  startRevision: number;
  /** Whether etcd sends progress notifications while nothing changes. */
  progressNotify?: boolean;
}

/** Where a watch's responses and failures go; none of them may throw. */
export interface WatchHandlers {
  /** Each response with changes, and each progress notification. */
  onBatch(batch: WatchBatch): void;
  /**
   * The watch ended for good: etcd cancelled it ({@linkcode WatchCompactedError}
   * when the changes it needed were compacted away), or a response could not
   * be read. Not called after {@linkcode EtcdWatch.cancel}.
   */
  onEnd(error: Error): void;
  /**
   * The stream failed (connection lost, member stopped) or could not be
   * opened again: the watch opens it again from the next revision, after a pause.
   */
  onRetry(error: Error): void;
}

/** A running watch. */
export interface EtcdWatch {
  /** Stops it: no handler is called after. */
  cancel(): void;
}

/** Opens the connection a watch's stream goes on (again for each attempt), and its URL. */
export type WatchConnect = () => Promise<{ conn: H2Connection; url: string }>;

/** The watch's next revision was compacted away: its changes cannot be sent. */
export class WatchCompactedError extends Error {
  /** @param compactRevision etcd's compaction revision (the oldest it still has is the next). */
  constructor(readonly compactRevision: number) {
    super(`etcd compacted its history up to revision ${compactRevision}`);
    this.name = "WatchCompactedError";
  }
}

/**
 * Watches every key under `request.prefix` from `request.startRevision`;
 * resolves once etcd has created the watch. The first attempt's failure
 * (no connection, no answer before `signal` aborts) rejects; once created,
 * failures are retried with backoff from the next revision, and reported to
 * `handlers.onRetry`.
 *
 * @example
 * ```ts ignore
 * const watch = await openWatch(connect, { prefix: "app/", startRevision: 42 }, {
 *   onBatch: ({ events }) => events.forEach((e) => console.log(e.type, e.modRevision)),
 *   onEnd: (err) => console.error(err),
 *   onRetry: (err) => console.warn(err),
 * });
 * watch.cancel();
 * ```
 */
export async function openWatch(
  connect: WatchConnect,
  request: WatchRequest,
  handlers: WatchHandlers,
  signal?: AbortSignal,
): Promise<EtcdWatch> {
  const key = new TextEncoder().encode(request.prefix);
  const rangeEnd = prefixEnd(key);
  let next = request.startRevision;
  /** Set once no handler may be called any more (cancelled, or ended for good). */
  let over = false;
  /** Aborted once over: a pause between attempts ends at once. */
  const stop = new AbortController();
  let stream: H2Stream | undefined;

  const end = (error: Error): void => {
    if (over) return;
    over = true;
    stop.abort(error);
    stream?.cancel(error);
    handlers.onEnd(error);
  };

  /** One response: what it means for the watch; `true` for the creation. */
  const handle = (message: Uint8Array): boolean => {
    const res = readWatchResponse(new Reader(message));
    if (res.compactRevision !== 0) throw new WatchCompactedError(res.compactRevision);
    if (res.canceled) {
      throw new EtcdCallError(2, `etcd cancelled the watch: ${res.cancelReason || "no reason"}`);
    }
    // The header of a creation is etcd's revision, not how far the changes have been sent.
    if (res.created) return true;
    if (res.events.length > 0) next = res.events[res.events.length - 1].modRevision + 1;
    else next = Math.max(next, res.revision + 1);
    handlers.onBatch({ revision: res.revision, events: res.events });
    return false;
  };

  /** Whether openWatch has resolved: failures go to the handlers from then on. */
  let live = false;

  /** Opens the stream from `next`; resolves once etcd has created the watch. */
  const attempt = async (): Promise<void> => {
    const { conn, url } = await connect();
    if (over) return;
    // Only the first attempt answers to `signal`, which may have aborted while it connected:
    // a watch opened after its caller gave up would run for no one.
    if (!live) signal?.throwIfAborted();
    const created = Promise.withResolvers<void>();
    let wasCreated = false;
    /** Bytes of a message not yet all received, as they came (copied). */
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    /** Bytes the next message takes in all: its 5-byte prefix until that has come. */
    let needed = 5;
    const opened: H2Stream = await conn.stream([
      [":method", "POST"],
      [":scheme", url.startsWith("https:") ? "https" : "http"],
      [":path", "/etcdserverpb.Watch/Watch"],
      [":authority", new URL(url).host],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
    ], (payload) => {
      if (over || stream !== opened) return;
      try {
        // gRPC messages do not follow DATA frames: a message may span several, a frame hold several.
        // A message's pieces are joined once it is all there: joined at each frame, a large
        // one (a catch-up of many 64 KiB entries) would be copied once per frame.
        if (pendingBytes + payload.length < needed) {
          // A copy (`slice` of a node Buffer, as the payload may be, would be a view).
          pending.push(new Uint8Array(payload));
          pendingBytes += payload.length;
          return;
        }
        const data = pendingBytes === 0 ? payload : concatBytes([...pending, payload]);
        let at = 0;
        while (data.length - at >= 5) {
          const length = new DataView(data.buffer, data.byteOffset + at).getUint32(1);
          if (data.length - at < 5 + length) break;
          if (data[at] !== 0) throw new EtcdCallError(2, "etcd sent a compressed watch response");
          // Copied: events keep views of it, and the payload is valid only during this call.
          const message = data.slice(at + 5, at + 5 + length);
          at += 5 + length;
          if (handle(message)) {
            wasCreated = true;
            created.resolve();
          }
          if (over) return;
        }
        const rest = new Uint8Array(data.subarray(at));
        pending = rest.length === 0 ? [] : [rest];
        pendingBytes = rest.length;
        needed = rest.length >= 5 ? 5 + new DataView(rest.buffer).getUint32(1) : 5;
      } catch (err) {
        if (live) return end(err as Error);
        // Before the watch was ever created: the caller of openWatch gets it.
        opened.cancel(err as Error);
      }
    });
    stream = opened;
    opened.done.then(
      (trailers) => {
        const message = trailers.get("grpc-message");
        return new EtcdCallError(
          Number(trailers.get("grpc-status") ?? 2),
          `etcd ended the watch stream${message ? `: ${decodeURIComponent(message)}` : ""}`,
        );
      },
      (err: Error) => err,
    ).then((error) => {
      if (stream === opened) stream = undefined;
      created.reject(error);
      // A stream that was running is opened again; one that never was fails its attempt.
      if (wasCreated && !over) void reopen(error);
    });
    // Cancelled, or given up on, while the stream opened.
    if (over) return opened.cancel(new Error("the watch was cancelled"));
    if (!live && signal?.aborted) opened.cancel(signal.reason);
    opened.send(createRequest(key, rangeEnd, next, request.progressNotify ?? false));
    const onAbort = () => opened.cancel(signal!.reason);
    if (!live) signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await created.promise;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  };

  const reopen = async (error: Error): Promise<void> => {
    handlers.onRetry(error);
    await retry(attempt, {
      signal: stop.signal,
      initialDelayMs: 200,
      maxDelayMs: 5_000,
      // A closed client (CANCELLED) will never connect again.
      isRetriable: (err) => !over && !(err instanceof EtcdCallError && err.code === 1),
      onRetry: (err) => {
        if (!over) handlers.onRetry(err as Error);
      },
    }).catch((err) => end(err as Error));
  };

  signal?.throwIfAborted();
  try {
    await attempt();
  } catch (err) {
    over = true;
    stream?.cancel(err as Error);
    throw err;
  }
  live = true;
  return {
    cancel: () => {
      if (over) return;
      over = true;
      const reason = new Error("the watch was cancelled");
      stop.abort(reason);
      stream?.cancel(reason);
    },
  };
}

/** A framed WatchRequest{create_request (1)}. */
function createRequest(
  key: Uint8Array,
  rangeEnd: Uint8Array,
  startRevision: number,
  progressNotify: boolean,
): Uint8Array {
  const w = new Writer();
  // WatchCreateRequest: key (1), range_end (2), start_revision (3), progress_notify (4).
  w.message(1, () => {
    w.bytes(1, key);
    w.bytes(2, rangeEnd);
    w.uint(3, startRevision);
    if (progressNotify) w.uint(4, 1);
  });
  return w.frame();
}

interface WatchResponse {
  revision: number;
  created: boolean;
  canceled: boolean;
  compactRevision: number;
  cancelReason: string;
  events: WatchEvent[];
}

const decoder = new TextDecoder();

/**
 * WatchResponse: header (1), created (3), canceled (4), compact_revision (5),
 * cancel_reason (6), events (11). (watch_id (2) is not read: one watch per stream.)
 */
function readWatchResponse(r: Reader): WatchResponse {
  const res: WatchResponse = {
    revision: 0,
    created: false,
    canceled: false,
    compactRevision: 0,
    cancelReason: "",
    events: [],
  };
  r.fields((field, wire) => {
    if (field === 11 && wire === 2) res.events.push(readEvent(r.sub()));
    else if (field === 1 && wire === 2) res.revision = readHeader(r.sub());
    else if (field === 3 && wire === 0) res.created = r.varint() !== 0;
    else if (field === 4 && wire === 0) res.canceled = r.varint() !== 0;
    else if (field === 5 && wire === 0) res.compactRevision = r.varint();
    else if (field === 6 && wire === 2) res.cancelReason = decoder.decode(r.bytes());
    else return false;
    return true;
  });
  return res;
}

/** mvccpb.Event: type (1: PUT = 0, DELETE = 1), kv (2). */
function readEvent(r: Reader): WatchEvent {
  let type: WatchEvent["type"] = "put";
  let kv: KvEntry = { key: new Uint8Array(), value: new Uint8Array(), modRevision: 0 };
  r.fields((field, wire) => {
    if (field === 1 && wire === 0) type = r.varint() === 1 ? "delete" : "put";
    else if (field === 2 && wire === 2) kv = readKeyValue(r.sub());
    else return false;
    return true;
  });
  return { type, key: kv.key, value: kv.value, modRevision: kv.modRevision };
}
