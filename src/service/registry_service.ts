/**
 * The registry-service: its own etcd member (or, as a client instance, the
 * voting core's members over mutual TLS), the registry store on it, and a
 * libp2p node answering registry requests on the private network.
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
  etcdPeerUrl,
  type EtcdProcess,
  startEtcd,
  stopLeftoverEtcd,
} from "../store/etcd_process.ts";
import { ensureEtcdTls, type EtcdTls } from "../store/tls.ts";
import {
  DEFAULT_HISTORY_LIMIT,
  DEFAULT_ROOT_PREFIX,
  RegistryStore,
} from "../store/registry_store.ts";
import { startCompaction } from "../store/compaction.ts";
import type { Logger } from "../log/logger.ts";
import type { ComponentLogger } from "@libp2p/interface";
import { DEFAULT_LIMITS, type HandlerComponents, registerHandlers } from "./handlers.ts";
import { readAdminsFile, WritePolicy, type WritePolicyMode } from "./policy.ts";
import { createRegistryMetrics } from "./metrics.ts";
import { DEFAULT_WATCH_LIMITS, type WatchLimits } from "./watch.ts";
import { type HttpServer, parseListenAddress, startHttpServer } from "./http_server.ts";
import {
  createJoinAction,
  createMemberAdder,
  joinCluster,
  type JoinComponents,
  type JoinOptions,
  type JoinResult,
  startLearner,
  VoterLimitError,
} from "./cluster.ts";
import { type EtcdHealthMonitor, monitorEtcdHealth } from "./etcd_health.ts";
import { assertPortsFree, listenersOfMultiaddrs, PortUnavailableError } from "./ports.ts";
import {
  createEtcdClient,
  type EtcdMember,
  followEndpoints,
  handOverLeadership,
} from "../store/etcd_cluster.ts";
import { startLivenessWatchdog } from "./liveness.ts";
import { createEtcdKv, type EtcdKv } from "../store/etcd_kv.ts";
import { trackSoleWriter } from "./sole_writer.ts";
import { listInstances, PROMOTE_KEY, type RoleTracker, trackRoles } from "./roles.ts";
import { startSteward, type Steward } from "./steward.ts";
import type { Etcd3 } from "etcd3";
import type { RegistryMetrics } from "./metrics.ts";
import type { InstanceRecord } from "../protocol/messages.ts";
import type { PromotionRequest } from "./roles.ts";

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
  /** A learner not started and promoted within this is removed (ms, default 120 s). */
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
  /**
   * Percent of the requests in flight and of the watchers that one remote host, all its peer
   * ids together, may hold (default 50).
   */
  hostSharePercent?: number;
  /** etcd history compaction: revisions kept (0: never compact) and how often (ms). */
  compaction: { retention: number; intervalMs: number };
  /** Bounds on `/watch/0.1` streams (defaults: `DEFAULT_WATCH_LIMITS`). */
  watch?: Partial<WatchLimits>;
  /** Size of the voting etcd core (1 to 7, default 5). */
  maxVoters?: number;
  /** The steward replaces a voter unreachable this long (ms, default 60 s). */
  deadMemberAfterMs?: number;
  /** Kill the process when its event loop has not turned for this long (ms, default 30 s). */
  hangTimeoutMs?: number;
  /** Whether this instance may run an etcd member (default true). */
  voterEligible?: boolean;
}

/** Default `-max-voters`. */
export const DEFAULT_MAX_VOTERS = 5;

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
  /** This instance's etcd member; `undefined` while it is a client instance. */
  readonly etcd: EtcdProcess | undefined;
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

/**
 * This instance's place in the cluster: a new cluster's first member, or
 * the role `/join/0.2` gives (member or client instance). A member's etcd is
 * stopped with the stack, also one started later by a promotion.
 */
async function etcdPhase(
  config: RegistryServiceConfig,
  components: JoinComponents,
  dataDir: string,
): Promise<{ joined: JoinResult; member: JoinOptions; tls?: EtcdTls }> {
  const tls = await memberTls(config, dataDir);
  const member: JoinOptions = {
    ...config.etcd,
    tls,
    dataDir,
    timeoutMs: config.joinTimeoutMs,
    voterEligible: config.voterEligible,
  };
  const joined: JoinResult = config.newEtcdCluster
    ? {
      role: "member",
      etcd: await startEtcd({ ...member, clusterState: "new", logger: components.logger }),
    }
    : await joinCluster(components, member);
  return { joined, member, tls };
}

/** The store's client: its own member's, or the members' client URLs with failover. */
function clusterClient(joined: JoinResult, tls: EtcdTls | undefined): Etcd3 {
  return joined.role === "member"
    ? createEtcdClient(joined.etcd.clientUrl, tls)
    : createEtcdClient(joined.clientUrls, tls, { failover: true });
}

async function storePhase(
  config: RegistryServiceConfig,
  { client, kv }: { client: Etcd3; kv: EtcdKv },
  logger: Logger,
  stack: AsyncDisposableStack,
): Promise<RegistryStore> {
  deferLogged(stack, logger, () => client.close());
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

/**
 * Cluster membership on a client of its own: health, roles, the steward,
 * sole-writer mode, joins.
 */
async function membershipPhase(
  config: RegistryServiceConfig,
  components: {
    client: Etcd3;
    tls?: EtcdTls;
    store: RegistryStore;
    logger: Logger;
    metrics: RegistryMetrics;
    self: () => Omit<InstanceRecord, "Role">;
    peerId: string;
    isRunning: () => boolean;
    onHealthChange: (healthy: boolean) => void;
    onPromotion: (request: PromotionRequest) => Promise<void>;
    onMembers?: (members: readonly EtcdMember[]) => void;
  },
  stack: AsyncDisposableStack,
): Promise<{
  health: EtcdHealthMonitor;
  roles: RoleTracker;
  steward: Steward;
  memberAdd: HandlerComponents["memberAdd"];
  join: HandlerComponents["join"];
}> {
  const { client, store, logger, metrics } = components;
  deferLogged(stack, logger, () => client.close());
  const health = monitorEtcdHealth({
    client,
    isRunning: components.isRunning,
    logger,
    onChange: components.onHealthChange,
  });
  deferLogged(stack, logger, () => health.stop());
  await health.check();
  const prefix = config.keyPrefix ?? DEFAULT_ROOT_PREFIX;
  const roles = await trackRoles({
    client,
    prefix,
    logger,
    metrics,
    self: components.self,
    onPromotion: components.onPromotion,
    onMembers: components.onMembers,
  });
  deferLogged(stack, logger, () => roles.stop());
  const maxVoters = config.maxVoters ?? DEFAULT_MAX_VOTERS;
  const learnerTimeoutMs = config.learnerTimeoutMs ?? 120_000;
  const steward = startSteward({
    client,
    prefix,
    tls: components.tls,
    logger,
    metrics,
    peerId: components.peerId,
    maxVoters,
    deadMemberAfterMs: config.deadMemberAfterMs ?? 60_000,
    learnerTimeoutMs,
  });
  deferLogged(stack, logger, () => steward.stop());
  const ns = client.namespace(prefix);
  const soleWriter = await trackSoleWriter({
    client,
    store,
    logger,
    instances: async () => (await listInstances(ns)).length,
  });
  deferLogged(stack, logger, () => soleWriter.stop());
  const memberAdder = createMemberAdder({
    client,
    logger,
    peerScheme: components.tls ? "https:" : "http:",
    tls: components.tls,
    learnerTimeoutMs,
    maxVoters,
  });
  deferLogged(stack, logger, () => memberAdder.stop());
  const join = createJoinAction({ client, memberAdder, logger });
  return {
    health,
    roles,
    steward,
    memberAdd: async (request, context) => {
      soleWriter.memberJoining();
      try {
        return await memberAdder.add(request, context);
      } catch (err) {
        if (err instanceof VoterLimitError) {
          logger.warn(
            `refused /memberadd/0.1 for ${request.MemberName}: ${err.message}; an instance of ` +
              "the original (which has no other role) cannot join; run it as a registry-service " +
              "of this version, which joins as a client instance (/join/0.2)",
          );
        }
        throw err;
      }
    },
    join: async (request, context) => {
      soleWriter.memberJoining();
      return await join(request, context);
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
  const watchdog = startLivenessWatchdog(config.hangTimeoutMs ?? 30_000);
  stack.defer(() => watchdog.stop());
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

  const { joined, member, tls } = await etcdPhase(
    config,
    { node, bootstraps, logger },
    dataDir,
  );
  // The member's etcd, now or once promoted; stopped after everything that uses it. Its
  // leadership is handed over first, then it is killed: it loses nothing (an acknowledged
  // write is in its fsynced WAL), where a graceful stop says GOAWAY on every connection to it,
  // on which Deno's HTTP/2 can crash or hang the instances connected (denoland/deno#36788).
  let etcd = joined.role === "member" ? joined.etcd : undefined;
  deferLogged(stack, logger, async () => {
    if (!etcd) return;
    const own = createEtcdClient(etcd.clientUrl, tls);
    try {
      const leader = await handOverLeadership(own);
      if (leader) logger.info(`handed etcd's leadership over to ${leader}`);
    } catch (err) {
      logger.warn(`could not hand etcd's leadership over: ${(err as Error).message}`);
    } finally {
      own.close();
    }
    await etcd.stop(0);
  });
  let stopping = false;
  let etcdAlive = true;
  let stop: (code?: number) => Promise<void> = () => Promise.resolve();
  const watchEtcd = (process: EtcdProcess) => {
    void process.exited.then((exitCode) => {
      etcdAlive = false;
      if (stopping) return;
      metrics.etcdUp.set(0);
      logger.error(
        `etcd exited unexpectedly (code ${exitCode}); stopping the registry-service so that a ` +
          "supervisor can restart it",
      );
      void stop(1);
    });
  };
  const client = clusterClient(joined, tls);
  // The store's reads and writes: its own member, or the voters (followed as they change).
  const kv = createEtcdKv(
    joined.role === "member" ? joined.etcd.clientUrl : joined.clientUrls,
    tls,
  );
  const store = await storePhase(config, { client, kv }, logger, stack);
  const metrics = createRegistryMetrics({
    entries: () => store.size,
    peers: () => node.getPeers().length,
  });
  if (etcd) watchEtcd(etcd);
  const membershipClient = clusterClient(joined, tls);
  const membership = await membershipPhase(config, {
    client: membershipClient,
    tls,
    store,
    logger,
    metrics,
    peerId: node.peerId.toString(),
    self: () => ({
      PeerId: node.peerId.toString(),
      Member: etcd?.name ?? "",
      MemberName: etcdMemberName(config.etcd),
      Addrs: node.getMultiaddrs().map((a) => a.toString()),
      VoterEligible: config.voterEligible ?? true,
      PeerUrl: etcdPeerUrl({ ...config.etcd, tls }),
    }),
    isRunning: () => etcdAlive,
    onHealthChange: (healthy) => metrics.etcdUp.set(healthy ? 1 : 0),
    // The steward asked this client instance to run a voter: its store keeps the members'
    // client URLs (with failover), and its own member joins them.
    // A client instance's clients follow the voters, as they are replaced.
    onMembers: joined.role === "member" ? undefined : (members) => {
      const urls = members.filter((m) => m.started && !m.isLearner).flatMap((m) => m.clientUrls);
      const moved = [client, membershipClient].map((c) => followEndpoints(c, urls));
      kv.setEndpoints(urls);
      if (moved.some(Boolean)) logger.info(`etcd endpoints: ${urls.join(", ")}`);
    },
    onPromotion: async (request) => {
      if (etcd || stopping) return;
      logger.info(`the steward asked this instance to become a voter; starting etcd`);
      const started = await startLearner(member, request.InitialCluster, logger);
      if (stopping) {
        await started.stop();
        return;
      }
      etcd = started;
      watchEtcd(started);
      await membershipClient.namespace(config.keyPrefix ?? DEFAULT_ROOT_PREFIX).delete()
        .key(PROMOTE_KEY).exec();
      await membership.roles.refresh();
    },
  }, stack);
  const watchLimits = { ...DEFAULT_WATCH_LIMITS, ...config.watch };
  const hostShare = (slots: number) => Math.ceil(slots * (config.hostSharePercent ?? 50) / 100);
  await registerHandlers({
    node,
    store,
    metrics,
    logger,
    policy,
    memberAdd: membership.memberAdd,
    join: membership.join,
    members: () => membership.roles.instances(),
    isHealthy: () => etcdAlive,
    limits: {
      ...DEFAULT_LIMITS,
      maxInFlightPerPeer: config.maxInFlightPerPeer ?? DEFAULT_LIMITS.maxInFlightPerPeer,
      maxInFlightPerHost: hostShare(DEFAULT_LIMITS.maxInFlight),
      maxBufferedBytesPerHost: hostShare(DEFAULT_LIMITS.maxBufferedBytes),
      maxAnswerBytesPerHost: hostShare(DEFAULT_LIMITS.maxAnswerBytes),
    },
    changes: store,
    watchLimits: { ...watchLimits, maxWatchersPerHost: hostShare(watchLimits.maxWatchers) },
  });
  if (bootstraps.length > 0) await advertisePhase(node, bootstraps, logger, stack);
  const http = startHttpServer({
    address: httpAddress,
    registry: metrics.registry,
    health: () => {
      const state = membership.health.state();
      const view = membership.roles.view();
      return {
        healthy: state.healthy,
        ...(state.reason ? { reason: state.reason } : {}),
        etcd: etcd ? (etcdAlive ? "up" : "down") : "none (client instance)",
        role: view.role,
        voters: view.voters.length,
        learners: view.learners.length,
        steward: view.steward ?? null,
        isSteward: membership.steward.isSteward(),
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
    `registry-service ${node.peerId} ready; ` +
      (joined.role === "member"
        ? `etcd member ${joined.etcd.name} at ${joined.etcd.clientUrl}`
        : `client instance on ${joined.clientUrls.join(", ")}`) +
      `${tls ? " (mutual TLS)" : ""}; ` +
      `metrics on http://${http.address.hostname}:${http.address.port}/metrics`,
  );

  const running = stack.move();
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((resolve) => (resolveDone = resolve));
  let stopped: Promise<void> | undefined;
  stop = (code = 0) => {
    stopping = true;
    stopped ??= running.disposeAsync().then(() => resolveDone(code));
    return stopped;
  };
  return {
    node,
    get etcd() {
      return etcd;
    },
    store,
    http,
    done,
    stop: (code) => stop(code),
  };
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
