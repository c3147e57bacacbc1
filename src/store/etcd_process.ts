/**
 * Running this instance's own etcd member as a child process.
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import { abortableSleep } from "../_sleep.ts";

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
}

/**
 * The member name the original uses: `<ip>-<client port>-<peer port>`.
 *
 * @example
 * ```ts
 * import { etcdMemberName } from "./etcd_process.ts";
 * console.assert(etcdMemberName({ ip: "127.0.0.1", clientPort: 2379, peerPort: 2380 }) === "127.0.0.1-2379-2380");
 * ```
 */
export function etcdMemberName(address: EtcdMemberAddress): string {
  return `${address.ip}-${address.clientPort}-${address.peerPort}`;
}

function hostForUrl(ip: string): string {
  return ip.includes(":") ? `[${ip}]` : ip;
}

/**
 * The member's client URL, `http://<ip>:<client port>`.
 *
 * @example
 * ```ts
 * import { etcdClientUrl } from "./etcd_process.ts";
 * console.assert(etcdClientUrl({ ip: "10.0.0.1", clientPort: 2379, peerPort: 2380 }) === "http://10.0.0.1:2379");
 * ```
 */
export function etcdClientUrl(address: EtcdMemberAddress): string {
  return `http://${hostForUrl(address.ip)}:${address.clientPort}`;
}

/**
 * The member's peer URL, `http://<ip>:<peer port>`.
 *
 * @example
 * ```ts
 * import { etcdPeerUrl } from "./etcd_process.ts";
 * console.assert(etcdPeerUrl({ ip: "10.0.0.1", clientPort: 2379, peerPort: 2380 }) === "http://10.0.0.1:2380");
 * ```
 */
export function etcdPeerUrl(address: EtcdMemberAddress): string {
  return `http://${hostForUrl(address.ip)}:${address.peerPort}`;
}

/** Options for {@linkcode startEtcd}. */
export interface StartEtcdOptions extends EtcdMemberAddress {
  /** Data directory (created by etcd when missing). */
  dataDir: string;
  /** `--initial-cluster` value; defaults to this member alone. */
  initialCluster?: string;
  /** `--initial-cluster-state`. */
  clusterState: "new" | "existing";
  /** The etcd binary (default `etcd` on PATH). */
  binary?: string;
  /** Receives etcd's output, one line at a time. */
  logger: Logger;
  /** How long to wait for etcd to become healthy (ms, default 30 s). */
  startTimeoutMs?: number;
}

/** A running etcd member. */
export interface EtcdProcess {
  /** The member's name. */
  readonly name: string;
  /** The client URL to connect to. */
  readonly clientUrl: string;
  /** The peer URL. */
  readonly peerUrl: string;
  /** The child's process id. */
  readonly pid: number;
  /** Resolves with the exit code when etcd exits, for whatever reason. */
  readonly exited: Promise<number>;
  /** Stops etcd (SIGTERM, then SIGKILL after `graceMs`) and waits for it to exit. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts an etcd member and waits until it reports healthy. Its output goes
 * to the logger prefixed with `etcd:`.
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
  const binary = options.binary ?? "etcd";
  const name = etcdMemberName(options);
  const clientUrl = etcdClientUrl(options);
  const peerUrl = etcdPeerUrl(options);
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
  ];
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(binary, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new EtcdNotFoundError(binary, { cause: err });
    throw err;
  }
  const recent: string[] = [];
  const pipe = async (stream: ReadableStream<Uint8Array>) => {
    const lines = stream.pipeThrough(new TextDecoderStream()).pipeThrough(lineSplitter());
    for await (const line of lines) {
      if (line.trim() === "") continue;
      recent.push(line);
      if (recent.length > 20) recent.shift();
      options.logger.info(`etcd: ${line}`);
    }
  };
  const piped = Promise.all([pipe(child.stdout), pipe(child.stderr)]);
  const exited = child.status.then(async (status) => {
    await piped.catch(() => {});
    return status.code;
  });
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const stop = async (graceMs = 10_000) => {
    if (hasExited) return;
    try {
      child.kill("SIGTERM");
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

  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  while (true) {
    if (hasExited) {
      throw new EtcdStartError(
        `etcd exited during start-up with code ${await exited}; its last output:\n${
          recent.join("\n")
        }`,
      );
    }
    if (await isHealthy(clientUrl)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new EtcdStartError(
        `etcd did not become healthy at ${clientUrl} within ${
          options.startTimeoutMs ?? 30_000
        } ms; its last output:\n${recent.join("\n")}`,
      );
    }
    await abortableSleep(100);
  }
  return { name, clientUrl, peerUrl, pid: child.pid, exited, stop };
}

/**
 * Whether the etcd member at `clientUrl` answers `/health` with healthy.
 *
 * @example
 * ```ts ignore
 * console.log(await isHealthy("http://127.0.0.1:2379"));
 * ```
 */
export async function isHealthy(clientUrl: string, timeoutMs = 2_000): Promise<boolean> {
  try {
    const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.json() as { health?: string };
    return res.ok && body.health === "true";
  } catch {
    return false;
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
