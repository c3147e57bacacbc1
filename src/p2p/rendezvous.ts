/**
 * Rendezvous over the DHT: the registry-service advertises a well-known
 * string, and clients find the peers that do.
 *
 * @module
 */
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import type { PeerId, PeerStore } from "@libp2p/interface";
import type { RegistryNode } from "./node.ts";
import type { Logger } from "../log/logger.ts";

const RAW_CODEC = 0x55;

/**
 * The DHT key for a rendezvous string: CID v1, codec raw, sha2-256 of its UTF-8 bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rendezvousCid } from "./rendezvous.ts";
 * const cid = await rendezvousCid("registry-service");
 * assert.ok(cid.version === 1 && cid.code === 0x55);
 * ```
 */
export async function rendezvousCid(rendezvous: string): Promise<CID> {
  return CID.createV1(RAW_CODEC, await sha256.digest(new TextEncoder().encode(rendezvous)));
}

/** Options for {@linkcode startAdvertising}. */
export interface AdvertiseOptions {
  /** How often to provide again (provider records expire; default 5 minutes). */
  intervalMs?: number;
  /** Where failures are reported. */
  logger: Logger;
}

/** Handle returned by {@linkcode startAdvertising}. */
export interface Advertiser {
  /** Provides now (e.g. after a bootstrap reconnects). */
  advertiseNow(): Promise<void>;
  /** Stops the periodic advertising. */
  stop(): void;
}

/**
 * Provides the rendezvous CID now and then periodically.
 *
 * @example
 * ```ts ignore
 * const advertiser = await startAdvertising(node, "registry-service", { logger });
 * advertiser.stop();
 * ```
 */
export async function startAdvertising(
  node: RegistryNode,
  rendezvous: string,
  options: AdvertiseOptions,
): Promise<Advertiser> {
  const cid = await rendezvousCid(rendezvous);
  const controller = new AbortController();
  let running: Promise<void> | undefined;
  const advertiseNow = () => {
    running ??= node.contentRouting.provide(cid, { signal: controller.signal })
      .catch((err: Error) => {
        if (!controller.signal.aborted) {
          options.logger.warn(`advertising "${rendezvous}" failed: ${err.message}`);
        }
      })
      .finally(() => (running = undefined));
    return running;
  };
  void advertiseNow();
  const timer = setInterval(() => void advertiseNow(), options.intervalMs ?? 5 * 60_000);
  return {
    advertiseNow,
    stop() {
      clearInterval(timer);
      controller.abort();
    },
  };
}

/** Options for {@linkcode findProviders}. */
export interface FindProvidersOptions {
  /** Stops the search. */
  signal?: AbortSignal;
  /** Where the providers' addresses are recorded; the searching node's peer store by default. */
  peerStore?: PeerStore;
}

/**
 * Peers that provide the rendezvous string in the DHT, skipping ourselves.
 *
 * @example
 * ```ts ignore
 * for await (const peer of findProviders(node, "registry-service")) console.log(peer);
 * ```
 */
export async function* findProviders(
  node: RegistryNode,
  rendezvous: string,
  options: FindProvidersOptions = {},
): AsyncGenerator<PeerId> {
  const cid = await rendezvousCid(rendezvous);
  for await (const provider of node.contentRouting.findProviders(cid, { signal: options.signal })) {
    if (provider.id.equals(node.peerId)) continue;
    if (provider.multiaddrs.length > 0) {
      await (options.peerStore ?? node.peerStore)
        .merge(provider.id, { multiaddrs: provider.multiaddrs })
        .catch(() => {});
    }
    yield provider.id;
  }
}
