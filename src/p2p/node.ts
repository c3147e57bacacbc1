/**
 * The libp2p node every part of the registry runs: TCP, noise, yamux,
 * identify, ping and a Kademlia DHT in server mode, optionally on a private
 * network protected by a pre-shared key.
 *
 * @module
 */
import { createLibp2p, type Libp2p as Libp2pNode, type ServiceFactoryMap } from "libp2p";
import { tcp } from "@libp2p/tcp";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { preSharedKey } from "@libp2p/pnet";
import { identify } from "@libp2p/identify";
import { ping } from "@libp2p/ping";
import type { Logger as Libp2pLogger } from "@libp2p/interface";
import type { ComponentLogger, Identify, KadDHT, Ping, PrivateKey } from "./libp2p_types.ts";
import { pskFromPassphrase, swarmKey } from "./psk.ts";
import { releasingCipherSlots } from "./_pnet_cipher.ts";
import { namingRefusedHandshakes } from "./_pnet_early_close.ts";
import { coalescingMuxer } from "./_coalesce.ts";
import { fewerFrames } from "./_fewer_frames.ts";
import { skipRepeatedProtocolMerges } from "./_protocol_merges.ts";
import {
  MAX_PENDING_HANDSHAKES_PER_HOST,
  pendingHandshakesPerHost,
} from "./_pending_handshakes.ts";

/** The DHT protocol of the original (go-libp2p's default). */
export const DHT_PROTOCOL = "/ipfs/kad/1.0.0";

/** Services every registry node runs. */
export interface RegistryNodeServices {
  /** Kademlia DHT, server mode; absent on a `clientOnly` node. */
  dht?: KadDHT;
  /** Identify, which tells peers our protocols; absent on a `clientOnly` node. */
  identify?: Identify;
  /** Ping; absent on a `clientOnly` node. */
  ping?: Ping;
  /** Index signature required by libp2p's ServiceMap. */
  [name: string]: unknown;
}

// deno doc follows no generic instantiation of an upstream type into the
// package's API, so the instantiation has a name of its own.
type Libp2pWithRegistryServices = Libp2pNode<RegistryNodeServices>;

/**
 * A started js-libp2p node with the registry's services:
 * `Libp2p<RegistryNodeServices>` (see {@linkcode Libp2p}).
 */
export type RegistryNode = Libp2pWithRegistryServices;

/** Options for {@linkcode createRegistryNode}. */
export interface RegistryNodeOptions {
  /** Identity; a fresh Ed25519 key when omitted. */
  privateKey?: PrivateKey;
  /**
   * Network passphrase (turned into the 32-byte key by `pskFromPassphrase`;
   * `""` gives a random key, which joins nobody); omitted means a public network.
   */
  psk?: string;
  /** Multiaddrs to listen on; none for a client-only node. */
  listen?: string[];
  /**
   * A node that only asks (default `false`): no DHT, identify or ping, so it
   * starts sooner. Peers it talks to are then negotiated with in full on the
   * first request, and it finds registry-services only among the peers it
   * connects to.
   */
  clientOnly?: boolean;
  /**
   * libp2p's own debug logging (`defaultLogger()` of `@libp2p/logger` honours
   * `DEBUG=libp2p:*`). Silent when omitted: libp2p creates loggers for every
   * stream, and each of its default loggers checks whether stderr is a terminal.
   */
  libp2pLogger?: ComponentLogger;
}

/**
 * Creates and starts a registry node.
 *
 * Inbound limits are raised above js-libp2p's defaults because the PSK
 * already decides who may connect, and a deploy script or a NAT can open many
 * connections from one host at once; but one host may have at most 128
 * handshakes in progress, so that connections that never finish theirs
 * cannot keep other hosts out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createRegistryNode } from "./node.ts";
 * const node = await createRegistryNode({ listen: ["/ip4/127.0.0.1/tcp/0"] });
 * assert.ok(node.getMultiaddrs().length > 0);
 * await node.stop();
 * ```
 */
export async function createRegistryNode(options: RegistryNodeOptions = {}): Promise<RegistryNode> {
  const psk = options.psk === undefined ? undefined : pskFromPassphrase(options.psk);
  letBroadcastChannelsUnref();
  const node = await createLibp2p<RegistryNodeServices>({
    privateKey: options.privateKey,
    logger: options.libp2pLogger ?? silentComponentLogger(),
    addresses: { listen: options.listen ?? [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [coalescingMuxer(fewerFrames(yamux()))],
    connectionProtector: psk
      ? namingRefusedHandshakes(releasingCipherSlots(preSharedKey({ psk: swarmKey(psk) })))
      : undefined,
    connectionManager: {
      inboundConnectionThreshold: 1_000,
      maxIncomingPendingConnections: 1_024,
      maxConnections: 1_000,
    },
    connectionGater: pendingHandshakesPerHost(MAX_PENDING_HANDSHAKES_PER_HOST),
    // The cast: libp2p's factory map cannot express optional services.
    services: (options.clientOnly
      ? {}
      : { identify: identify(), ping: ping(), dht: await dhtService() }) as ServiceFactoryMap<
        RegistryNodeServices
      >,
  });
  skipRepeatedProtocolMerges(node);
  return node;
}

async function dhtService() {
  const { kadDHT, passthroughMapper } = await import("@libp2p/kad-dht");
  return kadDHT({
    protocol: DHT_PROTOCOL,
    clientMode: false,
    // Loopback and LAN addresses are the norm on a private network.
    peerInfoMapper: passthroughMapper,
    allowQueryWithZeroPeers: true,
  });
}

function silentComponentLogger(): ComponentLogger {
  const log: Libp2pLogger = Object.assign(() => {}, {
    error: () => {},
    trace: () => {},
    enabled: false,
    newScope: () => log,
  });
  return { forComponent: () => log };
}

/**
 * libp2p's peer store locks with mortice, which opens a BroadcastChannel for
 * worker threads and calls `unref?.()` on it so it does not hold the process
 * open. Deno's BroadcastChannel has no `unref`, so a program that used a node
 * never exited after `stop()`. Without worker threads the channel carries
 * nothing, so unref closes it.
 */
function letBroadcastChannelsUnref(): void {
  const proto = globalThis.BroadcastChannel?.prototype as
    | (BroadcastChannel & { unref?: () => void })
    | undefined;
  if (proto && typeof proto.unref !== "function") {
    Object.defineProperty(proto, "unref", {
      value(this: BroadcastChannel) {
        this.close();
      },
      configurable: true,
      writable: true,
    });
  }
}
