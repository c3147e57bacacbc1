/**
 * A per-host cap on inbound connections that are still in their handshake.
 *
 * js-libp2p caps such connections only in total, and holds each for up to
 * its 10 s upgrade timeout: one host opening a few hundred TCP connections
 * that never send a byte refused every other peer. With this cap, a host
 * can only fill its own share.
 *
 * @module
 */
import type { ConnectionGater, MultiaddrConnection } from "@libp2p/interface";

/** Inbound handshakes one remote host may have in progress at once. */
export const MAX_PENDING_HANDSHAKES_PER_HOST = 128;

/**
 * A connection gater that refuses an inbound connection while its host
 * already has `maxPerHost` handshakes in progress. A handshake stops
 * counting once its connection is upgraded or closed.
 *
 * @example
 * ```ts ignore
 * createLibp2p({ connectionGater: pendingHandshakesPerHost(128), ... });
 * ```
 */
export function pendingHandshakesPerHost(maxPerHost: number): ConnectionGater {
  const pending = new Map<string, number>();
  const counted = new WeakMap<MultiaddrConnection, () => void>();
  return {
    denyInboundConnection(maConn) {
      const host = maConn.remoteAddr.getComponents()[0]?.value ?? maConn.remoteAddr.toString();
      const count = pending.get(host) ?? 0;
      if (count >= maxPerHost) return true;
      pending.set(host, count + 1);
      const release = () => {
        if (!counted.delete(maConn)) return;
        const left = (pending.get(host) ?? 1) - 1;
        if (left > 0) pending.set(host, left);
        else pending.delete(host);
      };
      counted.set(maConn, release);
      maConn.addEventListener("close", release, { once: true });
      return false;
    },
    denyInboundUpgradedConnection(_peer, maConn) {
      counted.get(maConn)?.();
      return false;
    },
  };
}
