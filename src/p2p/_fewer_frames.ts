/**
 * A request and its answer in as few frames as possible.
 *
 * The listener's negotiation echo goes out with the answer. A registry client
 * sends multistream-select's header, the protocol, its request and its close
 * in one write (`src/client/_lazy_select.ts`), so the service already holds
 * the whole request when it agrees to the protocol. Sent at once, the echo
 * costs a write of its own on each side's cipher and socket and wakes the
 * client for nothing, ahead of the service's store call; held, it leaves in
 * the answer's frame.
 *
 * Only a stream whose remote has closed its writing end when the echo is
 * written is held: a dialer that negotiates in full waits for the echo before
 * it sends its request, and gets it at once.
 *
 * @module
 */
import type { Stream, StreamMuxer, StreamMuxerFactory } from "@libp2p/interface";
import { Uint8ArrayList } from "uint8arraylist";
import { wrapMuxerFactory } from "./_muxer_wrap.ts";

const NEWLINE = 0x0a;
const SLASH = 0x2f;

/**
 * Wraps a stream muxer factory (`yamux()`) so that a request and its answer
 * take fewer frames: inbound streams hold their negotiation echo until their
 * first other write or their close, and every stream defers its window
 * updates to the end of the read that called for them.
 *
 * @example
 * ```ts ignore
 * const node = await createLibp2p({ streamMuxers: [fewerFrames(yamux())], ... });
 * ```
 */
export function fewerFrames<M extends StreamMuxer>(
  inner: () => StreamMuxerFactory<M>,
): () => StreamMuxerFactory<M> {
  return wrapMuxerFactory(inner, (connection, create) => {
    const muxer = create(connection);
    // The muxer calls this for each stream the remote opens, before anyone reads from it.
    const muxed = muxer as unknown as { onRemoteStream?: (stream: Stream) => void };
    const onRemoteStream = muxed.onRemoteStream?.bind(muxer);
    if (onRemoteStream) {
      muxed.onRemoteStream = (stream) => {
        deferWindowUpdates(stream);
        holdEcho(stream);
        onRemoteStream(stream);
      };
    }
    const createStream = muxer.createStream.bind(muxer);
    muxer.createStream = async (options) => {
      const stream = await createStream(options);
      deferWindowUpdates(stream);
      return stream;
    };
    return muxer;
  });
}

/**
 * Whether `bytes` is one length-prefixed multistream-select line naming a
 * protocol or the header (`/…\n`): what a listener echoes. `na` and `ls`
 * answers are not: after them the listener reads again, and must not wait.
 */
function isEchoLine(bytes: Uint8Array): boolean {
  let at = 0;
  let length = 0;
  for (let shift = 0; at < bytes.byteLength && shift < 14; shift += 7) {
    const byte = bytes[at++];
    length |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) break;
  }
  if (length < 2 || at + length !== bytes.byteLength) return false;
  return bytes[at] === SLASH && bytes.indexOf(NEWLINE, at) === bytes.byteLength - 1;
}

function holdEcho(stream: Stream): void {
  const send = stream.send.bind(stream);
  const close = stream.close.bind(stream);
  let held: Uint8ArrayList | undefined;
  let holding = true;
  /** Stops holding; what was held goes first, alone or with `data`. */
  const release = (data?: Uint8Array | Uint8ArrayList): boolean => {
    holding = false;
    const pending = held;
    held = undefined;
    if (pending === undefined) return data === undefined ? true : send(data);
    if (data !== undefined) pending.append(data);
    return send(pending);
  };
  stream.send = (data) => {
    if (!holding) return send(data);
    const bytes = data instanceof Uint8Array ? data : data.subarray();
    // The protocol is set once negotiation ends: anything written after is the answer.
    if (
      stream.protocol === "" && stream.remoteWriteStatus === "closed" &&
      stream.writeStatus === "writable" && isEchoLine(bytes)
    ) {
      (held ??= new Uint8ArrayList()).append(bytes);
      return true;
    }
    return release(data);
  };
  stream.close = (options) => {
    // A stream reset or cut while the echo was held takes nothing more: the echo is dropped
    // (sent, it would throw here, out of a close that callers expect to settle, not throw).
    if (holding && stream.writeStatus === "writable") release();
    holding = false;
    held = undefined;
    return close(options);
  };
}

/**
 * yamux answers every data frame with a window update, a frame of its own
 * (and acknowledges a new stream with the first). Deferred to the end of the
 * read that called for it, one update covers the read's frames, and none is
 * sent when the remote's close came in the same read: a remote that writes
 * no more needs no window, and a new stream's answer carries the
 * acknowledgement in its first frame.
 */
function deferWindowUpdates(stream: Stream): void {
  const yamuxStream = stream as unknown as { sendWindowUpdate?: () => void };
  const sendWindowUpdate = yamuxStream.sendWindowUpdate?.bind(stream);
  if (sendWindowUpdate === undefined) return;
  let scheduled = false;
  yamuxStream.sendWindowUpdate = () => {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      if (stream.remoteWriteStatus !== "closed" && stream.status === "open") sendWindowUpdate();
    });
  };
}
