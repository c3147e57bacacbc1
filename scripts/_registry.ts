/**
 * Registry-service processes spawned as users run them, on loopback ports the
 * OS picks, each with its own temporary etcd data directory: for the tests
 * (through `tests/_registry.ts`) and the benchmarks. Always stop them in
 * `finally`.
 */

import { etcdTlsPaths, type MemberCertificate } from "../src/store/tls.ts";

const ROOT = new URL("../", import.meta.url);
/** Absolute path of a file at the repository's top level. */
export function repoPath(name: string): string {
  return new URL(name, ROOT).pathname;
}

/** A free TCP port on 127.0.0.1 (released before it is returned). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** How long `stop()` waits for a service to exit before SIGKILL. */
const STOP_GRACE_MS = 30_000;

/**
 * The V8 flags `deno task start` and `deno task compile` give the service
 * (README, performance): tests and the bench run it the way it ships.
 */
export const SERVICE_V8_FLAGS = "--v8-flags=--max-semi-space-size=4";

/** A running registry-service started by {@linkcode startService}. */
export interface ServiceProcess {
  /** First listen multiaddr with `/p2p/<id>` (usable as a bootstrap). */
  addr: string;
  /** Every printed listen multiaddr. */
  addrs: string[];
  /** etcd client URL (https when the service has a PSK: mutual TLS). */
  etcdUrl: string;
  /** The member's certificate for etcd clients (with a PSK). */
  etcdTls?: MemberCertificate;
  /** `etcdctl` flags for this member: endpoint and, with TLS, its certificate files. */
  etcdctlFlags: string[];
  /** etcd client and peer ports. */
  clientPort: number;
  peerPort: number;
  /** etcd data directory. */
  dataDir: string;
  /** The file the PSK was given in (`-psk-file`), if any. */
  pskFile?: string;
  /** `http://127.0.0.1:<port>` of /metrics and /health. */
  httpUrl: string;
  /** The child process. */
  child: Deno.ChildProcess;
  /** Everything the service logged so far. */
  log(): string;
  /**
   * Waits until the log matches `pattern` (the service writes its log in
   * batches, a few ms late) and returns the log; throws after `timeoutMs`.
   */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /**
   * Sends SIGTERM and waits; returns the exit code. A service still running
   * 30 s later is killed and the call throws with its log.
   */
  stop(signal?: Deno.Signal): Promise<number>;
}

/**
 * Where `service` kept its etcd member (its ports and data directory): spread it into the
 * options of {@linkcode startService} to start an instance again on the same member.
 */
export function sameMember(
  service: Pick<ServiceProcess, "clientPort" | "peerPort" | "dataDir">,
): Pick<StartServiceOptions, "clientPort" | "peerPort" | "dataDir"> {
  return { clientPort: service.clientPort, peerPort: service.peerPort, dataDir: service.dataDir };
}

/** Options for {@linkcode startService}. */
export interface StartServiceOptions {
  /** Network passphrase, given with -psk-file (so it stays out of the command line). */
  psk?: string;
  /** Start a new etcd cluster (default true). */
  newCluster?: boolean;
  bootstraps?: string[];
  /** Reuse ports and data directory (restart). */
  clientPort?: number;
  peerPort?: number;
  dataDir?: string;
  /** Extra flags. */
  args?: string[];
  /** Extra flags of `deno run` itself (e.g. `--cpu-prof`). */
  runtimeArgs?: string[];
  env?: Record<string, string>;
  /** Keep only about this many characters of the log (its end); everything when omitted. */
  logLimit?: number;
  /** How long to wait for the listen addresses before killing it (default 60 s). */
  startTimeoutMs?: number;
}

/**
 * A temporary etcd data directory, removed when the process exits: tests start
 * services again on a stopped one's directory, so stopping cannot remove it
 * (each holds 128 MB of preallocated WAL; left behind, they filled the disk).
 */
export async function tempDataDir(prefix = "registry-etcd-"): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // Already removed by the test.
    }
  });
  return dir;
}

/**
 * Spawns `service.ts` and waits until it prints its multiaddr. The process
 * runs in its own temp working directory.
 */
export async function startService(options: StartServiceOptions = {}): Promise<ServiceProcess> {
  for (let attempt = 1;; attempt++) {
    try {
      return await startServiceOnce(options);
    } catch (err) {
      // freePort() releases its port before the service binds it, and another
      // socket (an outgoing connection's local port, say) can take it first.
      if (attempt < 3 && /address already in use/i.test((err as Error).message)) continue;
      throw err;
    }
  }
}

async function startServiceOnce(options: StartServiceOptions): Promise<ServiceProcess> {
  const clientPort = options.clientPort ?? freePort();
  const peerPort = options.peerPort ?? freePort();
  const dataDir = options.dataDir ?? await tempDataDir();
  const httpPort = freePort();
  const args = [
    "run",
    "-A",
    SERVICE_V8_FLAGS,
    ...(options.runtimeArgs ?? []),
    repoPath("service.ts"),
    "-ephemeral",
    "-algo",
    "ed25519",
    "-listen",
    "/ip4/127.0.0.1/tcp/0",
    "-etcd-client-port",
    String(clientPort),
    "-etcd-peer-port",
    String(peerPort),
    "-etcd-data-dir",
    dataDir,
    "-prom-listen-addr",
    `127.0.0.1:${httpPort}`,
  ];
  if (options.newCluster ?? true) args.push("-new-etcd-cluster");
  if (options.bootstraps?.length) {
    for (const b of options.bootstraps) args.push("-bootstrap", b);
  } else {
    args.push("-local");
  }
  let pskFile: string | undefined;
  if (options.psk !== undefined) {
    pskFile = await Deno.makeTempFile({ prefix: "registry-psk-" });
    await Deno.writeTextFile(pskFile, options.psk, { mode: 0o600 });
    const path = pskFile;
    globalThis.addEventListener("unload", () => Deno.removeSync(path));
    args.push("-psk-file", pskFile);
  }
  args.push(...(options.args ?? []));
  const tls = options.psk && !args.includes("-insecure-etcd");
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: dataDir,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let logText = "";
  const errPump = (async () => {
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
      logText += text;
      if (options.logLimit && logText.length > 2 * options.logLimit) {
        logText = logText.slice(-options.logLimit);
      }
    }
  })();
  const addrs: string[] = [];
  let outText = "";
  const outPump = (async () => {
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) outText += text;
  })();
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const deadline = Date.now() + startTimeoutMs;
  let exited: number | undefined;
  void child.status.then((s) => (exited = s.code));
  while (!outText.includes("\n")) {
    if (exited !== undefined || Date.now() > deadline) {
      // Still running after the deadline: kill it first, or its pipes never end and this waits forever.
      const killed = exited === undefined;
      if (killed) {
        try {
          child.kill("SIGKILL");
        } catch {
          // Exited meanwhile.
        }
        await child.status;
      }
      await Promise.all([errPump, outPump]).catch(() => {});
      const why = killed ? `within ${startTimeoutMs} ms; killed` : `exit ${exited}`;
      throw new Error(`registry-service did not start (${why}):\n${logText.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  // All addresses are printed in one go; give the rest of the lines a moment.
  await new Promise((r) => setTimeout(r, 50));
  addrs.push(...outText.split("\n").filter((l) => l.startsWith("/")));
  let stopped: Promise<number> | undefined;
  const etcdUrl = `${tls ? "https" : "http"}://127.0.0.1:${clientPort}`;
  const etcdctlFlags = [`--endpoints=${etcdUrl}`];
  let etcdTls: MemberCertificate | undefined;
  if (tls) {
    const paths = etcdTlsPaths(dataDir);
    etcdctlFlags.push(
      `--cacert=${paths.caFile}`,
      `--cert=${paths.certFile}`,
      `--key=${paths.keyFile}`,
    );
    const [ca, cert, key] = await Promise.all(
      [paths.caFile, paths.certFile, paths.keyFile].map((f) => Deno.readTextFile(f)),
    );
    etcdTls = { ca, cert, key };
  }
  return {
    addr: addrs[0],
    addrs,
    etcdUrl,
    etcdTls,
    etcdctlFlags,
    clientPort,
    peerPort,
    dataDir,
    pskFile,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    child,
    log: () => logText,
    async waitForLog(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(logText)) {
        if (Date.now() > deadline) {
          throw new Error(`log never matched ${pattern}:\n${logText.slice(-4000)}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      return logText;
    },
    stop(signal: Deno.Signal = "SIGTERM") {
      stopped ??= (async () => {
        try {
          child.kill(signal);
        } catch {
          // Already exited.
        }
        // A service that ignores SIGTERM is a defect to report, not a suite to hang.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const hung = await Promise.race([
          child.status.then(() => false),
          new Promise<boolean>((r) => (timer = setTimeout(() => r(true), STOP_GRACE_MS))),
        ]);
        clearTimeout(timer);
        if (hung) child.kill("SIGKILL");
        const status = await child.status;
        await Promise.all([errPump, outPump]).catch(() => {});
        if (hung) {
          throw new Error(
            `registry-service pid ${child.pid} ignored ${signal} for ${STOP_GRACE_MS / 1000} s; ` +
              `killed:\n${logText.slice(-4000)}`,
          );
        }
        return status.code;
      })();
      return stopped;
    },
  };
}

/** Result of running the CLI. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end with no input; returns its exit code and output. */
export async function runCommand(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<CliResult> {
  const out = await new Deno.Command(command, { args, env, stdin: "null" }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

let cliConfigHome: string | undefined;

/**
 * A config directory of this process, removed when it exits: the CLI keeps
 * its key under XDG_CONFIG_HOME, and tests must not write the user's.
 */
export function testConfigHome(): string {
  if (cliConfigHome === undefined) {
    const dir = Deno.makeTempDirSync({ prefix: "registry-cli-config-" });
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // Already removed.
      }
    });
    cliConfigHome = dir;
  }
  return cliConfigHome;
}

/** Runs `cli.ts` as a user would (its key in {@linkcode testConfigHome}). */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCommand(Deno.execPath(), ["run", "-A", repoPath("cli.ts"), ...args], {
    NO_COLOR: "1",
    XDG_CONFIG_HOME: testConfigHome(),
    ...env,
  });
}

/** Runs `service.ts` to its end (help, usage errors, one-off tasks). */
export function runServiceCommand(args: string[]): Promise<CliResult> {
  return runCommand(Deno.execPath(), ["run", "-A", repoPath("service.ts"), ...args], {
    NO_COLOR: "1",
  });
}

/** A sample ServiceInfo. */
export function sampleInfo(n = 1): {
  ContentHash: string;
  DockerHash: string;
  NetworkSoftReq: { RTT: number };
  NetworkHardReq: { RTT: number };
  CpuReq: number;
  MemoryReq: number;
} {
  return {
    ContentHash: `QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQ${n}`,
    DockerHash: `localhost:5000/team/svc${n}@sha256:${"ab".repeat(32)}`,
    NetworkSoftReq: { RTT: 100 + n },
    NetworkHardReq: { RTT: 200 + n },
    CpuReq: 20 + n,
    MemoryReq: 1000 + n,
  };
}

/** Pids of etcd processes using `dataDir` (a service's etcd child). */
export async function etcdPids(dataDir: string): Promise<number[]> {
  const out = await new Deno.Command("pgrep", {
    args: ["-f", `etcd .*--data-dir ${dataDir}( |$)`],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.trim()).map(Number);
}
