/**
 * `deno task bench:floor`: what an add costs over a bare etcd put, taken
 * apart, in one run on one machine. Each path takes turns with the others
 * in every round, so a drift of the machine's speed reaches all alike:
 *
 * - etcd3 put: the baseline of the "warm add" figure;
 * - TCP round trip: a byte to a second process and back (one hop, no work);
 * - put through a raw-TCP proxy: that second process does the etcd3 put
 *   (`scripts/_tcp_put_proxy.ts`), the cheapest design with a service
 *   between client and etcd;
 * - registry get: a libp2p round trip (pnet, noise, yamux, multistream),
 *   answered from the service's memory;
 * - registry add: the libp2p round trip plus the service's etcd put.
 *
 * Run: deno run -A scripts/bench_floor.ts
 *
 * @module
 */
import { connectRegistry } from "../mod.ts";
import { createEtcdClient } from "../src/store/etcd_cluster.ts";
import { repoPath, sampleInfo, startService } from "./_registry.ts";
import { percentile } from "./_stats.ts";

const PSK = "bench-floor";
const ROUNDS = 12;
const PER_ROUND = 100;

const service = await startService({ psk: PSK, logLimit: 64 * 1024 });
const etcd = createEtcdClient(service.etcdUrl, service.etcdTls);
const proxy = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", repoPath("scripts/_tcp_put_proxy.ts"), service.etcdUrl, service.dataDir],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
try {
  const reader = proxy.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const port = Number((await reader.read()).value);
  reader.releaseLock();
  const socket = await Deno.connect({ hostname: "127.0.0.1", port });
  await using conn = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
  const info = sampleInfo(1);
  const value = JSON.stringify(info);
  await conn.client.add("floor-get", info);
  const reply = new Uint8Array(64);
  const roundTrip = async (message: string) => {
    await socket.write(new TextEncoder().encode(message));
    await socket.read(reply);
  };

  const paths: [string, (i: number) => Promise<unknown>][] = [
    ["etcd3 put (baseline)", (i) => etcd.put(`bench-floor/direct-${i % 50}`).value(value).exec()],
    ["TCP round trip to a second process", () => roundTrip("?")],
    ["put through a raw-TCP proxy process", () => roundTrip("put")],
    ["registry get (libp2p round trip)", () => conn.client.get("floor-get")],
    ["registry add", (i) => conn.client.add(`floor-${i % 50}`, info)],
  ];
  const samples = paths.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [p, [, run]] of paths.entries()) {
      for (let i = 0; i < PER_ROUND; i++) {
        const started = performance.now();
        await run(i);
        // The first two rounds warm up every path.
        if (round >= 2) samples[p].push(performance.now() - started);
      }
    }
  }
  socket.close();

  const p50 = samples.map((s) => percentile(s, 0.5));
  console.log("| path | p50 | vs etcd3 put |");
  console.log("| --- | --- | --- |");
  for (const [p, [name]] of paths.entries()) {
    console.log(`| ${name} | ${p50[p].toFixed(3)} ms | x${(p50[p] / p50[0]).toFixed(2)} |`);
  }
  const libp2pOverTcp = p50[3] - p50[1];
  console.log(
    `\nlibp2p round trip over a bare TCP one: +${libp2pOverTcp.toFixed(3)} ms ` +
      `(x${(libp2pOverTcp / p50[0]).toFixed(2)} of a put on its own)`,
  );
} finally {
  proxy.kill();
  await proxy.status;
  etcd.close();
  await service.stop();
}
