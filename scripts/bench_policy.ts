/**
 * `deno run -A scripts/bench_policy.ts`: what the write policy costs an add
 * (issue 13: at most 10%), and how long a history lookup of a name with 20
 * versions takes.
 *
 * Two registry-services run side by side, `-write-policy open` and
 * `-write-policy owner`; adds go to each in alternating batches, so that the
 * load of a shared machine falls on both alike.
 */
import { multiaddr } from "@multiformats/multiaddr";
import { createRegistryNode, RegistryClient } from "../mod.ts";
import { GET_PROTOCOL, HISTORY_PROTOCOL } from "../src/protocol/ids.ts";
import { readToEnd } from "../src/protocol/stream_io.ts";
import { parseBootstraps } from "../src/p2p/bootstrap.ts";
import { sampleInfo, startService } from "./_registry.ts";
import { percentile } from "./_stats.ts";

const PSK = "bench-policy";
const ROUNDS = 10;
const BATCH = 100;

async function time(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

const modes = ["open", "owner"] as const;
const services = await Promise.all(
  modes.map((mode) =>
    startService({ psk: PSK, logLimit: 16 * 1024, args: ["-write-policy", mode] })
  ),
);
const node = await createRegistryNode({ psk: PSK });
try {
  const clients = await Promise.all(services.map(async (service) => {
    await node.dial(multiaddr(service.addr));
    // Each client asks its own service first.
    return new RegistryClient({ node, bootstraps: parseBootstraps([service.addr]) });
  }));
  const info = sampleInfo(1);
  for (const client of clients) {
    for (let i = 0; i < 200; i++) await client.add(`bench-add-${i % 50}`, info);
  }
  const samples: number[][] = [[], []];
  for (let round = 0; round < ROUNDS; round++) {
    for (const m of round % 2 ? [1, 0] : [0, 1]) {
      for (let i = 0; i < BATCH; i++) {
        samples[m].push(await time(() => clients[m].add(`bench-add-${i % 50}`, info)));
      }
    }
  }
  const [open, owner] = samples.map((s) => percentile(s, 0.5));
  console.log(`add p50, -write-policy open:  ${open.toFixed(3)} ms (${samples[0].length} adds)`);
  console.log(`add p50, -write-policy owner: ${owner.toFixed(3)} ms (${samples[1].length} adds)`);
  console.log(`owner / open: x${(owner / open).toFixed(3)}`);

  // History of a name with 20 versions, next to a get of it, both on fresh streams.
  const target = multiaddr(services[1].addr);
  for (let i = 0; i < 20; i++) await clients[1].add("bench-history", sampleInfo(i));
  const raw = async (protocol: string, payload: string) => {
    const stream = await node.dialProtocol(target, protocol);
    stream.send(new TextEncoder().encode(payload));
    await stream.close();
    return await readToEnd(stream, { maxBytes: 1 << 20 });
  };
  const history: number[] = [];
  const get: number[] = [];
  for (let i = 0; i < 500; i++) {
    history.push(await time(() => raw(HISTORY_PROTOCOL, "bench-history")));
    get.push(await time(() => raw(GET_PROTOCOL, "bench-history")));
  }
  const versions = JSON.parse(
    new TextDecoder().decode(await raw(HISTORY_PROTOCOL, "bench-history")),
  ).Versions.length;
  console.log(
    `history of ${versions} versions p50: ${percentile(history, 0.5).toFixed(3)} ms ` +
      `(p90 ${percentile(history, 0.9).toFixed(3)} ms); get on a fresh stream p50: ` +
      `${percentile(get, 0.5).toFixed(3)} ms`,
  );
} finally {
  await node.stop();
  await Promise.all(services.map((s) => s.stop()));
}
