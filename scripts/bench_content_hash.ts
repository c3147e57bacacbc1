/**
 * contentHash throughput and peak memory on 256 MiB, against the plain
 * `ipfs-unixfs-importer` importer run in the same process on the same bytes:
 *
 * - baseline "importer + memory blockstore": the library's documented usage
 *   (same go-ipfs profile, blocks kept in a Map);
 * - baseline "importer, defaults": the importer with its own defaults
 *   (CID v1, raw leaves), blocks discarded.
 *
 * Run: deno run -A --v8-flags=--expose-gc scripts/bench_content_hash.ts [MiB]
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

interface Result {
  name: string;
  cid: string;
  seconds: number;
  peakRssMiB: number;
}

async function measure(name: string, run: () => Promise<string>): Promise<Result> {
  (globalThis as { gc?: () => void }).gc?.();
  const startRss = Deno.memoryUsage().rss;
  let peak = startRss;
  const sampler = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().rss), 20);
  const start = performance.now();
  const cid = await run();
  const seconds = (performance.now() - start) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, Deno.memoryUsage().rss);
  return { name, cid, seconds, peakRssMiB: (peak - startRss) / MIB };
}

async function plainImporter(store: WritableStorage, options: ImporterOptions): Promise<string> {
  let last = "";
  for await (const entry of importer([{ content: source() }], store, options)) {
    last = entry.cid.toString();
  }
  return last;
}

const memoryStore = new Map<string, unknown>();
const results = [
  await measure("contentHash (stream, blocks discarded)", () => contentHash(source())),
  await measure("importer + memory blockstore (same profile)", () =>
    plainImporter({
      put: (cid, block) => {
        memoryStore.set(cid.toString(), block);
        return Promise.resolve(cid);
      },
    }, { profile: "unixfs-v0-2015" })),
  await measure(
    "importer, defaults (CID v1, raw leaves)",
    () => plainImporter({ put: (cid) => Promise.resolve(cid) }, {}),
  ),
];
memoryStore.clear();

const [ours] = results;
console.log(
  `input: ${sizeMiB} MiB, ${Deno.build.os}/${Deno.build.arch}, deno ${Deno.version.deno}`,
);
for (const r of results) {
  const throughput = sizeMiB / r.seconds;
  console.log(
    `${r.name.padEnd(46)} ${throughput.toFixed(1).padStart(7)} MiB/s  ` +
      `peak RSS +${r.peakRssMiB.toFixed(0).padStart(5)} MiB  ` +
      `throughput ratio ${(throughput / (sizeMiB / ours.seconds)).toFixed(2)}  ` +
      `memory ratio ${(r.peakRssMiB / Math.max(ours.peakRssMiB, 1)).toFixed(1)}  ${r.cid}`,
  );
}
if (results[0].cid !== results[1].cid) {
  throw new Error("contentHash and the same-profile importer disagree");
}
