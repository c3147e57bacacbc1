/**
 * The libp2p types that appear in this package's API, re-exported so that
 * callers need no libp2p import to name them. Each is the upstream type
 * itself (an alias), documented upstream.
 *
 * @module
 */
import type {
  ComponentLogger as Libp2pComponentLogger,
  Libp2p as Libp2pNode,
  PeerId as Libp2pPeerId,
  PrivateKey as Libp2pPrivateKey,
} from "@libp2p/interface";
import type { Multiaddr as Libp2pMultiaddr } from "@multiformats/multiaddr";
import type { KadDHT as Libp2pKadDHT } from "@libp2p/kad-dht";
import type { Identify as Libp2pIdentify } from "@libp2p/identify";
import type { Ping as Libp2pPing } from "@libp2p/ping";

/** A libp2p node (`Libp2p` of `@libp2p/interface`); see `RegistryNode`. */
export type Libp2p = Libp2pNode;
/** A peer's identity (`PeerId` of `@libp2p/interface`). */
export type PeerId = Libp2pPeerId;
/** A node's private key (`PrivateKey` of `@libp2p/interface`), e.g. from `loadOrCreateIdentity`. */
export type PrivateKey = Libp2pPrivateKey;
/** libp2p's logger factory (`ComponentLogger` of `@libp2p/interface`). */
export type ComponentLogger = Libp2pComponentLogger;
/** A network address (`Multiaddr` of `@multiformats/multiaddr`). */
export type Multiaddr = Libp2pMultiaddr;
/** The Kademlia DHT service (`KadDHT` of `@libp2p/kad-dht`). */
export type KadDHT = Libp2pKadDHT;
/** The identify service (`Identify` of `@libp2p/identify`). */
export type Identify = Libp2pIdentify;
/** The ping service (`Ping` of `@libp2p/ping`). */
export type Ping = Libp2pPing;
