/**
 * DHT discovery for a client node that runs no DHT: a second node with one
 * is started on first need only, joins the bootstraps, searches, and records
 * the providers' addresses where the client node can dial them.
 *
 * @module
 */
import type { ComponentLogger, PeerId } from "@libp2p/interface";
import { createRegistryNode, type RegistryNode } from "../p2p/node.ts";
import { type Bootstrap, connectBootstraps } from "../p2p/bootstrap.ts";
import { findProviders } from "../p2p/rendezvous.ts";
import { RENDEZVOUS } from "../protocol/ids.ts";
import type { Logger } from "../log/logger.ts";

/** What {@linkcode lazyDhtDiscovery} needs. */
export interface LazyDhtDiscoveryInit {
  /** The client node that will dial what is found. */
  node: RegistryNode;
  /** Where the search node joins the network. */
  bootstraps: readonly Bootstrap[];
  /** The network passphrase, if any. */
  psk?: string;
  /** Where progress is reported. */
  logger?: Logger;
  /** libp2p's own debug logging. */
  libp2pLogger?: ComponentLogger;
}

/** Finds registry-services through the DHT; stop it with the client. */
export interface LazyDhtDiscovery {
  /** Registry-service peers found in the DHT, dialable from the client node. */
  discover(signal?: AbortSignal): AsyncGenerator<PeerId>;
  /** Stops the search node, if one was started. */
  stop(): Promise<void>;
}

/**
 * Discovery through a DHT node started on first use.
 *
 * @example
 * ```ts ignore
 * const discovery = lazyDhtDiscovery({ node, bootstraps, psk });
 * for await (const peer of discovery.discover()) console.log(peer.toString());
 * await discovery.stop();
 * ```
 */
export function lazyDhtDiscovery(init: LazyDhtDiscoveryInit): LazyDhtDiscovery {
  let searcher: Promise<RegistryNode> | undefined;
  const start = async (signal?: AbortSignal) => {
    const node = await createRegistryNode({ psk: init.psk, libp2pLogger: init.libp2pLogger });
    try {
      await connectBootstraps(node, init.bootstraps, {
        retry: { attempts: 1 },
        privateNetwork: init.psk !== undefined,
        logger: init.logger,
        signal,
      });
      return node;
    } catch (err) {
      await node.stop();
      throw err;
    }
  };
  return {
    async *discover(signal) {
      searcher ??= start(signal);
      let node;
      try {
        node = await searcher;
      } catch (err) {
        searcher = undefined; // try again next time
        throw err;
      }
      yield* findProviders(node, RENDEZVOUS, { signal, peerStore: init.node.peerStore });
    },
    async stop() {
      const node = await searcher?.catch(() => undefined);
      searcher = undefined;
      await node?.stop();
    },
  };
}
