/**
 * The registry-service: its own etcd member, the registry store on it, and
 * a libp2p node answering registry requests on the private network.
 *
 * @module
 */
import { type KeyAlgorithm, type LoadedIdentity, loadOrCreateIdentity } from "../p2p/identity.ts";
import { createRegistryNode, type RegistryNode } from "../p2p/node.ts";
import {
  type Bootstrap,
  connectBootstraps,
  keepBootstrapsConnected,
  parseBootstraps,
} from "../p2p/bootstrap.ts";
import { startAdvertising } from "../p2p/rendezvous.ts";
import { RENDEZVOUS } from "../protocol/ids.ts";
import {
  etcdMemberName,
  type EtcdProcess,
  startEtcd,
  stopLeftoverEtcd,
} from "../store/etcd_process.ts";
import { ensureEtcdTls, type EtcdTls } from "../store/tls.ts";
import { DEFAULT_HISTORY_LIMIT, RegistryStore } from "../store/registry_store.ts";
import { startCompaction } from "../store/compaction.ts";
import type { Logger } from "../log/logger.ts";
import type { ComponentLogger } from "@libp2p/interface";
import { DEFAULT_LIMITS, type HandlerComponents, registerHandlers } from "./handlers.ts";
import { readAdminsFile, WritePolicy, type WritePolicyMode } from "./policy.ts";
import { createRegistryMetrics } from "./metrics.ts";
import { DEFAULT_WATCH_LIMITS, type WatchLimits } from "./watch.ts";
import { type HttpServer, parseListenAddress, startHttpServer } from "./http_server.ts";
import { createMemberAdder, joinCluster, type JoinComponents } from "./cluster.ts";
import { type EtcdHealthMonitor, monitorEtcdHealth } from "./etcd_health.ts";
import { assertPortsFree, listenersOfMultiaddrs, PortUnavailableError } from "./ports.ts";
import { createEtcdClient } from "../store/etcd_cluster.ts";
import { createEtcdKv } from "../store/etcd_kv.ts";
import { trackSoleWriter } from "./sole_writer.ts";

/** Everything the registry-service is configured with (flags, env). */
export interface RegistryServiceConfig {
  /** Identity key settings. */
  identity: {
    algorithm: KeyAlgorithm;
    bits: number;
    keyFile: string;
    ephemeral: boolean;
  };
  /** Network passphrase; `undefined` is a public network, `""` a random key. */
  psk?: string;
  /** Bootstrap multiaddrs (ignored with `local`). */
  bootstraps: string[];
  /** Do not connect to bootstraps. */
  local: boolean;
  /** Start a new etcd cluster instead of joining one. */
  newEtcdCluster: boolean;
  /** This instance's etcd member. */
  etcd: {
    ip: string;
    clientPort: number;
    peerPort: number;
    /** Data directory; default `<member name>.etcd` in the working directory. */
    dataDir?: string;
    /** The etcd binary. */
    binary?: string;
  };
  /**
   * Plain http for etcd even with a PSK (mixed clusters with the original),
   * and allowed on a non-loopback `-etcd-ip` without one. Insecure.
   */
  insecureEtcd?: boolean;
  /** How long a joining instance keeps asking to be added (ms, default 120 s). */
  joinTimeoutMs?: number;
  /** A learner this instance added that has not started within this is removed (ms, default 60 s). */
  learnerTimeoutMs?: number;
  /** libp2p listen multiaddrs. */
  listen: string[];
  /** Where `/metrics` and the probes are served (`host:port`). */
  promListenAddr: string;
  /** Root etcd key prefix of the registry's data (entries under `<prefix>services/`). */
  keyPrefix?: string;
  /** Who may change entries; `open` with no admins when omitted. */
  writePolicy?: {
    mode: WritePolicyMode;
    /** Admin peer ids (`-admin`). */
    admins: string[];
    /** A file of more admin peer ids, one per line (`-admins-file`). */
    adminsFile?: string;
  };
  /** Versions of each name kept in the history (default 20). */
  historyLimit?: number;
  /** Requests one peer may have in flight (default 256). */
  maxInFlightPerPeer?: number;
  /** etcd history compaction: revisions kept (0: never compact) and how often (ms). */
  compaction: { retention: number; intervalMs: number };
  /** Bounds on `/watch/0.1` streams (defaults: `DEFAULT_WATCH_LIMITS`). */
  watch?: Partial<WatchLimits>;
}

/** Components for {@linkcode startRegistryService}. */
export interface RegistryServiceComponents {
  /** Where the service logs (requests, etcd output, warnings). */
  logger: Logger;
  /** libp2p's own debug logging; silent when omitted (see `RegistryNodeOptions`). */
  libp2pLogger?: ComponentLogger;
  /** Where the listen multiaddrs are printed, one per line. */
  print: (line: string) => void;
}

/** A running registry-service. */
export interface RegistryService {
  /** The libp2p node. */
  readonly node: RegistryNode;
  /** This instance's etcd member. */
  readonly etcd: EtcdProcess;
  /** The registry store. */
  readonly store: RegistryStore;
  /** The operator endpoint (metrics, probes). */
  readonly http: HttpServer;
  /** Resolves with the exit code once the service has stopped (1 when etcd died). */
  readonly done: Promise<number>;
  /** Stops everything, etcd last; resolves when stopped. `done` then resolves with `exitCode`. */
  stop(exitCode?: number): Promise<void>;
}

/**
 * Whether this instance's etcd serves mutual TLS: whenever there is a PSK
 * (not the empty, random one), unless `-insecure-etcd`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { etcdUsesTls } from "./registry_service.ts";
 * assert.equal(etcdUsesTls({ psk: "secret" }), true);
 * assert.equal(etcdUsesTls({ psk: "secret", insecureEtcd: true }), false);
 * assert.equal(etcdUsesTls({}), false);
 * ```
 */
export function etcdUsesTls(config: Pick<RegistryServiceConfig, "psk" | "insecureEtcd">): boolean {
  return config.psk !== undefined && config.psk !== "" && !config.insecureEtcd;
}

/**
 * The member's TLS files in its data directory (issued when missing), or
 * `undefined` when etcd runs without TLS.
 *
 * @example
 * ```ts ignore
 * const tls = await memberTls(config, "/var/lib/registry/etcd");
 * ```
 */
export async function memberTls(
  config: Pick<RegistryServiceConfig, "psk" | "insecureEtcd" | "etcd">,
  dataDir: string,
): Promise<EtcdTls | undefined> {
  if (!etcdUsesTls(config)) return undefined;
  return await ensureEtcdTls(config.psk!, {
    dataDir,
    name: etcdMemberName(config.etcd),
    ip: config.etcd.ip,
  });
}

/** Registers `fn` on `stack`, logging (not throwing) what it fails with. */
function deferLogged(
  stack: AsyncDisposableStack,
  logger: Logger,
  fn: () => unknown,
): void {
  stack.defer(async () => {
    try {
      await fn();
    } catch (err) {
      logger.warn(`while stopping: ${(err as Error).message}`);
    }
  });
}

async function identityPhase(config: RegistryServiceConfig, logger: Logger) {
  const identity = await loadOrCreateIdentity(config.identity);
  if (identity.source === "created") logger.info(`created identity key file ${identity.path}`);
  if (identity.readableByOthers) {
    logger.warn(
      `identity key file ${identity.path} is readable by its group or others: ` +
        `chmod 600 ${identity.path}`,
    );
  }
  if (config.psk === undefined) {
    logger.warn("no PSK given (-psk-file or P2P_PSK): the network is public and unprotected");
  } else if (config.psk === "") {
    logger.warn("empty PSK: using a random key, so this node joins no other node");
  }
  if (config.insecureEtcd) {
    logger.warn("-insecure-etcd: etcd serves plain http; anyone who reaches it can rewrite it");
  }
  return identity;
}

/** The write policy, with the admins of `-admin` and `-admins-file`. */
async function policyPhase(config: RegistryServiceConfig): Promise<WritePolicy> {
  const { writePolicy } = config;
  return new WritePolicy({
    mode: writePolicy?.mode,
    admins: [
      ...writePolicy?.admins ?? [],
      ...writePolicy?.adminsFile ? await readAdminsFile(writePolicy.adminsFile) : [],
    ],
  });
}

/** Stops a leftover etcd of ours, then checks every port before anything starts. */
async function portsPhase(config: RegistryServiceConfig, dataDir: string, logger: Logger) {
  await stopLeftoverEtcd(dataDir, logger);
  const httpAddress = parseListenAddress(config.promListenAddr);
  assertPortsFree([
    {
      hostname: config.etcd.ip,
      port: config.etcd.clientPort,
      what: "etcd client port",
      flag: "etcd-client-port",
    },
    {
      hostname: config.etcd.ip,
      port: config.etcd.peerPort,
      what: "etcd peer port",
      flag: "etcd-peer-port",
    },
    { ...httpAddress, what: "metrics address", flag: "prom-listen-addr" },
    ...listenersOfMultiaddrs(config.listen),
  ]);
  return httpAddress;
}

async function nodePhase(
  config: RegistryServiceConfig,
  components: RegistryServiceComponents,
  identity: LoadedIdentity,
  stack: AsyncDisposableStack,
) {
  let node: RegistryNode;
  try {
    node = await createRegistryNode({
      privateKey: identity.key,
      psk: config.psk,
      listen: config.listen,
      libp2pLogger: components.libp2pLogger,
    });
  } catch (err) {
    // The ports were free a moment ago (portsPhase); this is a race lost, or an address libp2p
    // rejects. libp2p's own message suggests a transport setting and spans lines: say it plainly.
    const message = (err as Error).message;
    if (/listen|address|EADDR/i.test(message)) {
      throw new PortUnavailableError(
        `libp2p cannot listen on ${config.listen.join(", ")} (${
          message.split("\n")[0]
        }): change it with -listen`,
        { cause: err },
      );
    }
    throw err;
  }
  deferLogged(stack, components.logger, () => node.stop());
  return node;
}

async function etcdPhase(
  config: RegistryServiceConfig,
  components: JoinComponents,
  dataDir: string,
  stack: AsyncDisposableStack,
): Promise<EtcdProcess> {
  const tls = await memberTls(config, dataDir);
  const member = { ...config.etcd, tls, dataDir };
  const etcd = config.newEtcdCluster
    ? await startEtcd({ ...member, clusterState: "new", logger: components.logger })
    : await joinCluster(components, { ...member, timeoutMs: config.joinTimeoutMs });
  deferLogged(stack, components.logger, () => etcd.stop());
  return etcd;
}

async function storePhase(
  config: RegistryServiceConfig,
  etcd: EtcdProcess,
  logger: Logger,
  stack: AsyncDisposableStack,
): Promise<RegistryStore> {
  const client = createEtcdClient(etcd.clientUrl, etcd.tls);
  deferLogged(stack, logger, () => client.close());
  const kv = createEtcdKv(etcd.clientUrl, etcd.tls);
  deferLogged(stack, logger, () => kv.close());
  const store = new RegistryStore({
    client,
    kv,
    prefix: config.keyPrefix,
    logger,
    historyLimit: config.historyLimit,
  });
  await store.start();
  deferLogged(stack, logger, () => store.stop());
  if (config.compaction.retention > 0) {
    const compaction = startCompaction({ client, logger, ...config.compaction });
    deferLogged(stack, logger, () => compaction.stop());
  }
  return store;
}

/** Cluster membership on a client of its own: health, sole-writer mode, joins. */
async function membershipPhase(
  config: RegistryServiceConfig,
  components: {
    etcd: EtcdProcess;
    store: RegistryStore;
    logger: Logger;
    isRunning: () => boolean;
    onHealthChange: (healthy: boolean) => void;
  },
  stack: AsyncDisposableStack,
): Promise<{ health: EtcdHealthMonitor; memberAdd: HandlerComponents["memberAdd"] }> {
  const { etcd, store, logger } = components;
  const client = createEtcdClient(etcd.clientUrl, etcd.tls);
  deferLogged(stack, logger, () => client.close());
  const health = monitorEtcdHealth({
    client,
    isRunning: components.isRunning,
    logger,
    onChange: components.onHealthChange,
  });
  deferLogged(stack, logger, () => health.stop());
  await health.check();
  const soleWriter = await trackSoleWriter({ client, store, logger });
  deferLogged(stack, logger, () => soleWriter.stop());
  const memberAdder = createMemberAdder({
    client,
    logger,
    peerScheme: etcd.tls ? "https:" : "http:",
    learnerTimeoutMs: config.learnerTimeoutMs,
  });
  deferLogged(stack, logger, () => memberAdder.stop());
  return {
    health,
    memberAdd: async (request, context) => {
      soleWriter.memberJoining();
      return await memberAdder.add(request, context);
    },
  };
}

async function advertisePhase(
  node: RegistryNode,
  bootstraps: readonly Bootstrap[],
  logger: Logger,
  stack: AsyncDisposableStack,
): Promise<void> {
  const advertiser = await startAdvertising(node, RENDEZVOUS, { logger });
  const keeper = keepBootstrapsConnected(node, bootstraps, {
    logger,
    onReconnect: () => void advertiser.advertiseNow(),
  });
  deferLogged(stack, logger, () => {
    keeper.stop();
    advertiser.stop();
  });
}

/**
 * Starts a registry-service, phase by phase: identity, write policy, ports, libp2p node,
 * etcd member, store, membership, handlers, operator endpoint. What a phase
 * starts goes on one `AsyncDisposableStack`, so a failure stops everything
 * started before it and `stop()` stops it all in reverse order (etcd last
 * but the node).
 *
 * @example
 * ```ts ignore
 * const service = await startRegistryService(config, { logger, print: console.log });
 * Deno.addSignalListener("SIGTERM", () => service.stop());
 * Deno.exit(await service.done);
 * ```
 */
export async function startRegistryService(
  config: RegistryServiceConfig,
  components: RegistryServiceComponents,
): Promise<RegistryService> {
  const { logger } = components;
  await using stack = new AsyncDisposableStack();
  const identity = await identityPhase(config, logger);
  const bootstraps = config.local ? [] : parseBootstraps(config.bootstraps);
  if (!config.local && bootstraps.length === 0) {
    throw new TypeError(
      "no bootstraps: give -bootstrap <multiaddr> or P2P_BOOTSTRAPS, or run with -local",
    );
  }
  const policy = await policyPhase(config);
  const dataDir = config.etcd.dataDir ?? defaultDataDir(config);
  const httpAddress = await portsPhase(config, dataDir, logger);
  const node = await nodePhase(config, components, identity, stack);
  if (bootstraps.length > 0) {
    await connectBootstraps(node, bootstraps, { logger, privateNetwork: config.psk !== undefined });
  }

  const etcd = await etcdPhase(config, { node, bootstraps, logger }, dataDir, stack);
  let stopping = false;
  let etcdAlive = true;
  void etcd.exited.then(() => (etcdAlive = false));
  const store = await storePhase(config, etcd, logger, stack);
  const metrics = createRegistryMetrics({
    entries: () => store.size,
    peers: () => node.getPeers().length,
  });
  const membership = await membershipPhase(config, {
    etcd,
    store,
    logger,
    isRunning: () => etcdAlive,
    onHealthChange: (healthy) => metrics.etcdUp.set(healthy ? 1 : 0),
  }, stack);
  await registerHandlers({
    node,
    store,
    metrics,
    logger,
    policy,
    memberAdd: membership.memberAdd,
    isHealthy: () => etcdAlive,
    limits: {
      ...DEFAULT_LIMITS,
      maxInFlightPerPeer: config.maxInFlightPerPeer ?? DEFAULT_LIMITS.maxInFlightPerPeer,
    },
    changes: store,
    watchLimits: { ...DEFAULT_WATCH_LIMITS, ...config.watch },
  });
  if (bootstraps.length > 0) await advertisePhase(node, bootstraps, logger, stack);
  const http = startHttpServer({
    address: httpAddress,
    registry: metrics.registry,
    health: () => {
      const state = membership.health.state();
      return {
        healthy: state.healthy,
        ...(state.reason ? { reason: state.reason } : {}),
        etcd: etcdAlive ? "up" : "down",
        entries: store.size,
        peers: node.getPeers().length,
        peerId: node.peerId.toString(),
      };
    },
  });
  deferLogged(stack, logger, () => http.stop());

  for (const addr of node.getMultiaddrs()) components.print(addr.toString());
  logger.info(
    `write policy ${policy.mode} with ${policy.adminCount} admin(s); ` +
      `history keeps ${config.historyLimit ?? DEFAULT_HISTORY_LIMIT} versions per name`,
  );
  logger.info(
    `registry-service ${node.peerId} ready; etcd member ${etcd.name} at ${etcd.clientUrl}` +
      `${etcd.tls ? " (mutual TLS)" : ""}; ` +
      `metrics on http://${http.address.hostname}:${http.address.port}/metrics`,
  );

  const running = stack.move();
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((resolve) => (resolveDone = resolve));
  let stopped: Promise<void> | undefined;
  const stop = (code = 0) => {
    stopping = true;
    stopped ??= running.disposeAsync().then(() => resolveDone(code));
    return stopped;
  };
  void etcd.exited.then((exitCode) => {
    if (stopping) return;
    metrics.etcdUp.set(0);
    logger.error(
      `etcd exited unexpectedly (code ${exitCode}); stopping the registry-service so that a ` +
        "supervisor can restart it",
    );
    void stop(1);
  });
  return { node, etcd, store, http, done, stop };
}

/**
 * The etcd data directory used when `-etcd-data-dir` is not given:
 * `<member name>.etcd` in the working directory.
 *
 * @example
 * ```ts ignore
 * const dir = defaultDataDir(config); // "127.0.0.1-2379-2380.etcd"
 * ```
 */
export function defaultDataDir(config: Pick<RegistryServiceConfig, "etcd">): string {
  return `${config.etcd.ip}-${config.etcd.clientPort}-${config.etcd.peerPort}.etcd`;
}
