/**
 * The registry-service's command line (SPEC §4) and its env fallbacks.
 *
 * @module
 */
import { type FlagSpecs, formatFlags, parseGoFlags } from "../cli/flags.ts";
import { UsageError } from "../cli/errors.ts";
import { parseKeyAlgorithm } from "../p2p/identity.ts";
import { bootstrapAddresses, InvalidBootstrapError, parseBootstraps } from "../p2p/bootstrap.ts";
import type { RegistryServiceConfig } from "./registry_service.ts";
import { WRITE_POLICY_MODES, type WritePolicyMode } from "./policy.ts";
import { validatePeerId } from "../protocol/messages.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "../log/logger.ts";
import { parseListenAddress } from "./http_server.ts";
import { multiaddr } from "@multiformats/multiaddr";

/** The registry-service's flags. */
export const SERVICE_FLAGS: FlagSpecs = {
  "algo": {
    type: "string",
    description: "identity key algorithm: RSA, Ed25519, Secp256k1 or ECDSA",
    valueName: "name",
    defaultText: "RSA",
  },
  "bits": {
    type: "string",
    description: "RSA key size, at least 2048",
    valueName: "n",
    defaultText: "2048",
  },
  "keyfile": {
    type: "string",
    description: "identity key file, created (mode 0600) when missing",
    valueName: "path",
    defaultText: "~/.privKeyHashLookup",
  },
  "ephemeral": { type: "boolean", description: "use a fresh identity key and store nothing" },
  "bootstrap": {
    type: "string",
    multiple: true,
    description: "bootstrap peer /ip4/<ip>/tcp/<port>/p2p/<id> (else env P2P_BOOTSTRAPS)",
    valueName: "multiaddr",
  },
  "psk": {
    type: "string",
    description:
      "network passphrase (else env P2P_PSK; none means a public network); visible in ps: " +
      "prefer -psk-file",
    valueName: "passphrase",
  },
  "psk-file": {
    type: "string",
    description:
      "file holding the network passphrase (it also keys etcd's mutual TLS); kept out of ps",
    valueName: "path",
  },
  "insecure-etcd": {
    type: "boolean",
    description:
      "INSECURE: etcd serves plain http even with a PSK (mixed clusters with the original), " +
      "and may then use a non-loopback -etcd-ip",
  },
  "learner-timeout": {
    type: "string",
    description: "remove a joining etcd member (learner) that has not started, answered on " +
      "its client URL and caught up (been promoted) within this",
    valueName: "seconds",
    defaultText: "120",
  },
  "max-voters": {
    type: "string",
    description: "size of the voting etcd core (1 to 7); instances that join a full core run " +
      "as client instances, with no etcd member of their own",
    valueName: "n",
    defaultText: "5",
  },
  "dead-member-after": {
    type: "string",
    description: "the steward replaces a voter unreachable for this long (only while the " +
      "others keep quorum)",
    valueName: "seconds",
    defaultText: "60",
  },
  "hang-timeout": {
    type: "string",
    description: "kill this process (so that a supervisor restarts it) when its event loop " +
      "has not turned for this long",
    valueName: "seconds",
    defaultText: "30",
  },
  "voter-eligible": {
    type: "string",
    description: "whether this instance may run an etcd member (-voter-eligible=false: never; " +
      "it is then always a client instance)",
    valueName: "true|false",
    defaultText: "true",
  },
  "etcdctl-flags": {
    type: "boolean",
    description: "print the etcdctl flags (endpoint, TLS files) for this instance's etcd and exit",
  },
  "listen": {
    type: "string",
    multiple: true,
    description: "libp2p listen multiaddr",
    valueName: "multiaddr",
    defaultText: "/ip4/0.0.0.0/tcp/0",
  },
  "local": { type: "boolean", description: "do not connect to bootstraps (overrides -bootstrap)" },
  "new-etcd-cluster": {
    type: "boolean",
    description: "start a new etcd cluster instead of joining one",
  },
  "etcd-ip": {
    type: "string",
    description: "IP of this instance's etcd (client and peer URLs)",
    valueName: "ip",
    defaultText: "127.0.0.1",
  },
  "etcd-client-port": {
    type: "string",
    description: "etcd client port",
    valueName: "port",
    defaultText: "2379",
  },
  "etcd-peer-port": {
    type: "string",
    description: "etcd peer port",
    valueName: "port",
    defaultText: "2380",
  },
  "etcd-data-dir": {
    type: "string",
    description: "etcd data directory",
    valueName: "path",
    defaultText: "<ip>-<client port>-<peer port>.etcd",
  },
  "etcd-binary": {
    type: "string",
    description: "the etcd executable",
    valueName: "path",
    defaultText: "etcd",
  },
  "join-timeout": {
    type: "string",
    description: "how long a joining instance keeps asking to be added to the etcd cluster",
    valueName: "seconds",
    defaultText: "120",
  },
  "leave-cluster": {
    type: "boolean",
    description:
      "remove this instance's etcd member (in its data directory) from the cluster and exit; " +
      "run it with the instance's etcd flags after stopping the instance",
  },
  "snapshot": {
    type: "string",
    description:
      "save a snapshot of the running cluster's data (from this instance's etcd member) " +
      "to a file for backups, and exit",
    valueName: "file",
  },
  "prom-listen-addr": {
    type: "string",
    description: "where /metrics, /health, /livez and /readyz are served",
    valueName: "host:port",
    defaultText: ":9102",
  },
  "write-policy": {
    type: "string",
    description: "who may change a name: open (anyone) or owner (the peer that first added it, " +
      "or an admin)",
    valueName: "open|owner",
    defaultText: "open",
  },
  "admin": {
    type: "string",
    multiple: true,
    description: "peer id that may change and chown any name",
    valueName: "peer-id",
  },
  "admins-file": {
    type: "string",
    description: "file of admin peer ids, one per line (# comments)",
    valueName: "path",
  },
  "history": {
    type: "string",
    description: "versions of each name kept in its history",
    valueName: "n",
    defaultText: "20",
  },
  "max-in-flight-per-peer": {
    type: "string",
    description: "requests one peer may have in flight at once (its share of 4096)",
    valueName: "n",
    defaultText: "256",
  },
  "max-host-share": {
    type: "string",
    description:
      "percent of the service's requests in flight (4096), bytes of requests arriving and of " +
      "answers being sent (128 MiB each) " +
      "and watchers (-max-watchers) " +
      "that one remote host (IP address; IPv6: its /64) may hold, all its peer ids together",
    valueName: "percent",
    defaultText: "50",
  },
  "compaction-retention": {
    type: "string",
    description: "revisions of etcd's history kept (older ones are compacted away; 0: never)",
    valueName: "n",
    defaultText: "10000",
  },
  "compaction-interval": {
    type: "string",
    description: "how often etcd's history is compacted",
    valueName: "seconds",
    defaultText: "60",
  },
  "max-watchers": {
    type: "string",
    description: "/watch/0.1 streams open at once, all peers together",
    valueName: "n",
    defaultText: "10000",
  },
  "max-watchers-per-peer": {
    type: "string",
    description: "/watch/0.1 streams one peer may have open at once",
    valueName: "n",
    defaultText: "100",
  },
  "watch-buffer": {
    type: "string",
    description: "bytes of changes queued for a watcher that does not read before it is closed",
    valueName: "bytes",
    defaultText: "1048576",
  },
  "log-level": {
    type: "string",
    description: "least severe log lines written: debug, info, warn or error",
    valueName: "level",
    defaultText: "info",
  },
  "log-format": {
    type: "string",
    description: "log line format: text, or json (one object per line)",
    valueName: "format",
    defaultText: "text",
  },
  "version": { type: "boolean", description: "print the version and exit" },
  "help": { type: "boolean", aliases: ["h"], description: "show this help" },
};

/** Usage text of the registry-service. */
export const SERVICE_USAGE: string = `Usage: registry-service [options]

Runs a registry-service: its own etcd member plus a libp2p node on the private
network that answers registry requests. Prints each listen multiaddr (with
/p2p/<peer id>) on its own line at start-up.

Options:
${formatFlags(SERVICE_FLAGS)}
`;

/** A one-off cluster task run instead of the service (see `cluster_tasks.ts`). */
export type ClusterTask =
  | { kind: "leave" }
  | { kind: "snapshot"; path: string }
  | { kind: "etcdctl-flags" };

/** How the service logs (`-log-level`, `-log-format`). */
export interface LogOptions {
  /** Least severe level written. */
  level: LogLevel;
  /** Line format. */
  format: LogFormat;
}

/** What the command line asks for. */
export type ServiceCommand = {
  /** Print the usage (or, with `version`, the version) and exit. */
  help: true;
  version?: true;
} | {
  help: false;
  config: RegistryServiceConfig;
  /** How to log. */
  log: LogOptions;
  /** Where to read the passphrase from (`-psk-file`); it replaces `config.psk`. */
  pskFile?: string;
  /** Run this task and exit instead of running the service. */
  task?: ClusterTask;
};

function positiveInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`-${flag} must be a positive integer, got "${value}"`);
  }
  return Number(value);
}

function percent(value: string | undefined, flag: string): number | undefined {
  const n = positiveInteger(value, flag);
  if (n !== undefined && n > 100) throw new UsageError(`-${flag} must be 1 to 100, got ${n}`);
  return n;
}

/** `values` without its undefined fields (so defaults spread under it survive). */
function definedOnly<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<
    T
  >;
}

function nonNegativeInteger(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`-${flag} must be an integer of 0 or more, got "${value}"`);
  }
  return Number(value);
}

/** A duration flag in seconds, in milliseconds; `undefined` when not given. */
function secondsFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!(/^\d+(\.\d+)?$/.test(value) && Number(value) > 0)) {
    throw new UsageError(`-${flag} must be a positive number of seconds, got "${value}"`);
  }
  return Number(value) * 1000;
}

function writePolicy(
  values: Record<string, unknown>,
): NonNullable<RegistryServiceConfig["writePolicy"]> {
  const mode = (values["write-policy"] as string | undefined) ?? "open";
  if (!(WRITE_POLICY_MODES as readonly string[]).includes(mode)) {
    throw new UsageError(`-write-policy must be open or owner, got "${mode}"`);
  }
  const admins = ((values.admin as string[] | undefined) ?? []).map((id) => {
    try {
      return validatePeerId(id);
    } catch (err) {
      throw new UsageError(`-admin: ${(err as Error).message}`);
    }
  });
  const adminsFile = values["admins-file"] as string | undefined;
  if (adminsFile === "") throw new UsageError("-admins-file needs a file name");
  return { mode: mode as WritePolicyMode, admins, ...(adminsFile ? { adminsFile } : {}) };
}

function oneOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
  flag: string,
): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`-${flag} must be one of ${allowed.join(", ")}, got "${value}"`);
  }
  return value as T;
}

/** Checks each `-listen` value is a TCP multiaddr libp2p can listen on. */
function listenAddrs(values: string[] | undefined): string[] {
  const addrs = values ?? ["/ip4/0.0.0.0/tcp/0"];
  for (const text of addrs) {
    let reason: string | undefined;
    try {
      const names = multiaddr(text).getComponents().map((c) => c.name);
      if (!names.includes("tcp")) reason = "no /tcp/<port> part";
    } catch (err) {
      reason = (err as Error).message;
    }
    if (reason !== undefined) {
      throw new UsageError(
        `-listen: "${text}" is not a listen multiaddr (${reason}); ` +
          "expected e.g. /ip4/0.0.0.0/tcp/4001",
      );
    }
  }
  return addrs;
}

function isLoopback(ip: string): boolean {
  return /^127\./.test(ip) || ip === "::1";
}

function port(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) {
    throw new UsageError(`-${flag} must be a port number 1-65535, got "${value}"`);
  }
  return n;
}

/**
 * Parses the registry-service's arguments into its configuration.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseServiceArgs } from "./options.ts";
 * const cmd = parseServiceArgs(["-local", "-new-etcd-cluster", "-ephemeral"], {});
 * assert.ok(!cmd.help && cmd.config.local && cmd.config.etcd.clientPort === 2379);
 * ```
 */
export function parseServiceArgs(
  args: readonly string[],
  env: Record<string, string | undefined>,
): ServiceCommand {
  const { values, positionals } = parseGoFlags(args, SERVICE_FLAGS);
  if (values.help) return { help: true };
  if (values.version) return { help: true, version: true };
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument: ${positionals[0]}`);
  }
  const str = (name: string) => values[name] as string | undefined;
  let algorithm;
  try {
    algorithm = parseKeyAlgorithm(str("algo") ?? "RSA");
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const bits = Number(str("bits") ?? "2048");
  if (!Number.isInteger(bits) || bits < 2048) {
    throw new UsageError(`-bits must be an integer of at least 2048, got "${str("bits")}"`);
  }
  const etcdIp = str("etcd-ip") ?? "127.0.0.1";
  if (!/^[0-9.]+$|^[0-9a-fA-F:]+$/.test(etcdIp)) {
    throw new UsageError(`-etcd-ip must be an IP address, got "${etcdIp}"`);
  }
  const joinTimeoutMs = secondsFlag(str("join-timeout"), "join-timeout");
  const bootstrapFlags = (values.bootstrap as string[] | undefined) ?? [];
  const bootstraps = bootstrapAddresses(bootstrapFlags, env.P2P_BOOTSTRAPS);
  try {
    // With -local the env's bootstraps are not used: only a bad -bootstrap is an error then.
    if (bootstrapFlags.length > 0 || values.local !== true) parseBootstraps(bootstraps);
  } catch (err) {
    if (!(err instanceof InvalidBootstrapError)) throw err;
    const source = bootstrapFlags.length > 0 ? "-bootstrap" : "P2P_BOOTSTRAPS";
    throw new UsageError(`${source}: ${err.message}`);
  }
  const promListenAddr = str("prom-listen-addr") ?? ":9102";
  try {
    parseListenAddress(promListenAddr);
  } catch (err) {
    throw new UsageError(`-prom-listen-addr: ${(err as Error).message}`);
  }
  const learnerTimeoutMs = secondsFlag(str("learner-timeout"), "learner-timeout");
  const maxVoters = positiveInteger(str("max-voters"), "max-voters");
  if (maxVoters !== undefined && maxVoters > 7) {
    throw new UsageError(`-max-voters must be 1 to 7 (etcd's guidance), got ${maxVoters}`);
  }
  const deadMemberAfterMs = secondsFlag(str("dead-member-after"), "dead-member-after");
  const hangTimeoutMs = secondsFlag(str("hang-timeout"), "hang-timeout");
  const voterEligible = str("voter-eligible") ?? "true";
  if (!/^(true|false)$/.test(voterEligible)) {
    throw new UsageError(`-voter-eligible must be true or false, got "${voterEligible}"`);
  }
  const pskFile = str("psk-file");
  if (pskFile !== undefined && str("psk") !== undefined) {
    throw new UsageError("-psk and -psk-file cannot be combined");
  }
  if (pskFile === "") throw new UsageError("-psk-file needs a file name");
  const psk = pskFile !== undefined ? undefined : str("psk") ?? env.P2P_PSK;
  const insecureEtcd = values["insecure-etcd"] === true;
  if (pskFile === undefined && !psk && !insecureEtcd && !isLoopback(etcdIp)) {
    throw new UsageError(
      `-etcd-ip ${etcdIp} is not a loopback address and there is no PSK, so etcd would serve ` +
        "plain http to the network: give a PSK (-psk-file) for mutual TLS, or pass " +
        "-insecure-etcd to accept that anyone who reaches it can rewrite the registry",
    );
  }
  if (
    values.local === true && values["new-etcd-cluster"] !== true && bootstrapFlags.length === 0 &&
    values["leave-cluster"] !== true && str("snapshot") === undefined &&
    values["etcdctl-flags"] !== true
  ) {
    throw new UsageError(
      "-local needs -new-etcd-cluster (or -bootstrap to join): without bootstraps there is no " +
        "cluster to join",
    );
  }
  const snapshot = str("snapshot");
  if (snapshot === "") throw new UsageError("-snapshot needs a file name");
  if (snapshot !== undefined && values["leave-cluster"] === true) {
    throw new UsageError("-snapshot and -leave-cluster cannot be combined");
  }
  const task: ClusterTask | undefined = snapshot !== undefined
    ? { kind: "snapshot", path: snapshot }
    : values["leave-cluster"] === true
    ? { kind: "leave" }
    : values["etcdctl-flags"] === true
    ? { kind: "etcdctl-flags" }
    : undefined;
  return {
    help: false,
    ...(task ? { task } : {}),
    log: {
      level: oneOf(str("log-level"), LOG_LEVELS, "info", "log-level"),
      format: oneOf(str("log-format"), LOG_FORMATS, "text", "log-format"),
    },
    ...(pskFile !== undefined ? { pskFile } : {}),
    config: {
      identity: {
        algorithm,
        bits,
        keyFile: str("keyfile") ?? "~/.privKeyHashLookup",
        ephemeral: values.ephemeral === true,
      },
      psk,
      insecureEtcd,
      bootstraps,
      local: values.local === true,
      newEtcdCluster: values["new-etcd-cluster"] === true,
      etcd: {
        ip: etcdIp,
        clientPort: port(str("etcd-client-port"), 2379, "etcd-client-port"),
        peerPort: port(str("etcd-peer-port"), 2380, "etcd-peer-port"),
        dataDir: str("etcd-data-dir"),
        binary: str("etcd-binary"),
      },
      joinTimeoutMs,
      listen: listenAddrs(values.listen as string[] | undefined),
      promListenAddr,
      compaction: {
        retention: nonNegativeInteger(str("compaction-retention"), 10_000, "compaction-retention"),
        intervalMs: secondsFlag(str("compaction-interval"), "compaction-interval") ?? 60_000,
      },
      writePolicy: writePolicy(values),
      historyLimit: positiveInteger(str("history"), "history"),
      maxInFlightPerPeer: positiveInteger(str("max-in-flight-per-peer"), "max-in-flight-per-peer"),
      hostSharePercent: percent(str("max-host-share"), "max-host-share"),
      learnerTimeoutMs,
      watch: definedOnly({
        maxWatchers: positiveInteger(str("max-watchers"), "max-watchers"),
        maxWatchersPerPeer: positiveInteger(str("max-watchers-per-peer"), "max-watchers-per-peer"),
        maxQueuedBytes: positiveInteger(str("watch-buffer"), "watch-buffer"),
      }),
      maxVoters,
      deadMemberAfterMs,
      hangTimeoutMs,
      voterEligible: voterEligible === "true",
    },
  };
}
