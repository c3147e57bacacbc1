/**
 * Forming one etcd cluster out of registry-service instances (SPEC §4):
 * a joining instance asks a running one over `/memberadd/0.1`, which adds it
 * with etcd MemberAdd and answers the `--initial-cluster` string.
 *
 * @module
 */
import type { Etcd3 } from "etcd3";
import type { RegistryNode } from "../p2p/node.ts";
import type { Bootstrap } from "../p2p/bootstrap.ts";
import type { MemberAddRequest } from "../protocol/messages.ts";
import { RegistryClient } from "../client/registry_client.ts";
import { RegistryUnreachableError, RequestRefusedError } from "../client/errors.ts";
import {
  type EtcdMemberAddress,
  etcdMemberName,
  etcdPeerUrl,
  type EtcdProcess,
  startEtcd,
} from "../store/etcd_process.ts";
import {
  initialClusterString,
  isNotEnoughStartedMembers,
  listMembers,
  memberWithPeerUrl,
} from "../store/etcd_cluster.ts";
import type { Logger } from "../log/logger.ts";
import { abortableSleep } from "../_sleep.ts";

/** Thrown when this instance cannot join the cluster. */
export class JoinClusterError extends Error {
  /**
   * @param message What failed and what to do.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "JoinClusterError";
  }
}

/** Thrown by the `/memberadd/0.1` action when a member cannot be added. */
export class MemberAddError extends Error {
  /**
   * @param message What failed and what to do.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MemberAddError";
  }
}

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
  /** How long to keep asking for membership before giving up (ms, default 120 s). */
  timeoutMs?: number;
  /** First pause after a refused request (ms, default 1 s), doubled up to 8 s. */
  retryDelayMs?: number;
}

/**
 * Whether `dataDir` already holds an etcd member (a restart, not a new join).
 *
 * @example
 * ```ts ignore
 * if (await holdsMember("127.0.0.1-2379-2380.etcd")) console.log("rejoining");
 * ```
 */
export async function holdsMember(dataDir: string): Promise<boolean> {
  try {
    return (await Deno.stat(`${dataDir}/member`)).isDirectory;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * Starts this instance's etcd member as part of the existing cluster: asks a
 * running registry-service to add it, then starts etcd with the answer and
 * `--initial-cluster-state existing`. A data directory that already holds a
 * member rejoins without asking (so a restart never adds a second member).
 *
 * A refused request (another member still starting, see the answering
 * instance's log) is retried with backoff until `timeoutMs`; finding no
 * registry-service at all fails with {@linkcode JoinClusterError} without
 * starting etcd.
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
  if (await holdsMember(options.dataDir)) {
    logger.info(`${options.dataDir} already holds an etcd member; rejoining without MemberAdd`);
    return await startEtcd({ ...options, clusterState: "existing", logger });
  }
  const request = { MemberName: etcdMemberName(options), MemberPeerUrl: etcdPeerUrl(options) };
  const timeoutMs = options.timeoutMs ?? 120_000;
  const deadline = AbortSignal.timeout(timeoutMs);
  const client = new RegistryClient({
    node: components.node,
    bootstraps: components.bootstraps,
    logger,
  });
  let delay = options.retryDelayMs ?? 1_000;
  let initialCluster: string;
  while (true) {
    logger.info(`asking a registry-service to add etcd member ${request.MemberName}`);
    try {
      initialCluster = await client.memberAdd(request, deadline);
      break;
    } catch (err) {
      if (deadline.aborted) {
        throw new JoinClusterError(
          `could not join the etcd cluster within ${timeoutMs / 1000} s: ${
            (err as Error).message
          }. Check -bootstrap and -psk, or start the first instance with -new-etcd-cluster`,
          { cause: err },
        );
      }
      if (err instanceof RegistryUnreachableError) {
        throw new JoinClusterError(
          `no registry-service answered /memberadd/0.1 through the bootstraps (${err.message}); ` +
            "check -bootstrap and -psk, or start the first instance with -new-etcd-cluster",
          { cause: err },
        );
      }
      if (!(err instanceof RequestRefusedError)) throw err;
      logger.warn(
        `a registry-service refused to add etcd member ${request.MemberName} (its log says why; ` +
          `usually another member is still starting); retrying in ${delay} ms`,
      );
      try {
        await abortableSleep(delay, deadline);
      } catch {
        throw new JoinClusterError(
          `could not join the etcd cluster within ${timeoutMs / 1000} s: every ` +
            "/memberadd/0.1 request was refused; see the registry-service logs",
          { cause: err },
        );
      }
      delay = Math.min(delay * 2, 8_000);
    }
  }
  logger.info(`joining etcd cluster ${initialCluster}`);
  try {
    return await startEtcd({ ...options, initialCluster, clusterState: "existing", logger });
  } catch (err) {
    throw new JoinClusterError(
      `etcd member ${request.MemberName} was added to the cluster but did not start: ` +
        `${(err as Error).message}\nStart this instance again with the same -etcd-ip, ports and ` +
        "an empty data directory to finish the join (the added member is reused)",
      { cause: err },
    );
  }
}

/** Components for {@linkcode memberAddHandler}. */
export interface MemberAddComponents {
  /** Client of this instance's etcd, from `createEtcdClient` (not the store's). */
  client: Etcd3;
  /** Where each addition is reported. */
  logger: Logger;
  /**
   * How long to retry while etcd refuses because an earlier added member
   * has not started (ms, default 20 s: under the client's 30 s request limit).
   */
  retryForMs?: number;
  /** First pause between tries (ms, default 250), doubled up to 2 s. */
  retryDelayMs?: number;
}

/**
 * The `/memberadd/0.1` action: etcd MemberAdd for the peer URL, answering
 * the `--initial-cluster` string with every member by name (the new one
 * under its requested name).
 *
 * - While etcd refuses because a member added earlier has not started yet
 *   (two joins racing), it retries with backoff and logs it.
 * - A peer URL that belongs to a member that was added but never started
 *   (the joiner crashed, or lost our answer) is answered again without a
 *   second MemberAdd.
 * - Anything else that fails throws {@linkcode MemberAddError}, which resets
 *   the stream: a failure is never an empty answer.
 *
 * Requests are handled one at a time so that the check for an existing
 * member and the MemberAdd are not interleaved with another request's.
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
  const { client, logger } = components;
  const retryForMs = components.retryForMs ?? 20_000;
  let queue: Promise<unknown> = Promise.resolve();

  const add = async (request: MemberAddRequest): Promise<string> => {
    const name = request.MemberName;
    const peerUrl = request.MemberPeerUrl;
    const deadline = Date.now() + retryForMs;
    let delay = components.retryDelayMs ?? 250;
    while (true) {
      let members;
      try {
        members = await listMembers(client);
      } catch (err) {
        throw new MemberAddError(
          `cannot list etcd members to add ${name}: ${(err as Error).message}`,
          { cause: err },
        );
      }
      const existing = memberWithPeerUrl(members, peerUrl);
      if (existing && !existing.started) {
        logger.info(
          `etcd member ${existing.id} at ${peerUrl} was already added and has not started; ` +
            `answering its initial cluster again for ${name} (no second MemberAdd)`,
        );
        return initialClusterString(members, { name, peerUrl });
      }
      if (existing) {
        throw new MemberAddError(
          `${peerUrl} already belongs to the started etcd member ${existing.name} ` +
            `(id ${existing.id}); an instance whose data directory holds that member rejoins ` +
            "without /memberadd. If its data was lost, remove the member first " +
            `(registry-service -leave-cluster, or etcdctl member remove ${
              BigInt(existing.id).toString(16)
            })`,
        );
      }
      try {
        const res = await client.cluster.memberAdd({ peerURLs: [peerUrl] });
        logger.info(`added etcd member ${name} at ${peerUrl} (id ${res.member.ID})`);
        return initialClusterString(await listMembers(client), { name, peerUrl });
      } catch (err) {
        if (!isNotEnoughStartedMembers(err) || Date.now() + delay > deadline) {
          throw new MemberAddError(
            `etcd MemberAdd of ${name} at ${peerUrl} failed: ${(err as Error).message}`,
            { cause: err },
          );
        }
        logger.warn(
          `etcd refused to add ${name} at ${peerUrl} for now (${(err as Error).message}): a ` +
            `member added earlier has not started yet; retrying in ${delay} ms`,
        );
        await abortableSleep(delay);
        delay = Math.min(delay * 2, 2_000);
      }
    }
  };

  return (request) => {
    const result = queue.then(() => add(request));
    queue = result.catch(() => {});
    return result;
  };
}
