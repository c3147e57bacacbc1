/**
 * The content hash the registry keeps for an image: the IPFS CID v0 of its
 * `docker save` tar, as go-ipfs `ipfs add` computes it by default.
 *
 * @module
 */
import { importFile, type WritableStorage } from "ipfs-unixfs-importer";

/**
 * A blockstore that keeps nothing: only the root CID matters, and keeping the
 * blocks would hold a multi-GB image in memory.
 */
const DISCARD_BLOCKS: WritableStorage = {
  put: (cid) => Promise.resolve(cid),
};

/**
 * Computes the IPFS CID v0 of `data` with go-ipfs `ipfs add` defaults: a UnixFS
 * file in 256 KiB fixed-size chunks, a balanced DAG with at most 174 links per
 * node, dag-pb leaves (no raw leaves) and sha2-256; a file of one chunk is its
 * own root. A stream is consumed chunk by chunk and never held in memory whole;
 * when hashing fails partway, the stream is cancelled.
 *
 * @param data The bytes, or a stream of them (e.g. `docker save` output).
 * @returns The CID v0 in base58btc (`Qm...`).
 *
 * @example Hash an empty file
 * ```ts
 * import assert from "node:assert/strict";
 * import { contentHash } from "./content_hash.ts";
 * const cid = await contentHash(new Uint8Array());
 * assert.ok(cid === "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
 * ```
 *
 * @example Hash a file as a stream
 * ```ts ignore
 * import { contentHash } from "./content_hash.ts";
 * using file = await Deno.open("image.tar");
 * console.log(await contentHash(file.readable));
 * ```
 */
export async function contentHash(
  data: Uint8Array | ReadableStream<Uint8Array>,
): Promise<string> {
  if (data instanceof Uint8Array) return await importRoot([data]);
  const reader = data.getReader();
  try {
    return await importRoot(chunks(reader));
  } catch (error) {
    // The producer (e.g. `docker save`) must not wait forever for a reader that gave up.
    await reader.cancel(error).catch(() => {});
    throw error;
  } finally {
    reader.releaseLock();
  }
}

async function importRoot(content: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
  const { cid } = await importFile({ content }, DISCARD_BLOCKS, {
    profile: "unixfs-v0-2015",
  });
  return cid.toString();
}

async function* chunks(reader: ReadableStreamDefaultReader<Uint8Array>) {
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    yield value;
  }
}
