/**
 * Reading and writing whole messages on libp2p streams, with the bounds a
 * long-running service needs against misbehaving peers.
 *
 * @module
 */
import type { Stream } from "@libp2p/interface";
import { concatBytes } from "../_bytes.ts";
import { type Budget, BudgetExceededError } from "./budget.ts";

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

/** Limits for {@linkcode readInto} and {@linkcode readToEnd}. */
export interface ReadLimits {
  /** Largest message accepted; more is refused without buffering it. */
  maxBytes: number;
  /** Abort when nothing arrives for this long (ms). */
  idleMs?: number;
  /** Abort when the whole message has not arrived after this long (ms). */
  totalMs?: number;
  /** Abort when this signal aborts. */
  signal?: AbortSignal;
  /**
   * Bytes the message may hold while it arrives; a message that would take
   * more fails with {@linkcode BudgetExceededError}. Given back once the read
   * ends, either way.
   */
  budget?: Budget;
}

/** Thrown when a stream ends before the remote closed its write side (reset, connection lost). */
export class StreamEndedEarlyError extends Error {
  /**
   * @param message How the stream ended.
   * @param options Standard error options (`cause`: the stream's own error, if any).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StreamEndedEarlyError";
  }
}

/**
 * Reads a stream until the remote closes its write side and returns the
 * bytes: {@linkcode readInto} with the pieces joined at the end.
 *
 * @example
 * ```ts ignore
 * const bytes = await readToEnd(stream, { maxBytes: 1 << 20, idleMs: 10_000 });
 * ```
 */
export async function readToEnd(stream: Stream, limits: ReadLimits): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  await readInto(stream, (bytes) => chunks.push(bytes), limits);
  return concatBytes(chunks);
}

/**
 * Reads a stream until the remote closes its write side, handing each piece
 * to `take` as it arrives (a reader that decodes the message as it comes in
 * overlaps that work with the transfer). Resolves once the remote closed its
 * write side and every piece was taken. A stream that ends any other way
 * (reset, aborted, its connection closed or lost) fails with
 * {@linkcode StreamEndedEarlyError}: what arrived until then is no message.
 * On a limit breach, or when `take` throws, the stream is aborted (reset)
 * and the error thrown.
 *
 * Start reading before closing your own write side: a stream closed both
 * ways before the reader attaches cannot be told from one whose connection
 * went, so it fails.
 *
 * Works from the stream's events and state rather than its async iterator:
 * a peer that sends its request and close together with protocol negotiation
 * (go-libp2p's lazy multistream-select does) has closed before the reader
 * attaches, and the iterator would then wait for an event that already fired.
 *
 * @example
 * ```ts ignore
 * const chunks: Uint8Array[] = [];
 * await readInto(stream, (bytes) => chunks.push(bytes), { maxBytes: 1 << 20 });
 * ```
 */
export function readInto(
  stream: Stream,
  take: (bytes: Uint8Array) => void,
  limits: ReadLimits,
): Promise<void> {
  let size = 0;
  const started = Date.now();
  let lastData = started;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  let settled = false;
  // Only a close of the remote's write side completes a message. js-libp2p
  // also marks that side closed when the stream is reset or its connection
  // goes, and announces the end before the error, so the event is what counts.
  let remoteClosed = false;

  let taken = 0;
  const cleanup = () => {
    settled = true;
    limits.budget?.give(taken);
    clearTimeout(timer);
    stream.removeEventListener("message", onMessage);
    stream.removeEventListener("remoteCloseWrite", onRemoteClose);
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
    resolve();
  };
  // Everything the remote sent has been delivered once its write side is
  // closed and nothing is left in the stream's read buffer.
  function maybeDone() {
    if (remoteClosed && stream.readBufferLength === 0) finish();
  }
  function onRemoteClose() {
    remoteClosed = true;
    maybeDone();
  }
  function onMessage(evt: { data: Uint8Array | { subarray(): Uint8Array } }) {
    if (settled) return;
    const bytes = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray();
    size += bytes.byteLength;
    if (size > limits.maxBytes) return fail(new MessageTooLargeError(limits.maxBytes));
    const exceeded = limits.budget?.take(bytes.byteLength);
    if (exceeded) return fail(new BudgetExceededError(exceeded));
    taken += bytes.byteLength;
    try {
      take(bytes);
    } catch (err) {
      return fail(err as Error);
    }
    lastData = Date.now();
    maybeDone();
  }
  function onClose(evt: Event) {
    if (remoteClosed && stream.readBufferLength === 0) return finish();
    const error = (evt as Event & { error?: Error }).error;
    fail(
      new StreamEndedEarlyError(
        error
          ? `the stream ended before the message was complete: ${error.message}`
          : "the connection closed before the message was complete",
        { cause: error },
      ),
    );
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
  if (stream.status !== "open" && stream.status !== "closing") {
    // A stream we have not closed can only be closed by its connection going away.
    fail(new StreamEndedEarlyError(`the stream was ${stream.status} before it could be read`));
    return promise;
  }
  remoteClosed = stream.remoteWriteStatus === "closed";
  check();
  limits.signal?.addEventListener("abort", onAbort, { once: true });
  stream.addEventListener("message", onMessage);
  stream.addEventListener("remoteCloseWrite", onRemoteClose);
  stream.addEventListener("close", onClose);
  // Buffered data is delivered on a microtask after the listener is added;
  // with nothing buffered, a remote that already closed is done now.
  maybeDone();
  return promise;
}

/**
 * Large messages go to the stream in pieces of this size. Handed over whole, a
 * 3 MB list reached noise and pnet in writes of up to 2 MB, each copied into
 * buffers as large: the service's RSS grew 66–75 MiB over ten such lists,
 * against 14–45 MiB in 64 KiB pieces (256 KiB pieces: 59–66 MiB).
 */
const SEND_PIECE_BYTES = 64 * 1024;

/** Options for {@linkcode sendAndClose}. */
export interface SendOptions {
  /** Abort when this signal aborts. */
  signal?: AbortSignal;
  /**
   * Reset the stream when the reader takes no data for this long (ms). A slow
   * reader is waited for; one that stopped is not.
   */
  idleMs?: number;
  /**
   * Reset the stream when the answer is not all taken after this long (ms):
   * a reader taking a little before each idle limit would otherwise hold
   * the answer for ever.
   */
  totalMs?: number;
}

/**
 * Sends `bytes` and closes the write side, waiting for the send buffer to
 * drain when the transport asks for it. Fails with
 * {@linkcode StreamEndedEarlyError} when the stream is reset or aborted
 * before everything was handed to the connection, and with
 * {@linkcode StreamTimeoutError} (the stream reset) when the reader takes
 * nothing for `idleMs`, or has not taken it all after `totalMs`.
 *
 * @example
 * ```ts ignore
 * await sendAndClose(stream, new TextEncoder().encode("my-service"), { idleMs: 10_000 });
 * ```
 */
export async function sendAndClose(
  stream: Stream,
  bytes: Uint8Array,
  options: SendOptions = {},
): Promise<void> {
  const { signal, idleMs, totalMs } = options;
  const deadline = totalMs === undefined ? Infinity : Date.now() + totalMs;
  let timedOut: StreamTimeoutError | undefined;
  // Each wait for the reader gets its own idle limit (cut to what is left of the total); the
  // timer is cleared when the wait ends, so the many answers that never wait leave no timers.
  const wait = async (waitFor: (options: { signal?: AbortSignal }) => Promise<void>) => {
    const totalLeft = deadline - Date.now();
    const limit = Math.min(idleMs ?? Infinity, totalLeft);
    if (limit === Infinity) return await waitFor({ signal });
    const controller = new AbortController();
    const timer = setTimeout(() => {
      timedOut = new StreamTimeoutError(
        limit === totalLeft
          ? `the answer was not all taken after ${totalMs} ms: the reader is too slow`
          : `the answer made no progress for ${idleMs} ms: the reader stopped taking data`,
      );
      controller.abort();
    }, Math.max(0, limit));
    try {
      await waitFor({
        signal: signal ? AbortSignal.any([signal, controller.signal]) : controller.signal,
      });
    } finally {
      clearTimeout(timer);
    }
  };
  try {
    for (let at = 0; at < bytes.byteLength; at += SEND_PIECE_BYTES) {
      if (!stream.send(bytes.subarray(at, at + SEND_PIECE_BYTES))) {
        await wait((o) => stream.onDrain(o));
      }
    }
    await wait((o) => stream.close(o));
  } catch (err) {
    if (signal?.aborted) throw err;
    if (timedOut) {
      stream.abort(timedOut);
      throw timedOut;
    }
    // js-libp2p rejects with the stream's close event when the stream ends while it waits.
    const cause = err instanceof Error ? err : (err as { error?: Error }).error;
    throw new StreamEndedEarlyError(
      `the stream ended before the message was sent${cause ? `: ${cause.message}` : ""}`,
      { cause },
    );
  }
  // js-libp2p lets a close of an aborted stream succeed, its unsent data dropped.
  if (stream.status === "aborted" || stream.status === "reset") {
    throw new StreamEndedEarlyError(`the stream was ${stream.status} before the message was sent`);
  }
}
