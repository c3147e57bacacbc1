/**
 * Client instances against voters, measured in one run on loopback (real
 * registry-service processes, real etcd members):
 *
 * - add and get p50 through a client instance and through a voter instance
 *   of the same 3-voter cluster (sequential requests, one connection each);
 * - add throughput at 32 in flight, spread over every instance, with 3 voters
 *   + 4 client instances (`-max-voters 3`) against 7 voters (`-max-voters 7`).
 *
 * Run: deno run -A scripts/bench_roles.ts [requests] [writes]
 *
 * @module
 */
import { connectRegistry } from "../src/client/registry_client.ts";
import { sampleInfo, type ServiceProcess, startService } from "./_registry.ts";
import { percentile } from "./_stats.ts";

const REQUESTS = Number(Deno.args[0] ?? 300);
const WRITES = Number(Deno.args[1] ?? 2000);
const CONCURRENCY = 32;
const INSTANCES = 7;
const PSK = "bench-roles";

async function startInstances(maxVoters: number): Promise<ServiceProcess[]> {
  const args = ["-max-voters", String(maxVoters), "-log-level", "warn"];
  const first = await startService({ psk: PSK, args, logLimit: 10_000 });
  const all = [first];
  try {
    // Two at a time: each is a Deno process (and maybe an etcd) on a small machine.
    while (all.length < INSTANCES) {
      all.push(
        ...await Promise.all(
          Array.from({ length: Math.min(2, INSTANCES - all.length) }, () =>
            startService({
              psk: PSK,
              newCluster: false,
              bootstraps: [first.addr],
              args,
              logLimit: 10_000,
            })),
        ),
      );
    }
  } catch (err) {
    await Promise.all(all.map((s) => s.stop()));
    throw err;
  }
  return all;
}

async function roleOf(service: ServiceProcess): Promise<string> {
  return (await (await fetch(`${service.httpUrl}/health`)).json()).role;
}

async function latencies(service: ServiceProcess, tag: string) {
  await using conn = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
  const info = sampleInfo(1);
  for (let i = 0; i < 50; i++) await conn.client.add(`warm-${tag}-${i}`, info);
  const add: number[] = [];
  const get: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    let t = performance.now();
    await conn.client.add(`lat-${tag}-${i}`, info);
    add.push(performance.now() - t);
    t = performance.now();
    await conn.client.get(`lat-${tag}-${i}`);
    get.push(performance.now() - t);
  }
  return { add: percentile(add, 0.5), get: percentile(get, 0.5) };
}

async function throughput(services: ServiceProcess[]): Promise<number> {
  const conns = await Promise.all(
    services.map((s) => connectRegistry({ bootstraps: [s.addr], psk: PSK })),
  );
  try {
    const info = sampleInfo(2);
    let next = 0;
    const run = async (total: number, prefix: string) => {
      next = 0;
      const started = performance.now();
      await Promise.all(Array.from({ length: CONCURRENCY }, async (_, w) => {
        const conn = conns[w % conns.length];
        while (next < total) await conn.client.add(`${prefix}-${next++}`, info);
      }));
      return total / ((performance.now() - started) / 1000);
    };
    await run(200, "warm");
    return await run(WRITES, "tp");
  } finally {
    await Promise.all(conns.map((c) => c.close()));
  }
}

async function waitForVoters(services: ServiceProcess[], voters: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  while ((await Promise.all(services.map(roleOf))).filter((r) => r === "voter").length < voters) {
    if (Date.now() > deadline) throw new Error(`never ${voters} voters`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

console.log(
  `${INSTANCES} instances, loopback; p50 of ${REQUESTS} sequential requests; ` +
    `${WRITES} adds at ${CONCURRENCY} in flight over every instance`,
);
const core = await startInstances(3);
let coreThroughput: number;
try {
  await waitForVoters(core, 3);
  const roles = await Promise.all(core.map(roleOf));
  const voter = await latencies(core[roles.indexOf("voter")], "v");
  const client = await latencies(core[roles.indexOf("client")], "c");
  console.log(
    `p50 add: voter ${voter.add.toFixed(2)} ms, client instance ${client.add.toFixed(2)} ms ` +
      `(x${(client.add / voter.add).toFixed(2)})`,
  );
  console.log(
    `p50 get: voter ${voter.get.toFixed(2)} ms, client instance ${client.get.toFixed(2)} ms ` +
      `(x${(client.get / voter.get).toFixed(2)})`,
  );
  coreThroughput = await throughput(core);
} finally {
  await Promise.all(core.map((s) => s.stop()));
}
const wide = await startInstances(7);
let wideThroughput: number;
try {
  await waitForVoters(wide, 7);
  wideThroughput = await throughput(wide);
} finally {
  await Promise.all(wide.map((s) => s.stop()));
}
console.log(
  `add throughput: 3 voters + 4 client instances ${coreThroughput.toFixed(0)}/s, ` +
    `7 voters ${wideThroughput.toFixed(0)}/s (x${(coreThroughput / wideThroughput).toFixed(2)})`,
);
// A closed client's libp2p/grpc timers can keep the event loop alive for minutes; the run is over.
Deno.exit(0);
