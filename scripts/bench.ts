/**
 * `deno task bench`: the registry against raw etcd, measured in one run on
 * one machine (absolute times drift on shared machines; ratios hold).
 *
 * Starts its own registry-service (and so its own etcd member) on loopback,
 * then measures each figure of the performance issue next to its baseline:
 * the same etcd through `etcd3`, or `etcdctl` for whole-process timings.
 */
import { createEtcdClient } from "../src/store/etcd_cluster.ts";
import { connectRegistry, createRegistryNode, RegistryClient } from "../mod.ts";
import { multiaddr } from "@multiformats/multiaddr";
import { DEFAULT_KEY_PREFIX } from "../src/store/registry_store.ts";
import { etcdPids, repoPath, sampleInfo, startService } from "./_registry.ts";
import { cpuMs, rssMiB } from "./_proc.ts";
import { percentile } from "./_stats.ts";
import { GET_PROTOCOL, HISTORY_PROTOCOL, LIST_PROTOCOL } from "../src/protocol/ids.ts";
import { readToEnd } from "../src/protocol/stream_io.ts";

const PSK = "bench-passphrase";
const WARM_SAMPLES = 1_000;
const THROUGHPUT_MS = 3_000;
const LIST_ENTRIES = 10_000;
/**
 * Keys of the raw etcd puts, outside the registry's prefix: etcd's cost alone. Under the prefix
 * every instance's watch would take each put into its view, and the CPU that takes (the service
 * shares the machine) would slow the baseline: a slower watch would then look like a better ratio.
 */
const BASELINE_PREFIX = "bench-baseline/";

interface Row {
  figure: string;
  value: string;
  baseline: string;
  ratio: string;
  target: string;
  /** Unset for a row shown for information only. */
  met?: boolean;
}
const rows: Row[] = [];

/**
 * Times `fns` one request at a time, the paths taking turns by blocks of `block` requests: a
 * drift of the machine's speed (this shared machine's drifts by up to x2 between minutes) reaches
 * every path alike, so their ratio holds; within a block each path runs back to back, as one at a
 * time means (a request per turn would give each path's trailing work, such as the service's watch
 * events of an add, to the next path's request). Returns each path's samples (ms); `fn` gets the
 * path's request index.
 */
async function timeInTurns(
  n: number,
  fns: ((i: number) => Promise<unknown>)[],
  block = 50,
): Promise<number[][]> {
  const samples: number[][] = fns.map(() => []);
  for (let from = 0; from < n; from += block) {
    for (const [path, fn] of fns.entries()) {
      for (let i = from; i < Math.min(from + block, n); i++) {
        const start = performance.now();
        await fn(i);
        samples[path].push(performance.now() - start);
      }
    }
  }
  return samples;
}

/** Rounds of each throughput figure: the paths take turns, as in {@linkcode timeInTurns}. */
const THROUGHPUT_ROUNDS = 3;

/** A path's requests per second, and the CPU its run took from a process (µs per request). */
interface Rate {
  rate: number;
  cpuUs: number;
}

/**
 * Requests per second of each path with `inFlight` at a time, over THROUGHPUT_MS per path split
 * into rounds in which the paths take turns; and the CPU time `pid` used per request of each
 * (`fn` gets the request's index).
 */
async function throughputInTurns(
  inFlight: number,
  paths: { pid: number; fn: (i: number) => Promise<unknown> }[],
): Promise<Rate[]> {
  const totals = paths.map(() => ({ done: 0, ms: 0, cpuMs: 0 }));
  for (let round = 0; round < THROUGHPUT_ROUNDS; round++) {
    for (const [path, { pid, fn }] of paths.entries()) {
      const total = totals[path];
      const cpuBefore = cpuMs(pid);
      const started = performance.now();
      const deadline = started + THROUGHPUT_MS / THROUGHPUT_ROUNDS;
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (performance.now() < deadline) await fn(total.done++);
        }),
      );
      total.ms += performance.now() - started;
      total.cpuMs += cpuMs(pid) - cpuBefore;
    }
  }
  return totals.map(({ done, ms, cpuMs }) => ({
    rate: done / (ms / 1000),
    cpuUs: cpuMs * 1000 / done,
  }));
}

interface Command {
  cmd: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * Median wall time of each command over 5 rounds. The commands take turns within
 * a round, so a drift of the machine's speed reaches all of them alike.
 */
async function wallTimeMedians(commands: Command[]): Promise<number[]> {
  const samples: number[][] = commands.map(() => []);
  for (let round = 0; round < 5; round++) {
    for (const [i, { cmd, args, env }] of commands.entries()) {
      const start = performance.now();
      const out = await new Deno.Command(cmd, { args, env, stdout: "null", stderr: "piped" })
        .output();
      samples[i].push(performance.now() - start);
      if (out.code !== 0) {
        throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr)}`);
      }
    }
  }
  return samples.map((s) => percentile(s, 0.5));
}

const ms = (x: number) => `${x.toFixed(2)} ms`;

/** A row comparing `value` with `baseline`: the ratio must stay at most (or at least) `limit`. */
function ratioRow(
  figure: string,
  [value, shown]: [number, string],
  [baseline, baselineShown]: [number, string],
  bound: "<=" | ">=",
  limit: number,
  digits = 2,
): Row {
  const ratio = value / baseline;
  return {
    figure,
    value: shown,
    baseline: baselineShown,
    ratio: `x${ratio.toFixed(digits)}`,
    target: `${bound} x${limit.toFixed(1)}`,
    met: bound === "<=" ? ratio <= limit : ratio >= limit,
  };
}

/** A row with no baseline: the value is checked against `target` alone. */
function checkRow(
  figure: string,
  value: string,
  target: string,
  met: boolean,
  baseline = "-",
): Row {
  return { figure, value, baseline, ratio: "-", target, met };
}

// The service logs every request; this process measures, so it keeps only the log's end.
// BENCH_SERVICE_ARGS adds service flags, e.g. "-write-policy owner" to measure the policy's cost.
const service = await startService({
  psk: PSK,
  logLimit: 64 * 1024,
  args: Deno.env.get("BENCH_SERVICE_ARGS")?.split(" ").filter(Boolean),
});
const etcd = createEtcdClient(service.etcdUrl, service.etcdTls);
const node = await createRegistryNode({ psk: PSK });
try {
  await node.dial(multiaddr(service.addr));
  const client = new RegistryClient({ node });
  const key = `${DEFAULT_KEY_PREFIX}bench-get`;
  const info = sampleInfo(1);
  await client.add("bench-get", info);
  for (let i = 0; i < 200; i++) {
    await client.get("bench-get");
    await etcd.get(key).string();
  }

  const [getSamples, etcdGetSamples] = await timeInTurns(WARM_SAMPLES, [
    () => client.get("bench-get"),
    () => etcd.get(key).string(),
  ]);
  const getP50 = percentile(getSamples, 0.5);
  const etcdGetP50 = percentile(etcdGetSamples, 0.5);
  rows.push(ratioRow(
    "warm get p50",
    [getP50, ms(getP50)],
    [etcdGetP50, `etcd3 get ${ms(etcdGetP50)}`],
    "<=",
    1.2,
  ));

  const infoStr = JSON.stringify(info);
  const [addSamples, putSamples] = await timeInTurns(WARM_SAMPLES / 2, [
    (i) => client.add(`bench-add-${i % 50}`, info),
    (i) => etcd.put(`${BASELINE_PREFIX}put-${i % 50}`).value(infoStr).exec(),
  ]);
  const addP50 = percentile(addSamples, 0.5);
  const putP50 = percentile(putSamples, 0.5);
  rows.push(ratioRow(
    "warm add p50",
    [addP50, ms(addP50)],
    [putP50, `etcd3 put ${ms(putP50)}`],
    "<=",
    2,
  ));

  // History of a name with 20 versions, against a get of the same name, both on fresh streams.
  for (let i = 0; i < 20; i++) await client.add("bench-history", sampleInfo(i));
  const rawRequest = async (protocol: string, payload: string) => {
    const stream = await node.dialProtocol(multiaddr(service.addr), protocol);
    stream.send(new TextEncoder().encode(payload));
    await stream.close();
    return await readToEnd(stream, { maxBytes: 64 << 20 });
  };
  const [historySamples, rawGetSamples] = await timeInTurns(WARM_SAMPLES / 2, [
    () => rawRequest(HISTORY_PROTOCOL, "bench-history"),
    () => rawRequest(GET_PROTOCOL, "bench-history"),
  ]);
  const historyP50 = percentile(historySamples, 0.5);
  const rawGetP50 = percentile(rawGetSamples, 0.5);
  rows.push({
    figure: "history of 20 versions p50",
    value: ms(historyP50),
    baseline: `get ${ms(rawGetP50)}`,
    ratio: `x${(historyP50 / rawGetP50).toFixed(2)}`,
    target: "-",
  });

  // CPU time of the service and of etcd over each path's runs, per request.
  const [etcdPid] = await etcdPids(service.dataDir);
  const [get, etcdGet] = await throughputInTurns(32, [
    { pid: service.child.pid, fn: () => client.get("bench-get") },
    { pid: etcdPid, fn: () => etcd.get(key).string() },
  ]);
  rows.push(ratioRow(
    "get throughput, 32 in flight",
    [get.rate, `${get.rate.toFixed(0)}/s`],
    [etcdGet.rate, `etcd3 ${etcdGet.rate.toFixed(0)}/s`],
    ">=",
    1,
  ));
  rows.push(ratioRow(
    "service CPU per get (32 in flight)",
    [get.cpuUs, `${get.cpuUs.toFixed(0)} µs`],
    [etcdGet.cpuUs, `etcd's per etcd3 get ${etcdGet.cpuUs.toFixed(0)} µs`],
    "<=",
    2,
  ));
  const [{ rate: addRate }, { rate: putRate }] = await throughputInTurns(32, [
    { pid: service.child.pid, fn: (i) => client.add(`bench-tp-${i % 1000}`, info) },
    {
      pid: etcdPid,
      fn: (i) => etcd.put(`${BASELINE_PREFIX}tp-put-${i % 1000}`).value(infoStr).exec(),
    },
  ]);
  rows.push(ratioRow(
    "add throughput, 32 in flight",
    [addRate, `${addRate.toFixed(0)}/s`],
    [putRate, `etcd3 put ${putRate.toFixed(0)}/s`],
    ">=",
    1,
  ));

  // The CLI as shipped: one bundled file (`deno task bundle`), like the compiled binary, where
  // modules need no resolution; and straight from source for comparison.
  const bundleDir = await Deno.makeTempDir({ prefix: "registry-bench-" });
  const bundle = `${bundleDir}/registry-cli.js`;
  const built = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--platform", "deno", "--minify", "-o", bundle, repoPath("cli.ts")],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!built.success) throw new Error(`bundling failed: ${new TextDecoder().decode(built.stderr)}`);
  const cliArgs = ["-bootstrap", service.addr, "-psk", PSK, "get", "bench-get"];
  const [etcdctlWall, bundledWall, sourceWall] = await wallTimeMedians([
    {
      cmd: "etcdctl",
      args: [...service.etcdctlFlags, "get", key],
      env: { ETCDCTL_API: "3" },
    },
    { cmd: Deno.execPath(), args: ["run", "-A", bundle, ...cliArgs], env: { NO_COLOR: "1" } },
    {
      cmd: Deno.execPath(),
      args: ["run", "-A", repoPath("cli.ts"), ...cliArgs],
      env: { NO_COLOR: "1" },
    },
  ]);
  await Deno.remove(bundleDir, { recursive: true });
  rows.push(ratioRow(
    "cold registry-cli get, bundled (median of 5)",
    [bundledWall, ms(bundledWall)],
    [etcdctlWall, `etcdctl get ${ms(etcdctlWall)}`],
    "<=",
    8,
    1,
  ));
  rows.push({
    ...ratioRow(
      "cold registry-cli get, from source",
      [sourceWall, ms(sourceWall)],
      [etcdctlWall, `etcdctl get ${ms(etcdctlWall)}`],
      "<=",
      8,
      1,
    ),
    target: "-",
    met: undefined,
  });

  const rssBefore = rssMiB(service.child.pid);
  const batch = 500;
  for (let i = 0; i < LIST_ENTRIES; i += batch) {
    await Promise.all(
      Array.from(
        { length: batch },
        (_, j) => etcd.put(`${DEFAULT_KEY_PREFIX}list-${i + j}`).value(infoStr).exec(),
      ),
    );
  }
  let listed = 0;
  const [listSamples] = await timeInTurns(10, [async () => {
    listed = Object.keys(await client.list()).length;
  }]);
  const listBytes = (await rawRequest(LIST_PROTOCOL, "")).byteLength;
  const listP50 = percentile(listSamples, 0.5);
  const growth = rssMiB(service.child.pid) - rssBefore;
  rows.push(
    checkRow(
      `list of ${listed} entries (p50 of 10)`,
      ms(listP50),
      "<= 100 ms",
      listP50 <= 100 && listed >= LIST_ENTRIES,
      `${(listBytes / 1024 / 1024).toFixed(2)} MB`,
    ),
  );
  rows.push(
    checkRow(
      "service memory growth for 10,000 entries",
      `${growth.toFixed(1)} MiB`,
      "<= 64 MiB",
      growth <= 64,
      `${rssBefore.toFixed(1)} MiB before`,
    ),
  );
  await etcd.delete().prefix(`${DEFAULT_KEY_PREFIX}list-`).exec();

  const burst = await Promise.allSettled(
    Array.from({ length: 128 }, () => client.get("bench-get")),
  );
  const answered = burst.filter((r) => r.status === "fulfilled").length;
  rows.push(
    checkRow(
      "128 requests in flight on one connection",
      `${answered}/128 answered`,
      "all answered",
      answered === 128,
    ),
  );

  const clients = await Promise.allSettled(
    Array.from({ length: 50 }, async () => {
      await using conn = await connectRegistry({
        bootstraps: [service.addr],
        psk: PSK,
        retry: { attempts: 1, initialDelayMs: 0, maxDelayMs: 0 },
        bootstrapRetry: { attempts: 1 },
      });
      return await conn.client.get("bench-get");
    }),
  );
  const served = clients.filter((r) => r.status === "fulfilled").length;
  const failure = clients.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
  if (failure) {
    // What failed and what the service said about it: a failure here is worth chasing.
    for (let err = failure.reason; err; err = err.cause) {
      console.error(`a client failed: ${err.name}: ${err.message}`);
    }
    const warnings = service.log().split("\n").filter((l) => /WARN|ERROR/.test(l));
    console.error(warnings.slice(-10).join("\n"));
  }
  rows.push(
    checkRow(
      "50 clients connecting at once from one host",
      `${served}/50 served`,
      "all served",
      served === 50,
    ),
  );
} finally {
  await node.stop();
  etcd.close();
  await service.stop();
}

const headers = ["figure", "value", "baseline", "ratio", "target", "met"] as const;
const table = rows.map((r) =>
  headers.map((h) => h === "met" ? (r.met === undefined ? "-" : r.met ? "yes" : "NO") : r[h] ?? "-")
);
const widths = headers.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
const line = (cells: readonly string[]) =>
  `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
console.log(line(headers));
console.log(line(widths.map((w) => "-".repeat(w))));
for (const row of table) console.log(line(row));
