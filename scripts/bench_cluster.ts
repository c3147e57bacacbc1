/**
 * Write throughput of a 3-member registry cluster against a single member,
 * measured in one run on loopback (real registry-service processes, real
 * etcd members). Three paths:
 *
 * - registry add: `/add/0.1` requests through one instance (what clients see);
 * - registry get: `/get/0.1` through the same instance, of names it holds: a request that stores
 *   nothing, the floor under any add through the registry's front end;
 * - etcd put: puts straight to that instance's etcd member (the raft cost alone), outside the
 *   registry's prefix: under it, every instance's watch would take each put into its view and slow
 *   the baseline (in the same minutes: add / put x0.98 under the prefix, x0.66 outside it).
 *
 * Printed: each path's rate on 1 and on 3 members (x1.00 = no cost for
 * replication), on each cluster the registry's adds against raw puts at the
 * same concurrency (issue 17's target: at least x1.0, the group commit
 * carrying many adds in one transaction), and the CPU time every process of
 * the run spent per request (they share the machine's cores).
 *
 * Run: deno run -A scripts/bench_cluster.ts [writes=4000] [concurrency=32]
 *
 * @module
 */
import { createEtcdClient } from "../src/store/etcd_cluster.ts";
import { connectRegistry } from "../src/client/registry_client.ts";
import { etcdPids, sampleInfo, type ServiceProcess, startService } from "./_registry.ts";
import { cpuMs } from "./_proc.ts";

const WRITES = Number(Deno.args[0] ?? 4000);
const CONCURRENCY = Number(Deno.args[1] ?? 32);
const PSK = "bench-cluster";
/** Rounds in which the two paths take turns. */
const ROUNDS = 4;
const ROLE_ORDER = ["entry instance", "other instances", "etcd members", "client"];

async function run(total: number, concurrency: number, write: (i: number) => Promise<unknown>) {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) await write(next++);
  }));
  return total / ((performance.now() - started) / 1000);
}

/** What a path took: its rate, and each process's CPU time per write (µs), by role. */
interface PathFigures {
  rate: number;
  cpuUs: Record<string, number>;
}

async function measure(
  members: number,
): Promise<{ add: PathFigures; put: PathFigures; get: PathFigures }> {
  const services: ServiceProcess[] = [];
  try {
    const first = await startService({ psk: PSK });
    services.push(first);
    const joiners = Array.from(
      { length: members - 1 },
      () => startService({ psk: PSK, newCluster: false, bootstraps: [first.addr] }),
    );
    services.push(...await Promise.all(joiners));
    // The instance the adds go to, the others (which only keep their views), every etcd member,
    // and this process (the client library, or etcd3 for the puts).
    const roles: [string, number][] = [["entry instance", first.child.pid]];
    for (const other of services.slice(1)) roles.push(["other instances", other.child.pid]);
    for (const service of services) {
      for (const pid of await etcdPids(service.dataDir)) roles.push(["etcd members", pid]);
    }
    roles.push(["client", Deno.pid]);
    await using conn = await connectRegistry({ bootstraps: [first.addr], psk: PSK });
    const info = sampleInfo(1);
    await run(200, CONCURRENCY, (i) => conn.client.add(`warm-${i}`, info));
    const etcd = createEtcdClient(first.etcdUrl, first.etcdTls);
    try {
      await run(200, CONCURRENCY, (i) => etcd.put(`bench/warm-${i}`).value("warm").exec());
      const paths = {
        add: (i: number) => conn.client.add(`svc-${i}`, info),
        // The floor of any request through the registry: one that stores nothing.
        get: (i: number) => conn.client.get(`warm-${i % 200}`),
        put: (i: number) => etcd.put(`bench/${i}`).value(JSON.stringify(info)).exec(),
      };
      const totals = {
        add: { seconds: 0, cpuMs: new Map<string, number>() },
        get: { seconds: 0, cpuMs: new Map<string, number>() },
        put: { seconds: 0, cpuMs: new Map<string, number>() },
      };
      // The paths take turns in rounds, so a drift of the machine's speed reaches both alike.
      const perRound = WRITES / ROUNDS;
      for (let round = 0; round < ROUNDS; round++) {
        for (
          const [path, write] of Object.entries(paths) as [keyof typeof paths, typeof paths.add][]
        ) {
          const before = roles.map(([, pid]) => cpuMs(pid));
          const base = round * perRound;
          totals[path].seconds += perRound /
            await run(perRound, CONCURRENCY, (i) => write(base + i));
          for (const [i, [role, pid]] of roles.entries()) {
            const cpu = totals[path].cpuMs;
            cpu.set(role, (cpu.get(role) ?? 0) + cpuMs(pid) - before[i]);
          }
        }
      }
      const figures = (path: keyof typeof paths): PathFigures => ({
        rate: WRITES / totals[path].seconds,
        cpuUs: Object.fromEntries(
          [...totals[path].cpuMs].map(([role, ms]) => [role, ms * 1000 / WRITES]),
        ),
      });
      return { add: figures("add"), put: figures("put"), get: figures("get") };
    } finally {
      etcd.close();
    }
  } finally {
    await Promise.all(services.map((s) => s.stop()));
  }
}

console.log(`${WRITES} writes, ${CONCURRENCY} at a time, loopback`);
const one = await measure(1);
const three = await measure(3);
const row = (what: string, a: number, b: number) =>
  console.log(
    `${what.padEnd(14)} 1 member ${a.toFixed(0).padStart(7)}/s   3 members ${
      b.toFixed(0).padStart(7)
    }/s   ratio x${(b / a).toFixed(2)}`,
  );
row("registry add", one.add.rate, three.add.rate);
row("etcd put", one.put.rate, three.put.rate);
for (const [members, { add, put, get }] of [[1, one], [3, three]] as const) {
  const ratio = add.rate / put.rate;
  console.log(
    `${members} member${members > 1 ? "s" : " "}: add / put x${ratio.toFixed(2)} ` +
      `(target >= x1.0: ${ratio >= 1 ? "met" : "NOT met"}); a get, which stores nothing, / put ` +
      `x${(get.rate / put.rate).toFixed(2)}`,
  );
}
// Where the CPU goes: every process shares this machine's cores, so a path's rate is bounded by
// the CPU all of them spend per write (10 ms resolution, summed over the rounds).
console.log("\nCPU time per request (µs), every process of the run:");
console.log("| members | path | " + ROLE_ORDER.join(" | ") + " | all |");
console.log("| --- | --- | " + ROLE_ORDER.map(() => "---").join(" | ") + " | --- |");
for (const [members, figures] of [[1, one], [3, three]] as const) {
  for (const path of ["add", "put", "get"] as const) {
    const cpu = figures[path].cpuUs;
    const cells = ROLE_ORDER.map((role) => (cpu[role] ?? 0).toFixed(0));
    const all = Object.values(cpu).reduce((a, b) => a + b, 0);
    console.log(`| ${members} | ${path} | ${cells.join(" | ")} | ${all.toFixed(0)} |`);
  }
}
// A closed client's libp2p/grpc timers can keep the event loop alive for minutes; the run is over.
Deno.exit(0);
