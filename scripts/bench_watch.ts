/**
 * `deno task bench:watch`: add-to-event latency of `/watch/0.1` with 1, 100
 * and 1,000 watchers on one instance, against etcd's own watch (through
 * `etcd3`, on the same etcd) with as many watchers (issue 15: p50 with 1,000
 * watchers within x2 of etcd3's).
 *
 * One add (one etcd put for the baseline) at a time; its latency to a
 * watcher is from the call to the moment that watcher has the event. Every
 * watcher of a round gets every event, so a round of `ADDS` adds gives
 * `ADDS x watchers` samples. Watchers and writer share this process and one
 * connection each way, for both.
 */
import { multiaddr } from "@multiformats/multiaddr";
import { createRegistryNode, RegistryClient } from "../mod.ts";
import { parseBootstraps } from "../src/p2p/bootstrap.ts";
import { createEtcdClient } from "../src/store/etcd_cluster.ts";
import { sampleInfo, startService } from "../tests/_registry.ts";
import { percentile } from "./_stats.ts";

const PSK = "bench-watch";
const COUNTS = [1, 100, 1_000];
const ADDS = Number(Deno.env.get("BENCH_WATCH_ADDS") ?? 200);
const WARMUP = 20;

/** The add in flight: its name, when it was sent, and the watchers still to get it. */
interface Pending {
  name: string;
  started: number;
  left: number;
  done: () => void;
}

function stats(samples: number[]): string {
  return `p50 ${percentile(samples, 0.5).toFixed(2)} ms, p99 ${
    percentile(samples, 0.99).toFixed(2)
  } ms (${samples.length} samples)`;
}

/** Runs `ADDS` adds through `write`, each awaited until all `watchers` have it. */
async function measure(
  watchers: number,
  write: (name: string) => Promise<unknown>,
  setPending: (pending: Pending | undefined) => void,
  samples: number[],
  writes: number[],
): Promise<void> {
  for (let i = 0; i < WARMUP + ADDS; i++) {
    const name = `bench-${watchers}-${i}`;
    const { promise, resolve } = Promise.withResolvers<void>();
    // Warm-up adds just have to arrive: their samples are NaN, dropped below.
    const started = i < WARMUP ? Number.NaN : performance.now();
    setPending({ name, started, left: watchers, done: resolve });
    await write(name);
    if (i >= WARMUP) writes.push(performance.now() - started);
    await promise;
    setPending(undefined);
  }
  for (let i = samples.length - 1; i >= 0; i--) if (Number.isNaN(samples[i])) samples.splice(i, 1);
}

const service = await startService({
  psk: PSK,
  logLimit: 16 * 1024,
  args: ["-max-watchers-per-peer", "2000", "-max-watchers", "4000"],
});
/** Watchers per client node: a connection carries at most 1,024 streams (yamux). */
const WATCHERS_PER_NODE = 500;
const nodes = await Promise.all(
  Array.from(
    { length: 1 + Math.ceil(Math.max(...COUNTS) / WATCHERS_PER_NODE) },
    () => createRegistryNode({ psk: PSK }),
  ),
);
const etcd = createEtcdClient(service.etcdUrl, service.etcdTls);
try {
  const clients = await Promise.all(nodes.map(async (node) => {
    await node.dial(multiaddr(service.addr));
    return new RegistryClient({ node, bootstraps: parseBootstraps([service.addr]) });
  }));
  // The first node writes; the others watch.
  const [writer, ...watching] = clients;
  const info = sampleInfo(1);
  for (const count of COUNTS) {
    // Ours: `count` watches of every service, the adds from another node.
    {
      let pending: Pending | undefined;
      const samples: number[] = [];
      const writes: number[] = [];
      const stop = new AbortController();
      let synced = 0;
      const allSynced = Promise.withResolvers<void>();
      const loops = Array.from({ length: count }, async (_, i) => {
        const client = watching[Math.floor(i / WATCHERS_PER_NODE)];
        for await (const change of client.watch({ signal: stop.signal })) {
          if (change.type === "synced") {
            if (++synced === count) allSynced.resolve();
          } else if (change.type === "put" && pending && change.name === pending.name) {
            samples.push(performance.now() - pending.started);
            if (--pending.left === 0) pending.done();
          }
        }
      });
      await allSynced.promise;
      await measure(count, (name) => writer.add(name, info), (p) => (pending = p), samples, writes);
      stop.abort();
      await Promise.all(loops);
      // The next round's watchers start on an empty registry: its snapshot is not what is measured.
      for (let i = 0; i < WARMUP + ADDS; i++) await writer.delete(`bench-${count}-${i}`);
      console.log(
        `registry watch, ${count} watcher(s): ${stats(samples)}; the add alone: ${stats(writes)}`,
      );
    }
    // etcd's own watch through etcd3: `count` watchers of a prefix, puts from the same client.
    {
      let pending: Pending | undefined;
      const samples: number[] = [];
      const writes: number[] = [];
      const decoder = new TextDecoder();
      const watchers = await Promise.all(
        Array.from({ length: count }, () => etcd.watch().prefix("bench-etcd/").create()),
      );
      for (const watcher of watchers) {
        watcher.on("put", (kv) => {
          const key = decoder.decode(kv.key).slice("bench-etcd/".length);
          if (pending && key === pending.name) {
            samples.push(performance.now() - pending.started);
            if (--pending.left === 0) pending.done();
          }
        });
      }
      const value = JSON.stringify(info);
      await measure(
        count,
        (name) => etcd.put(`bench-etcd/${name}`).value(value).exec(),
        (p) => (pending = p),
        samples,
        writes,
      );
      await Promise.all(watchers.map((w) => w.cancel()));
      console.log(
        `etcd3 watch,    ${count} watcher(s): ${stats(samples)}; the put alone: ${stats(writes)}`,
      );
    }
  }
} finally {
  etcd.close();
  await Promise.all(nodes.map((node) => node.stop()));
  await service.stop();
}
