import { equal, notEqual, ok } from "node:assert/strict";
import { contentHash } from "../../src/image/content_hash.ts";
import { ipfsCidV0 } from "./_ipfs_cid.ts";

const CHUNK = 256 * 1024;

/** Deterministic, incompressible-looking bytes (xorshift32) so chunks differ. */
function bytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A stream handing out `data` in uneven pieces that do not line up with chunks. */
function streamOf(data: Uint8Array, piece = 100_003): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= data.length) return controller.close();
      controller.enqueue(data.slice(offset, offset + piece));
      offset += piece;
    },
  });
}

async function knownAnswer(data: Uint8Array): Promise<string> {
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeFile(path, data);
    return await ipfsCidV0(path);
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("contentHash of the empty file is the well-known CID", async () => {
  equal(await contentHash(new Uint8Array()), "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
  equal(await contentHash(streamOf(new Uint8Array())), await knownAnswer(new Uint8Array()));
});

const cases: [string, number][] = [
  ["one small chunk", 1000],
  ["exactly 256 KiB", CHUNK],
  ["256 KiB + 1", CHUNK + 1],
  ["a two-level DAG (more than 174 chunks)", 174 * CHUNK + 5 * CHUNK + 17],
];

for (const [name, size] of cases) {
  Deno.test(`contentHash matches ipfs_cid and stream equals bytes: ${name}`, async () => {
    const data = bytes(size, size);
    const expected = await knownAnswer(data);
    equal(await contentHash(data), expected);
    equal(await contentHash(streamOf(data)), expected);
  });
}

Deno.test("contentHash of different data differs", async () => {
  const a = await contentHash(bytes(CHUNK + 1, 7));
  const b = await contentHash(bytes(CHUNK + 1, 8));
  notEqual(a, b);
});

Deno.test("contentHash cancels its input stream when hashing fails partway", async () => {
  let pulls = 0;
  let cancelReason: unknown = "not cancelled";
  const input = new ReadableStream<Uint8Array>({
    pull(controller) {
      // Two chunks of bytes, then one that is not bytes; more would follow.
      controller.enqueue(++pulls <= 2 ? bytes(CHUNK) : ({} as Uint8Array));
    },
    cancel(reason) {
      cancelReason = reason;
    },
  }, { highWaterMark: 0 });
  const error = await contentHash(input).then(() => undefined, (e: Error) => e);
  ok(error instanceof Error && /Content was invalid/.test(error.message), String(error));
  equal(cancelReason, error, "cancelled with the error that stopped hashing");
  equal(pulls, 3, "nothing read after the failure");
  equal(input.locked, false);
});
