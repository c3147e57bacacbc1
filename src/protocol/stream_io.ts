/**
 * Reading and writing whole messages on libp2p streams, with the bounds a
 * long-running service needs against misbehaving peers.
 *
 * @module
 */
import type { Stream } from "@libp2p/interface";
import { concatBytes } from "../_bytes.ts";

/** Thrown when a message is larger than allowed. */
export class MessageTooLargeError extends Error {
  /**
   * @param limit The limit in bytes.
   */
  constructor(limit: number) {
    super(`message is larger than ${limit} bytes`);
    this.name = "MessageTooLargeError";
  }
}

/** Thrown when the remote sends nothing for too long, or the whole read takes too long. */
export class StreamTimeoutError extends Error {
  /**
   * @param message Which limit was hit.
   */
  constructor(message: string) {
    super(message);
    this.name = "StreamTimeoutError";
  }
}

/** Limits for {@linkcode readToEnd}. */
export interface ReadLimits {
  /** Largest message accepted; more is refused without buffering it. */
  maxBytes: number;
  /** Abort when nothing arrives for this long (ms). */
  idleMs?: number;
  /** Abort when the whole message has not arrived after this long (ms). */
  totalMs?: number;
  /** Abort when this signal aborts. */
  signal?: AbortSignal;
}

/**
 * Reads a stream until the remote closes its write side and returns the
 * bytes. On a limit breach the stream is aborted (reset) and the matching
 * error thrown.
 *
 * Works from the stream's events and state rather than its async iterator:
 * a peer that sends its request and close together with protocol negotiation
 * (go-libp2p's lazy multistream-select does) has closed before the reader
 * attaches, and the iterator would then wait for an event that already fired.
 *
 * @example
 * ```ts ignore
 * const bytes = await readToEnd(stream, { maxBytes: 1 << 20, idleMs: 10_000 });
 * ```
 */
export function readToEnd(stream: Stream, limits: ReadLimits): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const started = Date.now();
  let lastData = started;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const { promise, resolve, reject } = Promise.withResolvers<Uint8Array>();
  let settled = false;

  const cleanup = () => {
    settled = true;
    clearTimeout(timer);
    stream.removeEventListener("message", onMessage);
    stream.removeEventListener("remoteCloseWrite", maybeDone);
    stream.removeEventListener("end", maybeDone);
    stream.removeEventListener("close", onClose);
    limits.signal?.removeEventListener("abort", onAbort);
  };
  const fail = (err: Error) => {
    if (settled) return;
    cleanup();
    stream.abort(err);
    reject(err);
  };
  const finish = () => {
    if (settled) return;
    cleanup();
    resolve(concatBytes(chunks));
  };
  // Everything the remote sent has been delivered once its write side is
  // closed and nothing is left in the stream's read buffer.
  function maybeDone() {
    const ended = stream.remoteWriteStatus === "closed" || stream.readStatus === "closed";
    if (ended && stream.readBufferLength === 0) finish();
  }
  function onMessage(evt: { data: Uint8Array | { subarray(): Uint8Array } }) {
    if (settled) return;
    const bytes = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray();
    size += bytes.byteLength;
    if (size > limits.maxBytes) return fail(new MessageTooLargeError(limits.maxBytes));
    chunks.push(bytes);
    lastData = Date.now();
    maybeDone();
  }
  function onClose(evt: Event) {
    const error = (evt as Event & { error?: Error }).error;
    if (error) fail(error);
    else finish();
  }
  function onAbort() {
    fail(limits.signal?.reason ?? new Error("aborted"));
  }
  // One timer per read, re-armed only when it fires: timers cost more than reading a clock.
  const check = () => {
    const now = Date.now();
    const idleLeft = limits.idleMs === undefined ? Infinity : lastData + limits.idleMs - now;
    const totalLeft = limits.totalMs === undefined ? Infinity : started + limits.totalMs - now;
    if (totalLeft <= 0) {
      return fail(new StreamTimeoutError(`message not complete after ${limits.totalMs} ms`));
    }
    if (idleLeft <= 0) return fail(new StreamTimeoutError(`no data for ${limits.idleMs} ms`));
    const next = Math.min(idleLeft, totalLeft);
    if (next !== Infinity) timer = setTimeout(check, next);
  };

  if (limits.signal?.aborted) {
    onAbort();
    return promise;
  }
  if (stream.status === "reset" || stream.status === "aborted") {
    fail(new Error(`the stream was ${stream.status} before it could be read`));
    return promise;
  }
  check();
  limits.signal?.addEventListener("abort", onAbort, { once: true });
  stream.addEventListener("message", onMessage);
  stream.addEventListener("remoteCloseWrite", maybeDone);
  stream.addEventListener("end", maybeDone);
  stream.addEventListener("close", onClose);
  // Buffered data is delivered on a microtask after the listener is added;
  // with nothing buffered, a remote that already closed is done now.
  maybeDone();
  return promise;
}

/**
 * Sends `bytes` and closes the write side, waiting for the send buffer to
 * drain when the transport asks for it.
 *
 * @example
 * ```ts ignore
 * await sendAndClose(stream, new TextEncoder().encode("my-service"));
 * ```
 */
export async function sendAndClose(
  stream: Stream,
  bytes: Uint8Array,
  signal?: AbortSignal,
): Promise<void> {
  if (bytes.byteLength > 0 && !stream.send(bytes)) await stream.onDrain({ signal });
  await stream.close({ signal });
}
