/**
 * The registry-service: its own etcd member, the registry store on it, and
 * a libp2p node answering registry requests on the private network.
 *
 * @module
 */
import { type KeyAlgorithm, loadOrCreateIdentity } from "../p2p/identity.ts";
import { createRegistryNode, type RegistryNode } from "../p2p/node.ts";
import {
  type BootstrapKeeper,
  connectBootstraps,
  keepBootstrapsConnected,
  parseBootstraps,
} from "../p2p/bootstrap.ts";
import { type Advertiser, startAdvertising } from "../p2p/rendezvous.ts";
import { RENDEZVOUS } from "../protocol/ids.ts";
import { type EtcdProcess, startEtcd } from "../store/etcd_process.ts";
import { DEFAULT_HISTORY_LIMIT, RegistryStore } from "../store/registry_store.ts";
import type { Logger } from "../log/logger.ts";
import type { ComponentLogger } from "@libp2p/interface";
import { DEFAULT_LIMITS, registerHandlers } from "./handlers.ts";
import { readAdminsFile, WritePolicy, type WritePolicyMode } from "./policy.ts";
import { createRegistryMetrics } from "./metrics.ts";
import { DEFAULT_WATCH_LIMITS, type WatchLimits } from "./watch.ts";
import { type HttpServer, parseListenAddress, startHttpServer } from "./http_server.ts";
import { joinCluster, memberAddHandler } from "./cluster.ts";
import { createEtcdClient } from "../store/etcd_cluster.ts";
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
  /** How long a joining instance keeps asking to be added (ms, default 120 s). */
  joinTimeoutMs?: number;
  /** libp2p listen multiaddrs. */
  listen: string[];
  /** Where `/metrics` and `/health` are served (`host:port`). */
  promListenAddr: string;
  /** Root etcd key prefix of the registry's data (entries under `<prefix>services/`). */
  keyPrefix?: string;
  /** Who may change entries (issue 13); `open` with no admins when omitted. */
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
  /** The operator endpoint (metrics, health). */
  readonly http: HttpServer;
  /** Resolves with the exit code once the service has stopped (1 when etcd died). */
  readonly done: Promise<number>;
  /** Stops everything, etcd last; resolves when stopped. `done` then resolves with `exitCode`. */
  stop(exitCode?: number): Promise<void>;
}

/**
 * Starts a registry-service.
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
  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        logger.warn(`while stopping: ${(err as Error).message}`);
      }
    }
  };
  try {
    const identity = await loadOrCreateIdentity(config.identity);
    if (identity.source === "created") logger.info(`created identity key file ${identity.path}`);
    if (config.psk === undefined) {
      logger.warn("no PSK given (-psk or P2P_PSK): the network is public and unprotected");
    } else if (config.psk === "") {
      logger.warn("empty PSK: using a random key, so this node joins no other node");
    }
    const bootstraps = config.local ? [] : parseBootstraps(config.bootstraps);
    if (!config.local && bootstraps.length === 0) {
      throw new TypeError(
        "no bootstraps: give -bootstrap <multiaddr> or P2P_BOOTSTRAPS, or run with -local",
      );
    }
    const httpAddress = parseListenAddress(config.promListenAddr);
    const policy = new WritePolicy({
      mode: config.writePolicy?.mode,
      admins: [
        ...config.writePolicy?.admins ?? [],
        ...config.writePolicy?.adminsFile
          ? await readAdminsFile(config.writePolicy.adminsFile)
          : [],
      ],
    });

    const node = await createRegistryNode({
      privateKey: identity.key,
      psk: config.psk,
      listen: config.listen,
      libp2pLogger: components.libp2pLogger,
    });
    cleanups.push(() => node.stop());
    if (bootstraps.length > 0) await connectBootstraps(node, bootstraps, { logger });

    const etcd = config.newEtcdCluster
      ? await startEtcd({
        ...config.etcd,
        dataDir: config.etcd.dataDir ?? defaultDataDir(config),
        clusterState: "new",
        logger,
      })
      : await joinCluster({ node, bootstraps, logger }, {
        ...config.etcd,
        dataDir: config.etcd.dataDir ?? defaultDataDir(config),
        timeoutMs: config.joinTimeoutMs,
      });
    let stopping = false;
    cleanups.push(() => etcd.stop());

    const client = createEtcdClient(etcd.clientUrl);
    cleanups.push(() => client.close());
    const store = new RegistryStore({
      client,
      prefix: config.keyPrefix,
      logger,
      historyLimit: config.historyLimit,
    });
    await store.start();
    cleanups.push(() => store.stop());

    const metrics = createRegistryMetrics({
      entries: () => store.size,
      peers: () => node.getPeers().length,
    });
    const membershipClient = createEtcdClient(etcd.clientUrl);
    cleanups.push(() => membershipClient.close());
    let etcdAlive = true;
    metrics.etcdUp.set(1);
    const soleWriter = await trackSoleWriter({ client: membershipClient, store, logger });
    cleanups.push(() => soleWriter.stop());
    const memberAdd = memberAddHandler({ client: membershipClient, logger });

    await registerHandlers({
      node,
      store,
      metrics,
      logger,
      policy,
      memberAdd: async (request) => {
        soleWriter.memberJoining();
        return await memberAdd(request);
      },
      isHealthy: () => etcdAlive,
      limits: {
        ...DEFAULT_LIMITS,
        maxInFlightPerPeer: config.maxInFlightPerPeer ?? DEFAULT_LIMITS.maxInFlightPerPeer,
      },
      changes: store,
      watchLimits: { ...DEFAULT_WATCH_LIMITS, ...config.watch },
    });

    let advertiser: Advertiser | undefined;
    let keeper: BootstrapKeeper | undefined;
    if (bootstraps.length > 0) {
      advertiser = await startAdvertising(node, RENDEZVOUS, { logger });
      keeper = keepBootstrapsConnected(node, bootstraps, {
        logger,
        onReconnect: () => void advertiser?.advertiseNow(),
      });
      cleanups.push(() => {
        keeper?.stop();
        advertiser?.stop();
      });
    }

    const http = startHttpServer({
      address: httpAddress,
      registry: metrics.registry,
      health: () => ({
        healthy: etcdAlive,
        etcd: etcdAlive ? "up" : "down",
        entries: store.size,
        peers: node.getPeers().length,
        peerId: node.peerId.toString(),
      }),
    });
    cleanups.push(() => http.stop());

    for (const addr of node.getMultiaddrs()) components.print(addr.toString());
    logger.info(
      `write policy ${policy.mode} with ${policy.adminCount} admin(s); ` +
        `history keeps ${config.historyLimit ?? DEFAULT_HISTORY_LIMIT} versions per name`,
    );
    logger.info(
      `registry-service ${node.peerId} ready; etcd member ${etcd.name} at ${etcd.clientUrl}; ` +
        `metrics on http://${http.address.hostname}:${http.address.port}/metrics`,
    );

    let resolveDone!: (code: number) => void;
    const done = new Promise<number>((resolve) => (resolveDone = resolve));
    let stopped: Promise<void> | undefined;
    const stop = (code = 0) => {
      stopping = true;
      stopped ??= cleanup().then(() => resolveDone(code));
      return stopped;
    };
    void etcd.exited.then((exitCode) => {
      if (stopping) return;
      etcdAlive = false;
      metrics.etcdUp.set(0);
      logger.error(
        `etcd exited unexpectedly (code ${exitCode}); stopping the registry-service so that a ` +
          "supervisor can restart it",
      );
      void stop(1);
    });
    return { node, etcd, store, http, done, stop };
  } catch (err) {
    await cleanup();
    throw err;
  }
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
