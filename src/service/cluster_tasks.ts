/**
 * Operator tasks on the etcd cluster that the registry-service runs instead
 * of serving: graceful leave (`-leave-cluster`) and backups (`-snapshot`).
 *
 * @module
 */
import { etcdClientUrl, etcdMemberName, isHealthy, startEtcd } from "../store/etcd_process.ts";
import {
  createEtcdClient,
  isNotEnoughStartedMembers,
  listMembers,
  ownMemberId,
  removeMember,
  saveSnapshot,
} from "../store/etcd_cluster.ts";
import { issueMemberCertificate, networkCa } from "../store/tls.ts";
import type { Logger } from "../log/logger.ts";
import { retry } from "../_retry.ts";
import { holdsMember } from "./cluster.ts";
import {
  defaultDataDir,
  etcdUsesTls,
  memberTls,
  type RegistryServiceConfig,
} from "./registry_service.ts";

/** Components for the cluster tasks. */
export interface ClusterTaskComponents {
  /** Where progress and etcd's output go. */
  logger: Logger;
  /** Where the result is printed. */
  print: (line: string) => void;
}

/** Thrown when a cluster task cannot be done; the message says what to do. */
export class ClusterTaskError extends Error {
  /**
   * @param message What failed and what to do.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ClusterTaskError";
  }
}

/**
 * Saves a snapshot of the cluster's data, taken from this instance's running
 * etcd member (`-etcd-ip`, `-etcd-client-port`), to `path`. Restore it with
 * `etcdctl snapshot restore` (docs/CLUSTER.md). With a PSK it connects over
 * TLS with a client certificate it issues itself from the network's CA, so
 * it needs no files. Returns the size in bytes.
 *
 * @example
 * ```ts ignore
 * await snapshotCluster(config, "/backups/registry.db", { logger, print: console.log });
 * ```
 */
export async function snapshotCluster(
  config: Pick<RegistryServiceConfig, "etcd" | "psk" | "insecureEtcd">,
  path: string,
  components: ClusterTaskComponents,
): Promise<number> {
  const tls = etcdUsesTls(config)
    ? await issueMemberCertificate(await networkCa(config.psk!), {
      name: "registry-service -snapshot",
      ips: [config.etcd.ip],
    })
    : undefined;
  const clientUrl = etcdClientUrl({ ...config.etcd, tls });
  if (!await isHealthy(clientUrl, tls)) {
    throw new ClusterTaskError(
      `no healthy etcd member at ${clientUrl}: run -snapshot where a registry-service is ` +
        "running, with its -etcd-ip, -etcd-client-port and PSK (-psk-file)",
    );
  }
  const client = createEtcdClient(clientUrl, tls);
  try {
    const size = await saveSnapshot(client, path);
    components.print(`saved a snapshot of the registry's etcd data (${size} bytes) to ${path}`);
    return size;
  } catch (err) {
    throw new ClusterTaskError(
      `snapshot from ${clientUrl} to ${path} failed: ${(err as Error).message}`,
      { cause: err },
    );
  } finally {
    client.close();
  }
}

/**
 * Gracefully removes this instance's etcd member from the cluster: starts
 * the member from its data directory (the instance must be stopped), has
 * another member remove it, stops it and deletes its now useless member
 * data, so that starting the instance again joins as a new member. Refuses
 * to remove the cluster's only member.
 *
 * @example
 * ```ts ignore
 * await leaveCluster(config, { logger, print: console.log });
 * ```
 */
export async function leaveCluster(
  config: Pick<RegistryServiceConfig, "etcd" | "psk" | "insecureEtcd">,
  components: ClusterTaskComponents,
): Promise<void> {
  const { logger } = components;
  const dataDir = config.etcd.dataDir ?? defaultDataDir(config);
  const name = etcdMemberName(config.etcd);
  if (!await holdsMember(dataDir)) {
    throw new ClusterTaskError(
      `${dataDir} holds no etcd member, so there is nothing to leave; give the instance's ` +
        "-etcd-data-dir (and -etcd-ip, -etcd-client-port, -etcd-peer-port)",
    );
  }
  const tls = await memberTls(config, dataDir);
  const member = { ...config.etcd, tls };
  if (await isHealthy(etcdClientUrl(member), tls)) {
    throw new ClusterTaskError(
      `an etcd member already serves ${etcdClientUrl(member)}: stop this instance's ` +
        "registry-service first, then run -leave-cluster",
    );
  }
  logger.info(`starting etcd member ${name} from ${dataDir} to remove it from the cluster`);
  let etcd;
  try {
    etcd = await startEtcd({ ...member, dataDir, clusterState: "existing", logger });
  } catch (err) {
    throw new ClusterTaskError(
      `etcd member ${name} did not start from ${dataDir}, so it cannot be removed: ` +
        `${(err as Error).message}\nRemoving a member needs a quorum of the cluster's members ` +
        "running: start the other instances first",
      { cause: err },
    );
  }
  let removedId: string;
  let remaining: number;
  try {
    const own = createEtcdClient(etcd.clientUrl, tls);
    let others;
    try {
      removedId = await ownMemberId(own);
      others = (await listMembers(own)).filter((m) => m.id !== removedId);
    } finally {
      own.close();
    }
    const otherUrls = others.flatMap((m) => m.clientUrls);
    if (others.length === 0 || otherUrls.length === 0) {
      throw new ClusterTaskError(
        `${name} is the cluster's only started member: removing it would discard the ` +
          "registry's data; stop the instance instead (or take a -snapshot first)",
      );
    }
    // Removing through another member: the removed one shuts itself down.
    const rest = createEtcdClient(otherUrls, tls);
    try {
      // etcd refuses a removal until the members staying have been connected for a few
      // seconds (it protects quorum), and this member has only just started: wait for that.
      await retry(() => removeMember(rest, removedId), {
        initialDelayMs: 500,
        maxDelayMs: 4_000,
        deadline: Date.now() + 30_000,
        isRetriable: isNotEnoughStartedMembers,
        onRetry: (err) =>
          logger.info(`etcd cannot remove ${name} yet (${(err as Error).message}); retrying`),
      }).catch((err) => {
        throw new ClusterTaskError(
          `etcd refused to remove member ${name}: ${(err as Error).message}`,
          { cause: err },
        );
      });
    } finally {
      rest.close();
    }
    remaining = others.length;
  } finally {
    await etcd.stop();
  }
  await Deno.remove(`${dataDir}/member`, { recursive: true });
  components.print(
    `removed etcd member ${name} (id ${BigInt(removedId).toString(16)}) from the cluster; ` +
      `${remaining} member(s) remain; deleted ${dataDir}/member`,
  );
}

/**
 * The `etcdctl` flags for this instance's etcd member: its endpoint and,
 * with TLS, the member's CA, certificate and key files (issued into the
 * data directory when missing). Prints them on one line and returns them.
 *
 * @example
 * ```ts ignore
 * await etcdctlFlags(config, { logger, print: console.log });
 * // --endpoints=https://10.0.0.1:2379 --cacert=/var/lib/registry/etcd/tls/ca.crt ...
 * ```
 */
export async function etcdctlFlags(
  config: Pick<RegistryServiceConfig, "etcd" | "psk" | "insecureEtcd">,
  components: ClusterTaskComponents,
): Promise<string[]> {
  const dataDir = config.etcd.dataDir ?? defaultDataDir(config);
  const tls = await memberTls(config, dataDir);
  const flags = [`--endpoints=${etcdClientUrl({ ...config.etcd, tls })}`];
  if (tls) {
    flags.push(
      `--cacert=${await Deno.realPath(tls.caFile)}`,
      `--cert=${await Deno.realPath(tls.certFile)}`,
      `--key=${await Deno.realPath(tls.keyFile)}`,
    );
  }
  components.print(flags.join(" "));
  return flags;
}
