/**
 * Write throughput of a 3-member registry cluster against a single member,
 * measured in one run on loopback (real registry-service processes, real
 * etcd members). Two paths:
 *
 * - registry add: `/add/0.1` requests through one instance (what clients see);
 * - etcd put: puts straight to that instance's etcd member (the raft cost alone), outside the
 *   registry's prefix: under it, every instance's watch would take each put into its view and slow
 *   the baseline (in the same minutes: add / put x0.98 under the prefix, x0.66 outside it).
 *
 * Printed: each path's rate on 1 and on 3 members (x1.00 = no cost for
 * replication), and on each cluster the registry's adds against raw puts at
 * the same concurrency (issue 17's target: at least x1.0, the group commit
 * carrying many adds in one transaction).
 *
 * Run: deno run -A scripts/bench_cluster.ts [writes=4000] [concurrency=32]
 *
 * @module
 */
import { createEtcdClient } from "../src/store/etcd_cluster.ts";
import { connectRegistry } from "../src/client/registry_client.ts";
import { sampleInfo, type ServiceProcess, startService } from "./_registry.ts";

const WRITES = Number(Deno.args[0] ?? 4000);
const CONCURRENCY = Number(Deno.args[1] ?? 32);
const PSK = "bench-cluster";
/** Rounds in which the two paths take turns. */
const ROUNDS = 4;

async function run(total: number, concurrency: number, write: (i: number) => Promise<unknown>) {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) await write(next++);
  }));
  return total / ((performance.now() - started) / 1000);
}

async function measure(members: number): Promise<{ add: number; put: number }> {
  const services: ServiceProcess[] = [];
  try {
    const first = await startService({ psk: PSK });
    services.push(first);
    const joiners = Array.from(
      { length: members - 1 },
      () => startService({ psk: PSK, newCluster: false, bootstraps: [first.addr] }),
    );
    services.push(...await Promise.all(joiners));
    await using conn = await connectRegistry({ bootstraps: [first.addr], psk: PSK });
    const info = sampleInfo(1);
    await run(200, CONCURRENCY, (i) => conn.client.add(`warm-${i}`, info));
    const etcd = createEtcdClient(first.etcdUrl, first.etcdTls);
    try {
      await run(200, CONCURRENCY, (i) => etcd.put(`bench/warm-${i}`).value("warm").exec());
      // The paths take turns in rounds, so a drift of the machine's speed reaches both alike.
      const seconds = { add: 0, put: 0 };
      const perRound = WRITES / ROUNDS;
      for (let round = 0; round < ROUNDS; round++) {
        const base = round * perRound;
        seconds.add += perRound /
          await run(perRound, CONCURRENCY, (i) => conn.client.add(`svc-${base + i}`, info));
        seconds.put += perRound / await run(
          perRound,
          CONCURRENCY,
          (i) => etcd.put(`bench/${base + i}`).value(JSON.stringify(info)).exec(),
        );
      }
      return { add: WRITES / seconds.add, put: WRITES / seconds.put };
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
row("registry add", one.add, three.add);
row("etcd put", one.put, three.put);
for (const [members, { add, put }] of [[1, one], [3, three]] as const) {
  const ratio = add / put;
  console.log(
    `${members} member${members > 1 ? "s" : " "}: add / put x${ratio.toFixed(2)} ` +
      `(target >= x1.0: ${ratio >= 1 ? "met" : "NOT met"})`,
  );
}
// A closed client's libp2p/grpc timers can keep the event loop alive for minutes; the run is over.
Deno.exit(0);
