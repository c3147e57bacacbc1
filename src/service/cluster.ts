/**
 * Forming one etcd cluster out of registry-service instances (SPEC §4):
 * a joining instance asks a running one over `/memberadd/0.1`.
 *
 * @module
 */
import type { Etcd3 } from "etcd3";
import type { RegistryNode } from "../p2p/node.ts";
import type { Bootstrap } from "../p2p/bootstrap.ts";
import type { MemberAddRequest } from "../protocol/messages.ts";
import { RegistryClient } from "../client/registry_client.ts";
import {
  type EtcdMemberAddress,
  etcdMemberName,
  etcdPeerUrl,
  type EtcdProcess,
  startEtcd,
} from "../store/etcd_process.ts";
import type { Logger } from "../log/logger.ts";

/** Components for {@linkcode joinCluster}. */
export interface JoinComponents {
  /** A started node connected to the network. */
  node: RegistryNode;
  /** Bootstraps, asked first. */
  bootstraps: readonly Bootstrap[];
  /** Where progress is reported. */
  logger: Logger;
}

/** This member's settings for {@linkcode joinCluster}. */
export interface JoinOptions extends EtcdMemberAddress {
  /** Data directory. */
  dataDir: string;
  /** The etcd binary. */
  binary?: string;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * Starts this instance's etcd member as part of the existing cluster: asks a
 * running registry-service to add it, then starts etcd with the answer and
 * `--initial-cluster-state existing`. A data directory that already holds a
 * member rejoins without asking.
 *
 * @example
 * ```ts ignore
 * const etcd = await joinCluster({ node, bootstraps, logger }, {
 *   ip: "127.0.0.1", clientPort: 2379, peerPort: 2380, dataDir: "member.etcd",
 * });
 * ```
 */
export async function joinCluster(
  components: JoinComponents,
  options: JoinOptions,
): Promise<EtcdProcess> {
  const { logger } = components;
  if (await exists(`${options.dataDir}/member`)) {
    logger.info(`${options.dataDir} already holds an etcd member; rejoining without MemberAdd`);
    return await startEtcd({ ...options, clusterState: "existing", logger });
  }
  const request = { MemberName: etcdMemberName(options), MemberPeerUrl: etcdPeerUrl(options) };
  logger.info(`asking a registry-service to add etcd member ${request.MemberName}`);
  const client = new RegistryClient({
    node: components.node,
    bootstraps: components.bootstraps,
    logger,
  });
  const initialCluster = await client.memberAdd(request);
  logger.info(`joining etcd cluster ${initialCluster}`);
  return await startEtcd({ ...options, initialCluster, clusterState: "existing", logger });
}

/** Components for {@linkcode memberAddHandler}. */
export interface MemberAddComponents {
  /** Client of this instance's etcd. */
  client: Etcd3;
  /** Where each addition is reported. */
  logger: Logger;
}

/**
 * The `/memberadd/0.1` action: etcd MemberAdd for the peer URL, answering
 * the `--initial-cluster` string with every member by name (the new one
 * under its requested name).
 *
 * @example
 * ```ts ignore
 * const add = memberAddHandler({ client, logger });
 * const initialCluster = await add({ MemberName: "n", MemberPeerUrl: "http://127.0.0.1:2380" });
 * ```
 */
export function memberAddHandler(
  components: MemberAddComponents,
): (request: MemberAddRequest) => Promise<string> {
  return async (request) => {
    const res = await components.client.cluster.memberAdd({ peerURLs: [request.MemberPeerUrl] });
    components.logger.info(`added etcd member ${request.MemberName} at ${request.MemberPeerUrl}`);
    return res.members.map((member) => {
      const name = member.ID === res.member.ID || !member.name ? request.MemberName : member.name;
      return member.peerURLs.map((url) => `${name}=${url}`).join(",");
    }).join(",");
  };
}
