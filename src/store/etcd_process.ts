/**
 * Running this instance's own etcd member as a child process.
 *
 * @module
 */
import type { Etcd3 } from "etcd3";
import type { Logger } from "../log/logger.ts";
import { retry } from "../_retry.ts";
import {
  createEtcdClient,
  createMemberProbe,
  listMembers,
  ownMemberStatus,
} from "./etcd_cluster.ts";
import type { EtcdTls, MemberCertificate } from "./tls.ts";

/** Thrown when the etcd binary is missing. */
export class EtcdNotFoundError extends Error {
  /**
   * @param binary The binary that was looked for.
   * @param options Standard error options (`cause`).
   */
  constructor(binary: string, options?: ErrorOptions) {
    super(
      `etcd binary "${binary}" not found: install it (Debian/Ubuntu: apt-get install etcd-server) ` +
        "or pass its path with -etcd-binary",
      options,
    );
    this.name = "EtcdNotFoundError";
  }
}

/** Thrown when etcd exits during start-up or does not become healthy. */
export class EtcdStartError extends Error {
  /**
   * @param message What happened, with etcd's last output.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EtcdStartError";
  }
}

/** Where one etcd member listens. */
export interface EtcdMemberAddress {
  /** IP for both client and peer URLs. */
  ip: string;
  /** Client port. */
  clientPort: number;
  /** Peer port. */
  peerPort: number;
  /** The member's certificate: with it both listeners serve `https://` and require certificates. */
  tls?: MemberCertificate;
}

/**
 * The member name the original uses: `<ip>-<client port>-<peer port>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { etcdMemberName } from "./etcd_process.ts";
 * assert.equal(etcdMemberName({ ip: "127.0.0.1", clientPort: 2379, peerPort: 2380 }), "127.0.0.1-2379-2380");
 * ```
 */
export function etcdMemberName(address: EtcdMemberAddress): string {
  return `${address.ip}-${address.clientPort}-${address.peerPort}`;
}

function hostForUrl(ip: string): string {
  return ip.includes(":") ? `[${ip}]` : ip;
}

function scheme(address: EtcdMemberAddress): string {
  return address.tls ? "https" : "http";
}

/**
 * The member's client URL, `http(s)://<ip>:<client port>` (https with TLS).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { etcdClientUrl } from "./etcd_process.ts";
 * assert.equal(etcdClientUrl({ ip: "10.0.0.1", clientPort: 2379, peerPort: 2380 }), "http://10.0.0.1:2379");
 * ```
 */
export function etcdClientUrl(address: EtcdMemberAddress): string {
  return `${scheme(address)}://${hostForUrl(address.ip)}:${address.clientPort}`;
}

/**
 * The member's peer URL, `http(s)://<ip>:<peer port>` (https with TLS).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { etcdPeerUrl } from "./etcd_process.ts";
 * assert.equal(etcdPeerUrl({ ip: "10.0.0.1", clientPort: 2379, peerPort: 2380 }), "http://10.0.0.1:2380");
 * ```
 */
export function etcdPeerUrl(address: EtcdMemberAddress): string {
  return `${scheme(address)}://${hostForUrl(address.ip)}:${address.peerPort}`;
}

/**
 * etcd's flags for mutual TLS on both listeners: its certificate for
 * serving and for dialling peers, and only certificates from the network's
 * CA accepted from clients and peers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { etcdTlsFlags } from "./etcd_process.ts";
 * const flags = etcdTlsFlags({ caFile: "ca.crt", certFile: "m.crt", keyFile: "m.key" });
 * assert.ok(flags.includes("--client-cert-auth") && flags.includes("--peer-client-cert-auth"));
 * ```
 */
export function etcdTlsFlags(tls: Pick<EtcdTls, "caFile" | "certFile" | "keyFile">): string[] {
  return [
    "--cert-file",
    tls.certFile,
    "--key-file",
    tls.keyFile,
    "--trusted-ca-file",
    tls.caFile,
    "--client-cert-auth",
    "--peer-cert-file",
    tls.certFile,
    "--peer-key-file",
    tls.keyFile,
    "--peer-trusted-ca-file",
    tls.caFile,
    "--peer-client-cert-auth",
  ];
}

/** Options for {@linkcode startEtcd}. */
export interface StartEtcdOptions extends EtcdMemberAddress {
  /** The member's TLS files, which etcd reads. */
  tls?: EtcdTls;
  /** Data directory (created by etcd when missing). */
  dataDir: string;
  /** `--initial-cluster` value; defaults to this member alone. */
  initialCluster?: string;
  /** `--initial-cluster-state`. */
  clusterState: "new" | "existing";
  /** The etcd binary (default `etcd` on PATH). */
  binary?: string;
  /** Receives etcd's output, one line at a time, at the level etcd gave it. */
  logger: Logger;
  /** How long to wait for etcd to become healthy (ms, default 30 s). */
  startTimeoutMs?: number;
  /**
   * Whether etcd has to answer `/health` before start-up is over (default
   * true). A learner cannot: it has no vote, so its `/health` stays false
   * until it is promoted; start-up then waits for its status instead.
   */
  waitForHealth?: boolean;
}

/** A running etcd member. */
export interface EtcdProcess {
  /** The member's name. */
  readonly name: string;
  /** The member's id (a uint64 in decimal), checked against the member that answers. */
  readonly id: string;
  /** The client URL to connect to. */
  readonly clientUrl: string;
  /** The peer URL. */
  readonly peerUrl: string;
  /** The member's TLS files, when it serves TLS. */
  readonly tls?: EtcdTls;
  /** The child's process id. */
  readonly pid: number;
  /** Resolves with the exit code when etcd exits, for whatever reason. */
  readonly exited: Promise<number>;
  /**
   * Stops etcd (SIGTERM, then SIGKILL after `graceMs`; 0: SIGKILL at once) and
   * waits for it to exit.
   */
  stop(graceMs?: number): Promise<void>;
}

/**
 * The level of one line of etcd's output: etcd 3.4 writes
 * `<date> <time> <letter> | <text>` (capnslog; its raft library
 * `raft<date> <time> <LEVEL>: <text>`) or JSON with a `level` field (zap). Errors (C, E) stay errors and warnings warnings; the rest
 * (start-up chatter, I, N, D) is debug.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { etcdLineLevel } from "./etcd_process.ts";
 * assert.equal(etcdLineLevel("2026-01-01 10:00:00.000000 E | rafthttp: lost the TCP streaming"), "error");
 * assert.equal(etcdLineLevel("2026-01-01 10:00:00.000000 W | auth: simple token"), "warn");
 * assert.equal(etcdLineLevel("2026-01-01 10:00:00.000000 I | etcdmain: etcd Version: 3.4.23"), "debug");
 * assert.equal(etcdLineLevel('{"level":"warn","msg":"x"}'), "warn");
 * assert.equal(etcdLineLevel("[WARNING] Deprecated '--logger=capnslog' flag is set"), "debug");
 * ```
 */
export function etcdLineLevel(line: string): "debug" | "warn" | "error" {
  const letter = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ ([CEWNID]) \|/.exec(line)?.[1] ??
    /^raft\S+ \S+ (\w+):/.exec(line)?.[1]?.[0] ?? /"level":"(\w+)"/.exec(line)?.[1];
  switch (letter) {
    case "C":
    case "E":
    case "P":
    case "error":
    case "dpanic":
    case "panic":
    case "fatal":
      return "error";
    case "W":
    case "warn":
      return "warn";
    default:
      return "debug";
  }
}

/** The pid file of the etcd started on `dataDir`. */
function pidFilePath(dataDir: string): string {
  return `${dataDir}/etcd.pid`;
}

async function commandLine(pid: number): Promise<string[] | undefined> {
  try {
    const text = await Deno.readTextFile(`/proc/${pid}/cmdline`);
    // A zombie (exited, not yet reaped) has an empty command line.
    return text === "" ? undefined : text.split("\0");
  } catch {
    return undefined;
  }
}

async function parentPid(pid: number): Promise<number | undefined> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    return Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
  } catch {
    return undefined;
  }
}

/**
 * Stops an etcd that a previous run left on `dataDir` (its service was
 * killed before it could stop it). The pid file names the process; its
 * command line (an etcd with this `--data-dir`) proves it is ours and not
 * a later process that reused the pid. An etcd whose parent still runs (a
 * registry-service using it, or `-leave-cluster`) is not left over: start-up
 * is refused with its pid instead. Returns the pid it stopped, if any.
 *
 * @example
 * ```ts ignore
 * await stopLeftoverEtcd("/var/lib/registry/etcd", logger);
 * ```
 */
export async function stopLeftoverEtcd(
  dataDir: string,
  logger: Logger,
): Promise<number | undefined> {
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(pidFilePath(dataDir))).trim());
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  const argv = Number.isInteger(pid) && pid > 0 ? await commandLine(pid) : undefined;
  const dirAt = argv?.indexOf("--data-dir") ?? -1;
  if (!argv || dirAt < 0 || argv[dirAt + 1] !== dataDir || !/etcd$/.test(argv[0])) {
    await Deno.remove(pidFilePath(dataDir)).catch(() => {});
    return undefined;
  }
  const parent = await parentPid(pid);
  if (parent !== undefined && parent > 1) {
    throw new EtcdStartError(
      `etcd (pid ${pid}) of a running process (pid ${parent}) holds ${dataDir}: stop this ` +
        "instance's registry-service first",
    );
  }
  logger.warn(`a leftover etcd (pid ${pid}) of an earlier run holds ${dataDir}: stopping it`);
  const gone = async () => (await commandLine(pid)) === undefined;
  try {
    Deno.kill(pid, "SIGTERM");
    await retry(async () => {
      if (!await gone()) throw new Error(`etcd pid ${pid} still running`);
    }, { initialDelayMs: 50, maxDelayMs: 500, deadline: Date.now() + 10_000 });
  } catch {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Gone meanwhile.
    }
    await retry(async () => {
      if (!await gone()) throw new Error(`etcd pid ${pid} survived SIGKILL`);
    }, { initialDelayMs: 50, maxDelayMs: 500, deadline: Date.now() + 5_000 }).catch(() => {
      throw new EtcdStartError(
        `a leftover etcd (pid ${pid}) holds ${dataDir} and does not stop; kill it and start again`,
      );
    });
  }
  await Deno.remove(pidFilePath(dataDir)).catch(() => {});
  return pid;
}

async function resolveBinary(binary: string): Promise<string> {
  const candidates = binary.includes("/")
    ? [binary]
    : (Deno.env.get("PATH") ?? "").split(":").filter((d) => d).map((d) => `${d}/${binary}`);
  for (const path of candidates) {
    try {
      const info = await Deno.stat(path);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return path;
    } catch {
      // Not here.
    }
  }
  throw new EtcdNotFoundError(binary);
}

/**
 * Starts an etcd member and waits until it is up: healthy, and answering
 * as the member it was started as (its name and id, so that a port taken by
 * some other etcd is never mistaken for ours). Its output goes to the
 * logger, prefixed with `etcd:`, at the level of each line.
 *
 * etcd runs under `setpriv --pdeathsig SIGKILL` (util-linux): the kernel
 * kills it when this process dies, however it dies (SIGKILL included), so a
 * killed service never leaves an etcd serving its data. A pipe that etcd
 * watches would need a wrapper process, because etcd cannot watch one;
 * setpriv replaces itself with etcd (no extra process, and the pid is
 * etcd's). The death signal follows the thread that spawned the child, and
 * Deno spawns from its main thread, which lives as long as the process.
 * A pid file in the data directory lets the next start recognise a
 * leftover etcd anyway (see {@linkcode stopLeftoverEtcd}).
 *
 * @example
 * ```ts ignore
 * const etcd = await startEtcd({
 *   ip: "127.0.0.1", clientPort: 2379, peerPort: 2380, dataDir: "default.etcd",
 *   clusterState: "new", logger,
 * });
 * await etcd.stop();
 * ```
 */
export async function startEtcd(options: StartEtcdOptions): Promise<EtcdProcess> {
  const binary = await resolveBinary(options.binary ?? "etcd");
  const name = etcdMemberName(options);
  const clientUrl = etcdClientUrl(options);
  const peerUrl = etcdPeerUrl(options);
  await stopLeftoverEtcd(options.dataDir, options.logger);
  const args = [
    "--name",
    name,
    "--data-dir",
    options.dataDir,
    "--listen-client-urls",
    clientUrl,
    "--advertise-client-urls",
    clientUrl,
    "--listen-peer-urls",
    peerUrl,
    "--initial-advertise-peer-urls",
    peerUrl,
    "--initial-cluster",
    options.initialCluster ?? `${name}=${peerUrl}`,
    "--initial-cluster-state",
    options.clusterState,
    ...(options.tls ? etcdTlsFlags(options.tls) : []),
  ];
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("setpriv", {
      args: ["--pdeathsig", "SIGKILL", "--", binary, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new EtcdStartError(
        "setpriv not found: it ties etcd's lifetime to the service's; install util-linux",
        { cause: err },
      );
    }
    throw err;
  }
  await Deno.mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  await Deno.writeTextFile(pidFilePath(options.dataDir), `${child.pid}\n`);
  const recent: string[] = [];
  const pipe = async (stream: ReadableStream<Uint8Array>) => {
    const lines = stream.pipeThrough(new TextDecoderStream()).pipeThrough(lineSplitter());
    for await (const line of lines) {
      if (line.trim() === "") continue;
      recent.push(line);
      if (recent.length > 20) recent.shift();
      // etcd warns about every file in its data directory it does not know, ours included.
      const ours = /found invalid file\/dir (tls|etcd\.pid) under data dir/.test(line);
      options.logger[ours ? "debug" : etcdLineLevel(line)](`etcd: ${line}`);
    }
  };
  const piped = Promise.all([pipe(child.stdout), pipe(child.stderr)]);
  const exited = child.status.then(async (status) => {
    await piped.catch(() => {});
    await Deno.remove(pidFilePath(options.dataDir)).catch(() => {});
    return status.code;
  });
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const stop = async (graceMs = 10_000) => {
    if (hasExited) return;
    try {
      child.kill(graceMs === 0 ? "SIGKILL" : "SIGTERM");
    } catch {
      // Already gone.
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, graceMs);
    await exited;
    clearTimeout(timer);
  };

  const timeoutMs = options.startTimeoutMs ?? 30_000;
  const lastOutput = () => `its last output:\n${recent.join("\n")}`;
  const client = createEtcdClient(clientUrl, options.tls);
  let id: string;
  try {
    id = await retry(async () => {
      if (hasExited) {
        throw new EtcdStartError(
          `etcd exited during start-up with code ${await exited}; ${lastOutput()}`,
        );
      }
      if ((options.waitForHealth ?? true) && !await isHealthy(clientUrl, options.tls)) {
        throw new Error("not healthy yet");
      }
      return await checkOwnMember(client, name);
    }, {
      initialDelayMs: 100,
      maxDelayMs: 500,
      deadline: Date.now() + timeoutMs,
      isRetriable: (err) => !(err instanceof EtcdStartError),
    });
  } catch (err) {
    await stop();
    if (err instanceof EtcdStartError) throw err;
    throw new EtcdStartError(
      `etcd did not become healthy at ${clientUrl} within ${timeoutMs} ms ` +
        `(${(err as Error).message}); ${lastOutput()}`,
      { cause: err },
    );
  } finally {
    client.close();
  }
  return { name, id, clientUrl, peerUrl, tls: options.tls, pid: child.pid, exited, stop };
}

/**
 * The id of the member behind `client`, checked to be the member named
 * `name`: a member that has not published its name yet is retried. A
 * learner cannot be asked for the member list (etcd 3.4 refuses it), so its
 * name is checked once it is a voter ({@linkcode checkOwnMember} again).
 *
 * @example
 * ```ts ignore
 * const id = await checkOwnMember(client, "10.0.0.1-2379-2380");
 * ```
 */
export async function checkOwnMember(client: Etcd3, name: string): Promise<string> {
  const { id, isLearner } = await ownMemberStatus(client);
  if (isLearner) return id;
  const member = (await listMembers(client)).find((m) => m.id === id);
  if (member?.name === name) return id;
  if (member && member.name !== "") {
    throw new EtcdStartError(
      `the etcd answering at our client URL is member ${member.name} (id ${id}), not ${name}: ` +
        "another etcd uses this instance's client port; change -etcd-client-port",
    );
  }
  throw new Error(`member ${id} has not published its name yet`);
}

/**
 * Whether the etcd member at `clientUrl` answers `/health` with healthy
 * (with TLS, presenting the member's certificate).
 *
 * @example
 * ```ts ignore
 * console.log(await isHealthy("http://127.0.0.1:2379"));
 * ```
 */
export async function isHealthy(
  clientUrl: string,
  tls?: MemberCertificate,
  timeoutMs = 2_000,
): Promise<boolean> {
  const probe = createMemberProbe(tls);
  try {
    return await probe.health(clientUrl, timeoutMs) === true;
  } finally {
    probe.close();
  }
}

function lineSplitter(): TransformStream<string, string> {
  let buffer = "";
  return new TransformStream({
    transform(chunk, controller) {
      buffer += chunk;
      const lines = buffer.split("\n");
      buffer = lines.pop() ?? "";
      for (const line of lines) controller.enqueue(line);
    },
    flush(controller) {
      if (buffer) controller.enqueue(buffer);
    },
  });
}
