/**
 * Tells a connection the remote refused from one whose pre-shared key
 * differs.
 *
 * pnet's handshake only swaps nonces, so it succeeds whatever the keys; a
 * wrong key shows up later, as a failed encryption handshake. A connection
 * that ends, or times out, before the remote's nonce arrived was refused
 * instead: the remote turned it away (too many handshakes in progress from
 * this host, say) or does not run a private network (then it waits for a
 * libp2p handshake and either closes or stays silent, at random).
 *
 * @module
 */
import type { ConnectionProtector } from "@libp2p/interface";

/** Thrown when a connection ends, or times out, before the remote's half of the PSK handshake. */
export class PskHandshakeRefusedError extends Error {
  /**
   * @param options Standard error options (`cause`: what pnet threw).
   */
  constructor(options?: ErrorOptions) {
    super(
      "the remote closed the connection, or did not answer, before the pre-shared key " +
        "handshake; it refused the connection: too busy, or it uses no pre-shared key",
      options,
    );
    this.name = "PskHandshakeRefusedError";
  }
}

/**
 * Wraps pnet's protector so that a connection the remote ends, or lets time
 * out, before its nonce fails with {@linkcode PskHandshakeRefusedError}: a
 * remote without a pre-shared key does either, and both must read the same.
 *
 * @example
 * ```ts ignore
 * import { preSharedKey } from "@libp2p/pnet";
 * const protector = namingRefusedHandshakes(preSharedKey({ psk: swarmKey(key) }));
 * ```
 */
export function namingRefusedHandshakes(
  factory: () => ConnectionProtector,
): () => ConnectionProtector {
  return () => {
    const protector = factory();
    return {
      async protect(connection, options) {
        try {
          return await protector.protect(connection, options);
        } catch (cause) {
          throw new PskHandshakeRefusedError({ cause });
        }
      },
    };
  };
}
