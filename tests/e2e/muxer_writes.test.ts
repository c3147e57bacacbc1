import assert from "node:assert/strict";
import { createRegistryNode, type RegistryNode } from "../../mod.ts";
import { readToEnd, sendAndClose } from "../../src/protocol/stream_io.ts";
import { concatBytes } from "../../src/_bytes.ts";
import type { Stream } from "@libp2p/interface";
import {
  connectionMuxer,
  selectionPrefix,
  stripSelectionEcho,
} from "../../src/client/_lazy_select.ts";

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

// A request and its answer take as few frames as they can (src/p2p/_fewer_frames.ts).

/**
 * A stream opened on the muxer of a connection from `client` to `server` once the server has the
 * connection (a stream that arrives before that is held by the muxer until it has a listener).
 */
async function lazyStream(client: RegistryNode, server: RegistryNode): Promise<Stream> {
  const connection = await client.dial(server.getMultiaddrs()[0]);
  while (server.getConnections(client.peerId).length === 0) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return await connectionMuxer(connection)!.createStream();
}

/** Every message of `stream` until it ends, each as it arrived. */
function messagesOf(stream: Stream): Promise<Uint8Array[]> {
  const messages: Uint8Array[] = [];
  return new Promise((resolve, reject) => {
    stream.addEventListener("message", (evt) => messages.push(new Uint8Array(evt.data.subarray())));
    stream.addEventListener("close", (evt) => evt.error ? reject(evt.error) : resolve(messages));
  });
}

Deno.test("a lazy request's negotiation echo leaves with its answer, not before it", async () => {
  const { server, client } = await pair();
  try {
    await server.handle("/test/slow/1", async (stream) => {
      const request = await readToEnd(stream, { maxBytes: 1024 });
      // Long enough for an echo sent at once to arrive on its own first.
      await new Promise((resolve) => setTimeout(resolve, 300));
      await sendAndClose(stream, new Uint8Array([...request].reverse()));
    });
    const stream = await lazyStream(client, server);
    const messages = messagesOf(stream);
    stream.send(concatBytes([selectionPrefix("/test/slow/1"), new Uint8Array([1, 2, 3])]));
    await stream.close();
    const [first, ...rest] = await messages;
    assert.deepEqual(rest, []);
    assert.deepEqual(
      first,
      concatBytes([selectionPrefix("/test/slow/1"), new Uint8Array([3, 2, 1])]),
    );
  } finally {
    await client.stop();
    await server.stop();
  }
});

Deno.test("a dialer that waits for the echo before its request gets it at once", async () => {
  const { server, client } = await pair();
  try {
    await server.handle("/test/echo/1", async (stream) => {
      await sendAndClose(stream, await readToEnd(stream, { maxBytes: 1024 }));
    });
    // dialProtocol negotiates in full: it returns only once the echo has come.
    const stream = await client.dialProtocol(server.getMultiaddrs()[0], "/test/echo/1", {
      signal: AbortSignal.timeout(10_000),
    });
    const reading = readToEnd(stream, { maxBytes: 1024, signal: AbortSignal.timeout(10_000) });
    await sendAndClose(stream, new Uint8Array([7, 8]));
    assert.deepEqual([...await reading], [7, 8]);
  } finally {
    await client.stop();
    await server.stop();
  }
});

Deno.test("a lazy request for a protocol the listener lacks is told na", async () => {
  const { server, client } = await pair();
  try {
    const stream = await lazyStream(client, server);
    const received: Uint8Array[] = [];
    stream.addEventListener("message", (evt) => received.push(evt.data.subarray()));
    const closed = new Promise((resolve) => stream.addEventListener("close", resolve));
    stream.send(selectionPrefix("/test/missing/1"));
    await stream.close().catch(() => {});
    await closed;
    const answer = concatBytes(received);
    assert.throws(() => stripSelectionEcho(answer, "/test/missing/1"), /not supported/);
  } finally {
    await client.stop();
    await server.stop();
  }
});

Deno.test("a lazy request reset before its answer leaves a close that settles, never throws", async () => {
  // The watch handler closes its stream from the stream's close event (src/service/watch.ts):
  // a close that threw there would be an uncaught exception, the end of the service.
  const { server, client } = await pair();
  try {
    const read = Promise.withResolvers<void>();
    const closed = Promise.withResolvers<unknown>();
    await server.handle("/test/quiet/1", async (stream) => {
      await readToEnd(stream, { maxBytes: 1024 });
      const reset = new Promise((resolve) => stream.addEventListener("close", resolve));
      read.resolve();
      await reset;
      try {
        await stream.close().catch(() => {});
        closed.resolve(undefined);
      } catch (err) {
        closed.resolve(err);
      }
    });
    const stream = await lazyStream(client, server);
    stream.send(concatBytes([selectionPrefix("/test/quiet/1"), new Uint8Array([1])]));
    await stream.close();
    await read.promise;
    stream.abort(new Error("the dialer gave up"));
    assert.equal(await closed.promise, undefined);
  } finally {
    await client.stop();
    await server.stop();
  }
});
