/**
 * Reading and writing whole messages on libp2p streams, with the bounds a
 * long-running service needs against misbehaving peers.
 *
 * @module
 */
import type { Stream } from "@libp2p/interface";

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
 * @example
 * ```ts ignore
 * const bytes = await readToEnd(stream, { maxBytes: 1 << 20, idleMs: 10_000 });
 * ```
 */
export async function readToEnd(stream: Stream, limits: ReadLimits): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let failure: Error | undefined;
  const fail = (err: Error) => {
    failure ??= err;
    stream.abort(err);
  };
  // One timer per read, re-armed only when it fires: timers cost more than reading a clock.
  const started = Date.now();
  let lastData = started;
  let timer: ReturnType<typeof setTimeout> | undefined;
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
  check();
  const onAbort = () => fail(limits.signal?.reason ?? new Error("aborted"));
  limits.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const chunk of stream) {
      const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray();
      size += bytes.byteLength;
      if (size > limits.maxBytes) {
        fail(new MessageTooLargeError(limits.maxBytes));
        break;
      }
      chunks.push(bytes);
      lastData = Date.now();
    }
  } catch (err) {
    throw failure ?? err;
  } finally {
    clearTimeout(timer);
    limits.signal?.removeEventListener("abort", onAbort);
  }
  if (failure) throw failure;
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
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
