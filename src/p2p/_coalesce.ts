/**
 * Fewer, larger writes under the stream muxer. yamux sends every frame on
 * its own (a request costs the service five: stream acknowledgement, two
 * negotiation echoes, the answer, the close), and each write is encrypted by
 * noise, then by pnet, then handed to the socket. Frames sent during one turn
 * of the event loop are joined and written once, just after the turn's I/O.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import type { MessageStream, StreamMuxer, StreamMuxerFactory } from "@libp2p/interface";
import { Uint8ArrayList } from "uint8arraylist";
import { wrapMuxerFactory } from "./_muxer_wrap.ts";

/** Beyond this many buffered bytes frames are written at once, so backpressure still applies. */
const MAX_BUFFERED = 64 * 1024;

/**
 * Wraps a stream muxer factory (`yamux()`) so that each muxer's connection
 * coalesces the frames written in one turn of the event loop.
 *
 * @example
 * ```ts ignore
 * const node = await createLibp2p({ streamMuxers: [coalescingMuxer(yamux())], ... });
 * ```
 */
export function coalescingMuxer<M extends StreamMuxer>(
  inner: () => StreamMuxerFactory<M>,
): () => StreamMuxerFactory<M> {
  return wrapMuxerFactory(inner, (connection, create) => {
    coalesceWrites(connection);
    return create(connection);
  });
}

function coalesceWrites(connection: MessageStream): void {
  const send = connection.send.bind(connection);
  const close = connection.close.bind(connection);
  let pending = new Uint8ArrayList();
  let scheduled = false;
  const flush = (): boolean => {
    scheduled = false;
    if (pending.byteLength === 0) return !connection.writableNeedsDrain;
    // Many small frames go down as one buffer: noise's node-crypto path runs its
    // cipher once per piece of a list, at a fixed cost far above copying them.
    // Large pieces (a big answer) are few, and are not worth copying.
    const data = pending.byteLength < MAX_BUFFERED ? pending.subarray() : pending;
    pending = new Uint8ArrayList();
    try {
      return send(data);
    } catch {
      // The connection closed meanwhile; the muxer learns that from its events.
      return false;
    }
  };
  connection.send = (data: Uint8Array | Uint8ArrayList): boolean => {
    pending.append(data);
    if (pending.byteLength >= MAX_BUFFERED) return flush();
    if (!scheduled) {
      scheduled = true;
      setImmediate(() => {
        if (scheduled) flush();
      });
    }
    return !connection.writableNeedsDrain;
  };
  // A close (a GoAway frame, then the connection) must not overtake frames still buffered.
  connection.close = (options) => {
    flush();
    return close(options);
  };
}
