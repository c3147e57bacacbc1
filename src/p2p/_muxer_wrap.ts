/**
 * Wrapping a stream muxer factory, so that the changes made under and above
 * yamux (`_coalesce.ts`, `_fewer_frames.ts`) compose.
 *
 * @module
 */
import type { MessageStream, StreamMuxer, StreamMuxerFactory } from "@libp2p/interface";

/**
 * A muxer factory like `inner()`, whose muxers `adapt` makes for each
 * connection (`create` makes `inner`'s muxer over it).
 *
 * @example
 * ```ts ignore
 * const traced = wrapMuxerFactory(yamux(), (connection, create) => create(connection));
 * ```
 */
export function wrapMuxerFactory<M extends StreamMuxer>(
  inner: () => StreamMuxerFactory<M>,
  adapt: (connection: MessageStream, create: (connection: MessageStream) => M) => M,
): () => StreamMuxerFactory<M> {
  return () => {
    const factory = inner();
    return {
      protocol: factory.protocol,
      createStreamMuxer: (connection) =>
        adapt(connection, (over) => factory.createStreamMuxer(over)),
    };
  };
}
