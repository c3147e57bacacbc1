/**
 * `deno task bench:cpu`: what one request costs in CPU time, the service's
 * next to etcd's, from `/proc/<pid>/stat` (user + system time) over the same
 * requests, in one run:
 *
 * - etcd3 get / put straight to the service's etcd member (etcd's own cost of
 *   a get and a put: the baseline);
 * - registry get / add through our client (`RegistryClient`, one connection);
 * - registry get / add through a plain js-libp2p client: a fresh stream per
 *   request with full protocol negotiation, stock pnet, noise and yamux.
 *
 * With `--profile`, the service runs under `deno run --cpu-prof` and the
 * functions and files its CPU went to are printed (self time, top 25).
 *
 * Run: deno run -A scripts/bench_cpu.ts [requests=10000] [inFlight=16] [--profile] [--only=add]
 *
 * @module
 */
import { createEtcdClient } from "../src/store/etcd_cluster.ts";
import { createLibp2p } from "libp2p";
import { tcp } from "@libp2p/tcp";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { preSharedKey } from "@libp2p/pnet";
import { multiaddr } from "@multiformats/multiaddr";
import { connectRegistry } from "../mod.ts";
import { pskFromPassphrase, swarmKey } from "../src/p2p/psk.ts";
import { ADD_PROTOCOL, GET_PROTOCOL } from "../src/protocol/ids.ts";
import { readToEnd } from "../src/protocol/stream_io.ts";
import { DEFAULT_KEY_PREFIX } from "../src/store/registry_store.ts";
import { etcdPids, sampleInfo, startService } from "./_registry.ts";
import { cpuMs } from "./_proc.ts";

const args = Deno.args.filter((a) => !a.startsWith("--"));
const REQUESTS = Number(args[0] ?? 10_000);
const IN_FLIGHT = Number(args[1] ?? 16);
const PROFILE = Deno.args.includes("--profile");
/** `--only=add`: measure only the paths whose name contains "add" (and profile only them). */
const ONLY = Deno.args.find((a) => a.startsWith("--only="))?.slice("--only=".length);
const PSK = "bench-cpu";
async function runAll(fn: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < REQUESTS) await fn(next++);
  }));
  return performance.now() - started;
}

const profileDir = PROFILE ? await Deno.makeTempDir({ prefix: "registry-cpu-prof-" }) : "";
const service = await startService({
  psk: PSK,
  logLimit: 64 * 1024,
  // Request lines at info would be a cost of the log, not of a request.
  args: ["-log-level", "warn"],
  runtimeArgs: PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [],
});
const [etcdPid] = await etcdPids(service.dataDir);
if (etcdPid === undefined) throw new Error("the service's etcd process was not found");
const servicePid = service.child.pid;
const etcd = createEtcdClient(service.etcdUrl, service.etcdTls);
const rows: string[][] = [];
try {
  await using conn = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
  const plain = await createLibp2p({
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionProtector: preSharedKey({ psk: swarmKey(pskFromPassphrase(PSK)) }),
  });
  const addr = multiaddr(service.addr);
  const encoder = new TextEncoder();
  const plainRequest = async (protocol: string, payload: string) => {
    const stream = await plain.dialProtocol(addr, protocol);
    const answer = readToEnd(stream, { maxBytes: 1 << 20 });
    stream.send(encoder.encode(payload));
    await stream.close();
    return await answer;
  };
  const info = sampleInfo(1);
  const infoStr = JSON.stringify(info);
  await conn.client.add("cpu-get", info);
  const key = `${DEFAULT_KEY_PREFIX}cpu-get`;
  const addPayload = (i: number) =>
    JSON.stringify({ Name: `cpu-add-${i % 500}`, InfoStr: infoStr });
  const paths: [string, (i: number) => Promise<unknown>][] = [
    ["etcd3 get (baseline)", () => etcd.get(key).string()],
    ["registry get, our client", () => conn.client.get("cpu-get")],
    ["registry get, plain js-libp2p", () => plainRequest(GET_PROTOCOL, "cpu-get")],
    [
      "etcd3 put (baseline)",
      (i) => etcd.put(`${DEFAULT_KEY_PREFIX}cpu-put-${i % 500}`).value(infoStr).exec(),
    ],
    ["registry add, our client", (i) => conn.client.add(`cpu-add-${i % 500}`, info)],
    ["registry add, plain js-libp2p", (i) => plainRequest(ADD_PROTOCOL, addPayload(i))],
  ];
  // Warm every path up (JIT, connections) before measuring.
  for (const [, run] of paths) for (let i = 0; i < 300; i++) await run(i);
  for (const [name, run] of paths) {
    if (ONLY !== undefined && !name.includes(ONLY)) {
      rows.push([name, "-", "NaN", "NaN"]);
      continue;
    }
    const before = [cpuMs(servicePid), cpuMs(etcdPid)];
    const wallMs = await runAll(run);
    const used = [cpuMs(servicePid) - before[0], cpuMs(etcdPid) - before[1]];
    const perRequest = used.map((ms) => (ms * 1000 / REQUESTS).toFixed(1));
    rows.push([name, `${(REQUESTS / wallMs * 1000).toFixed(0)}/s`, perRequest[0], perRequest[1]]);
  }
  await plain.stop();
} finally {
  etcd.close();
  await service.stop();
}

console.log(`${REQUESTS} requests per path, ${IN_FLIGHT} in flight; CPU time per request (µs)`);
console.log("| path | rate | service CPU/request | etcd CPU/request |");
console.log("| --- | --- | --- | --- |");
for (const row of rows) console.log(`| ${row.join(" | ")} |`);
const per = (i: number, col: number) => Number(rows[i][col]);
console.log(
  `\nservice CPU per get (our client) / etcd's CPU per etcd3 get: x${
    (per(1, 2) / per(0, 3)).toFixed(2)
  } (target <= x2.0); plain client: x${(per(2, 2) / per(0, 3)).toFixed(2)}`,
);
console.log(
  `service CPU per add (our client) / etcd's CPU per etcd3 put: x${
    (per(4, 2) / per(3, 3)).toFixed(2)
  }; plain client: x${(per(5, 2) / per(3, 3)).toFixed(2)}`,
);

if (PROFILE) {
  // The liveness watchdog's worker writes a profile too: the main thread's is the largest.
  const [file] = [...Deno.readDirSync(profileDir)]
    .filter((e) => e.name.endsWith(".cpuprofile"))
    .map((e) => ({
      path: `${profileDir}/${e.name}`,
      size: Deno.statSync(`${profileDir}/${e.name}`).size,
    }))
    .sort((a, b) => b.size - a.size);
  if (!file) throw new Error(`no profile written to ${profileDir}`);
  printProfile(JSON.parse(Deno.readTextFileSync(file.path)));
  await Deno.remove(profileDir, { recursive: true });
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Self time by function and by package/file, from a V8 .cpuprofile. */
function printProfile(profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  for (const [i, id] of profile.samples.entries()) {
    const frame = byId.get(id)!.callFrame;
    const us = profile.timeDeltas[i] ?? 0;
    if (frame.functionName === "(idle)") continue;
    total += us;
    const file = frame.url.replace(/^.*node_modules\/\.deno\/[^/]+\/node_modules\//, "npm:")
      .replace(/^.*\/wt-[^/]+\//, "").replace(/^file:\/\/.*\/registry\//, "");
    const fn = `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    const pkg = /^npm:(@[^/]+\/[^/]+|[^/]+)/.exec(file)?.[1] ?? (file || frame.functionName);
    byFile.set(pkg, (byFile.get(pkg) ?? 0) + us);
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, n)
      .map(([k, us]) => `| ${(us / total * 100).toFixed(1)}% | ${k} |`).join("\n");
  console.log(`\nservice CPU profile, ${(total / 1000).toFixed(0)} ms busy; by package or file:`);
  console.log(`| self | where |\n| --- | --- |\n${top(byFile, 20)}`);
  console.log(`\nby function:\n| self | function |\n| --- | --- |\n${top(byFunction, 25)}`);
  // Native functions (no file) are named by their JavaScript callers.
  const parent = new Map<number, ProfileNode>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node);
  }
  const callers = new Map<string, number>();
  for (const [i, id] of profile.samples.entries()) {
    const node = byId.get(id)!;
    if (node.callFrame.url !== "" || node.callFrame.functionName.startsWith("(")) continue;
    const chain: string[] = [node.callFrame.functionName];
    for (let p = parent.get(id); p && chain.length < 4; p = parent.get(p.id)) {
      chain.push(
        `${p.callFrame.functionName || "(anonymous)"} ${p.callFrame.url.split("/").pop()}`,
      );
    }
    const k = chain.join(" < ");
    callers.set(k, (callers.get(k) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  console.log(
    `\nnative functions by caller:\n| self | stack |\n| --- | --- |\n${top(callers, 10)}`,
  );
}
Deno.exit(0);
