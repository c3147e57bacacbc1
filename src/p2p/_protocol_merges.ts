/**
 * Spares the peer store the write js-libp2p makes for every inbound stream.
 *
 * @module
 */
import type { Libp2p, Peer, PeerStore } from "@libp2p/interface";

/** How long a peer record is trusted to still list the protocols it listed (ms). */
const DEFAULT_TTL_MS = 60_000;
/** Past this many remembered peers, expired ones are dropped. */
const SWEEP_AT = 1_024;

/**
 * js-libp2p merges the protocol of every inbound stream into the remote
 * peer's record: a locked read, decode, merge, encode and write. On a
 * registry-service that was the largest cost of a request, and it serialised
 * a peer's concurrent streams on the record's lock. A merge that adds only
 * protocols the record already lists changes nothing but the record's
 * `updated` time (it expires after hours), so such a merge is answered from
 * the last record seen for up to `ttlMs`.
 *
 * The remembered record is dropped when the peer store announces a change
 * to it (`peer:update`), when the peer is deleted or disconnects; this
 * node's own record is never remembered.
 *
 * @example
 * ```ts ignore
 * const node = await createLibp2p({ ... });
 * skipRepeatedProtocolMerges(node);
 * ```
 */
export function skipRepeatedProtocolMerges(node: Libp2p, ttlMs = DEFAULT_TTL_MS): void {
  const store: PeerStore = node.peerStore;
  const merge = store.merge.bind(store);
  const remove = store.delete.bind(store);
  const self = node.peerId.toString();
  const known = new Map<string, { peer: Peer; until: number }>();

  const remember = (key: string, peer: Peer) => {
    if (known.size >= SWEEP_AT) {
      const now = Date.now();
      for (const [k, entry] of known) if (entry.until <= now) known.delete(k);
    }
    known.set(key, { peer, until: Date.now() + ttlMs });
  };

  // Any change to a record, or the peer leaving, sends its next merge to the store.
  node.addEventListener("peer:update", (evt) => known.delete(evt.detail.peer.id.toString()));
  node.addEventListener("peer:disconnect", (evt) => known.delete(evt.detail.toString()));

  store.merge = async (id, data, options) => {
    const protocols = data.protocols;
    const onlyProtocols = protocols !== undefined && Object.keys(data).length === 1;
    const key = id.toString();
    if (!onlyProtocols || key === self) return await merge(id, data, options);
    const entry = known.get(key);
    if (
      entry && entry.until > Date.now() && protocols.every((p) => entry.peer.protocols.includes(p))
    ) {
      return entry.peer;
    }
    const peer = await merge(id, data, options);
    remember(key, peer);
    return peer;
  };
  store.delete = async (id, options) => {
    known.delete(id.toString());
    await remove(id, options);
  };
}
