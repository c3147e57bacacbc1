/**
 * contentHash throughput and peak memory on 256 MiB, against the plain
 * `ipfs-unixfs-importer` importer run in the same process on the same bytes:
 *
 * - baseline "importer + memory blockstore": the library's documented usage
 *   (same go-ipfs profile, blocks kept in a Map);
 * - baseline "importer, defaults": the importer with its own defaults
 *   (CID v1, raw leaves), blocks discarded.
 *
 * Ratios are against contentHash (x1.00). Peak RSS is measured per phase in a fresh
 * process, since a process's peak never goes down.
 *
 * Run: deno run -A scripts/bench_content_hash.ts [MiB]
 *
 * @module
 */
import { importer, type ImporterOptions, type WritableStorage } from "ipfs-unixfs-importer";
import { contentHash } from "../src/image/content_hash.ts";

const MIB = 1024 * 1024;
const sizeMiB = Number(Deno.args[0] ?? 256);

const seed = new Uint8Array(MIB);
for (let i = 0; i < MIB; i += 65536) crypto.getRandomValues(seed.subarray(i, i + 65536));

/** The same `sizeMiB` of bytes each call, in 1 MiB pieces made on the fly (never all in memory). */
function source(): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent === sizeMiB) return controller.close();
      const piece = seed.slice();
      // Different bytes per 256 KiB chunk, so no two blocks are equal.
      for (let k = 0; k < 4; k++) new DataView(piece.buffer).setUint32(k * 262144, sent * 4 + k);
      controller.enqueue(piece);
      sent++;
    },
  });
}

interface Phase {
  name: string;
  run: () => Promise<string>;
}

async function plainImporter(store: WritableStorage, options: ImporterOptions): Promise<string> {
  let last = "";
  for await (const entry of importer([{ content: source() }], store, options)) {
    last = entry.cid.toString();
  }
  return last;
}

const phases: Phase[] = [
  { name: "contentHash (stream, blocks discarded)", run: () => contentHash(source()) },
  {
    name: "importer + memory blockstore (same profile)",
    run: () => {
      const blocks = new Map<string, unknown>();
      return plainImporter({
        put: (cid, block) => {
          blocks.set(cid.toString(), block);
          return Promise.resolve(cid);
        },
      }, { profile: "unixfs-v0-2015" });
    },
  },
  {
    name: "importer, defaults (CID v1, raw leaves)",
    run: () => plainImporter({ put: (cid) => Promise.resolve(cid) }, {}),
  },
];

/** Peak resident memory of this process so far (VmHWM), in MiB. */
async function peakRssMiB(): Promise<number> {
  const status = await Deno.readTextFile("/proc/self/status");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

// Peak memory needs a fresh process per phase (a process's peak never goes down).
const phaseIndex = Deno.args.indexOf("--phase");
if (phaseIndex >= 0) {
  const before = await peakRssMiB();
  await phases[Number(Deno.args[phaseIndex + 1])].run();
  console.log(JSON.stringify({ before, after: await peakRssMiB() }));
  Deno.exit(0);
}

async function peakOf(index: number): Promise<{ before: number; after: number }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      String(sizeMiB),
      "--phase",
      String(index),
    ],
    stdout: "piped",
  }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

// Throughput: all phases in this one process, on the same bytes.
const results = [];
for (const [index, phase] of phases.entries()) {
  const start = performance.now();
  const cid = await phase.run();
  const seconds = (performance.now() - start) / 1000;
  results.push({ ...phase, cid, seconds, memory: await peakOf(index) });
}

const [ours] = results;
const oursThroughput = sizeMiB / ours.seconds;
const oursPeak = ours.memory.after;
console.log(
  `input: ${sizeMiB} MiB, ${Deno.build.os}/${Deno.build.arch}, deno ${Deno.version.deno}`,
);
for (const r of results) {
  const throughput = sizeMiB / r.seconds;
  console.log(
    `${r.name.padEnd(46)} ${throughput.toFixed(1).padStart(7)} MiB/s (x${
      (throughput / oursThroughput).toFixed(2)
    })  ` +
      `peak RSS ${r.memory.after.toFixed(0).padStart(5)} MiB (x${
        (r.memory.after / oursPeak).toFixed(2)
      }; ` +
      `${r.memory.before.toFixed(0)} MiB before hashing)  ${r.cid}`,
  );
}
if (results[0].cid !== results[1].cid) {
  throw new Error("contentHash and the same-profile importer disagree");
}
