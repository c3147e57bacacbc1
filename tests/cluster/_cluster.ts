/**
 * Helpers for the clustering tests: etcdctl, etcd processes by data
 * directory, killing an instance together with its etcd.
 */
import {
  type CliResult,
  etcdPids,
  runCommand,
  type ServiceProcess,
  startService,
  type StartServiceOptions,
} from "../_registry.ts";

export { etcdPids, runServiceCommand } from "../_registry.ts";

export const PSK = "cluster-test-passphrase";

/** An etcd member for `etcdctl`: a plain endpoint URL, or a service (with its TLS files). */
export type EtcdTarget = string | Pick<ServiceProcess, "etcdctlFlags">;

/** Runs `etcdctl` (API v3) against `target`; returns code and output. */
export function etcdctl(
  target: EtcdTarget,
  args: string[],
  timeoutSeconds = 5,
): Promise<CliResult> {
  const flags = typeof target === "string" ? [`--endpoints=${target}`] : target.etcdctlFlags;
  return runCommand(
    "etcdctl",
    // etcdctl's 2 s dial limit is not enough for a TLS handshake on a loaded two-core machine.
    [...flags, "--dial-timeout=10s", `--command-timeout=${timeoutSeconds}s`, ...args],
    { ETCDCTL_API: "3" },
  );
}

/** One row of `etcdctl member list`. */
export interface MemberRow {
  id: string;
  status: string;
  name: string;
  peerUrl: string;
  clientUrl: string;
  isLearner: boolean;
}

/** `etcdctl member list` as rows (ids stay hex strings: they do not fit a JS number). */
export async function memberList(target: EtcdTarget): Promise<MemberRow[]> {
  const res = await etcdctl(target, ["member", "list"]);
  if (res.code !== 0) throw new Error(`etcdctl member list failed: ${res.stderr}`);
  return res.stdout.trim().split("\n").filter((l) => l.trim()).map((line) => {
    const [id, status, name, peerUrl, clientUrl, learner] = line.split(",").map((s) => s.trim());
    return { id, status, name, peerUrl, clientUrl, isLearner: learner === "true" };
  });
}

/** SIGKILLs the etcd processes on `dataDir` and waits until they are gone. */
export async function killEtcd(dataDir: string): Promise<void> {
  for (const pid of await etcdPids(dataDir)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  const deadline = Date.now() + 10_000;
  while ((await etcdPids(dataDir)).length > 0) {
    if (Date.now() > deadline) throw new Error(`etcd on ${dataDir} did not die`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGKILLs an instance and its etcd child (a crash of the whole machine's share). */
export async function crash(service: ServiceProcess): Promise<void> {
  const pids = await etcdPids(service.dataDir);
  if (pids.length !== 1) throw new Error(`expected one etcd on ${service.dataDir}, found ${pids}`);
  await service.stop("SIGKILL");
  await killEtcd(service.dataDir);
}

/** Starts an instance that joins through `bootstrap`. */
export function join(
  bootstrap: string,
  options: StartServiceOptions = {},
): Promise<ServiceProcess> {
  return startService({ psk: PSK, newCluster: false, bootstraps: [bootstrap], ...options });
}

/**
 * Starts a new cluster's first instance, then `joiners` more that join it at
 * the same moment (each later MemberAdd must wait for earlier members to start).
 * Every started instance is pushed onto `services` at once, so a caller's
 * `finally` can stop them even when a later one fails to start.
 */
export async function startCluster(
  services: (ServiceProcess | undefined)[],
  joiners = 2,
): Promise<ServiceProcess[]> {
  const first = await startService({ psk: PSK });
  services.push(first);
  const others = await Promise.all(
    Array.from({ length: joiners }, async () => {
      const s = await join(first.addr);
      services.push(s);
      return s;
    }),
  );
  return [first, ...others];
}

/** Stops every instance and makes sure no etcd of theirs is left. */
export async function stopAll(
  services: (ServiceProcess | undefined)[],
  dataDirs: string[] = [],
): Promise<void> {
  const stopped = await Promise.allSettled(services.map((s) => s?.stop()));
  const dirs = [...dataDirs, ...services.flatMap((s) => (s ? [s.dataDir] : []))];
  for (const dir of dirs) await killEtcd(dir);
  // Every instance is stopped first; then one that had to be killed fails the test.
  for (const result of stopped) if (result.status === "rejected") throw result.reason;
}

/** Asserts that no etcd process runs on any of `dataDirs`. */
export async function assertNoEtcd(dataDirs: string[]): Promise<void> {
  for (const dir of dataDirs) {
    const pids = await etcdPids(dir);
    if (pids.length > 0) throw new Error(`etcd left running on ${dir}: pids ${pids}`);
  }
}

/** Waits until `fn` returns true (polling), or throws after `ms`. */
export async function waitFor(
  what: string,
  fn: () => Promise<boolean>,
  ms = 20_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Flags of the self-healing tests: a core of 3 voters, dead after 8 s. */
export const CORE_ARGS = ["-max-voters", "3", "-dead-member-after", "8", "-learner-timeout", "30"];

/** The `/health` report of an instance (role, voters, learners, steward…). */
export async function health(service: Pick<ServiceProcess, "httpUrl">): Promise<{
  healthy: boolean;
  reason?: string;
  role: "voter" | "learner" | "client";
  voters: number;
  learners: number;
  steward: string | null;
  peerId: string;
}> {
  const res = await fetch(`${service.httpUrl}/health`);
  return await res.json();
}

/**
 * Starts a cluster of `count` instances with {@linkcode CORE_ARGS}: the
 * first alone, the others joining it two at a time (each instance is a Deno
 * process; the machine is small). Every started instance is pushed onto
 * `services` at once.
 */
export async function startCore(
  services: (ServiceProcess | undefined)[],
  count: number,
  options: StartServiceOptions = {},
): Promise<ServiceProcess[]> {
  const first = await startService({ psk: PSK, ...options, args: CORE_ARGS });
  services.push(first);
  const all = [first];
  while (all.length < count) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(2, count - all.length) }, async () => {
        const s = await join(first.addr, { ...options, args: CORE_ARGS });
        services.push(s);
        return s;
      }),
    );
    all.push(...batch);
  }
  return all;
}

/**
 * Starts a core of `count` instances ({@linkcode startCore}), waits for its 3
 * voters, and tells voters from client instances (each list in start order).
 */
export async function startCoreByRole(
  services: (ServiceProcess | undefined)[],
  count: number,
): Promise<{ all: ServiceProcess[]; voters: ServiceProcess[]; clients: ServiceProcess[] }> {
  const all = await startCore(services, count);
  await waitForVoters(all, 3);
  const roles = (await Promise.all(all.map(health))).map((r) => r.role);
  return {
    all,
    voters: all.filter((_, i) => roles[i] === "voter"),
    clients: all.filter((_, i) => roles[i] === "client"),
  };
}

/** Waits until `count` of `services` report the voter role (a minute at most). */
export async function waitForVoters(
  services: readonly Pick<ServiceProcess, "httpUrl">[],
  count: number,
): Promise<void> {
  await waitFor(
    `${count} voters`,
    async () =>
      (await Promise.all(services.map(health))).filter((r) => r.role === "voter").length === count,
    60_000,
  );
}
