import assert from "node:assert/strict";
import { createRegistryNode, type RegistryNode } from "../../mod.ts";
import { readToEnd, sendAndClose } from "../../src/protocol/stream_io.ts";
import { concatBytes } from "../../src/_bytes.ts";

// Frames are joined per turn of the event loop under the muxer (src/p2p/_coalesce.ts);
// these tests hold it to what a plain muxer guarantees: order, completeness, backpressure.

async function pair(): Promise<{ server: RegistryNode; client: RegistryNode }> {
  const server = await createRegistryNode({ listen: ["/ip4/127.0.0.1/tcp/0"] });
  const client = await createRegistryNode();
  return { server, client };
}

Deno.test("many frames written in one turn arrive whole and in order", async () => {
  const { server, client } = await pair();
  const parts = Array.from({ length: 500 }, (_, i) => new TextEncoder().encode(`part ${i};`));
  try {
    await server.handle("/test/burst/1", (stream) => {
      for (const part of parts) stream.send(part);
      void stream.close();
    });
    const stream = await client.dialProtocol(server.getMultiaddrs()[0], "/test/burst/1");
    const reading = readToEnd(stream, { maxBytes: 1 << 20, signal: AbortSignal.timeout(10_000) });
    await stream.close();
    assert.deepEqual(await reading, concatBytes(parts));
  } finally {
    await client.stop();
    await server.stop();
  }
});

Deno.test("a transfer larger than the write buffer arrives intact under backpressure", async () => {
  const { server, client } = await pair();
  try {
    await server.handle("/test/digest/1", async (stream) => {
      const body = await readToEnd(stream, { maxBytes: 16 << 20 });
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(body)));
      await sendAndClose(stream, digest);
    });
    const body = new Uint8Array(8 << 20);
    for (let i = 0; i < body.length; i += 65_536) {
      crypto.getRandomValues(body.subarray(i, i + 65_536));
    }
    const stream = await client.dialProtocol(server.getMultiaddrs()[0], "/test/digest/1");
    const reading = readToEnd(stream, { maxBytes: 64, signal: AbortSignal.timeout(30_000) });
    for (let i = 0; i < body.length; i += 100_000) {
      if (!stream.send(body.subarray(i, i + 100_000))) await stream.onDrain();
    }
    await stream.close();
    assert.deepEqual([...await reading], [
      ...new Uint8Array(await crypto.subtle.digest("SHA-256", body)),
    ]);
  } finally {
    await client.stop();
    await server.stop();
  }
});
