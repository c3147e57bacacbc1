import assert from "node:assert/strict";
import type { Connection } from "@libp2p/interface";
import { createRegistryNode } from "../../mod.ts";
import { concatBytes } from "../../src/_bytes.ts";
import {
  readInto,
  readToEnd,
  sendAndClose,
  StreamEndedEarlyError,
  StreamTimeoutError,
} from "../../src/protocol/stream_io.ts";

// A message is complete only when the remote closed its write side; a stream or connection
// that ends any other way must fail the read, never hand back what arrived so far.

const BIG = 1 << 20;

async function readBigAnswer(cut?: (connection: Connection) => void): Promise<Uint8Array> {
  const server = await createRegistryNode({ listen: ["/ip4/127.0.0.1/tcp/0"] });
  const client = await createRegistryNode({ clientOnly: true });
  try {
    await server.handle("/test/big/1", (stream, connection) => {
      // More than one flow-control window, so part of it is still queued when the cut comes.
      stream.send(new Uint8Array(BIG).fill(7));
      if (cut) setTimeout(() => cut(connection), 5);
      else void stream.close();
    });
    const stream = await client.dialProtocol(server.getMultiaddrs()[0], "/test/big/1");
    const reading = readToEnd(stream, { maxBytes: 2 * BIG, signal: AbortSignal.timeout(10_000) });
    await stream.close();
    return await reading;
  } finally {
    await client.stop();
    await server.stop();
  }
}

Deno.test("an answer larger than the flow-control window is read whole", async () => {
  assert.deepEqual(await readBigAnswer(), new Uint8Array(BIG).fill(7));
});

/** Reads a 1 MiB answer with readInto, handing each piece to `take`: how the read ended. */
async function readBigInto(
  take: (bytes: Uint8Array) => void,
): Promise<{ error?: unknown; status: string }> {
  const server = await createRegistryNode({ listen: ["/ip4/127.0.0.1/tcp/0"] });
  const client = await createRegistryNode({ clientOnly: true });
  try {
    await server.handle("/test/big/1", (stream) => {
      stream.send(new Uint8Array(BIG).fill(7));
      // A reader that resets the stream makes this close fail; that is the reader's test.
      stream.close().catch(() => {});
    });
    const stream = await client.dialProtocol(server.getMultiaddrs()[0], "/test/big/1");
    const limits = { maxBytes: 2 * BIG, signal: AbortSignal.timeout(10_000) };
    const reading = readInto(stream, take, limits).then(() => undefined, (err) => err);
    await stream.close();
    return { error: await reading, status: stream.status };
  } finally {
    await client.stop();
    await server.stop();
  }
}

Deno.test("readInto hands the answer over piece by piece as it arrives", async () => {
  const pieces: Uint8Array[] = [];
  const { error } = await readBigInto((bytes) => pieces.push(bytes.slice()));
  assert.equal(error, undefined);
  assert.ok(pieces.length > 1, `${pieces.length} piece(s)`);
  assert.deepEqual(concatBytes(pieces), new Uint8Array(BIG).fill(7));
});

Deno.test("readInto fails with what its taker throws, and resets the stream", async () => {
  let taken = 0;
  const refused = new Error("refused by the taker");
  const { error, status } = await readBigInto(() => {
    if (++taken === 2) throw refused;
  });
  assert.equal(error, refused);
  assert.equal(status, "aborted");
  assert.equal(taken, 2, "nothing is handed over after the taker threw");
});

Deno.test("an answer cut off by a closed connection fails the read", async () => {
  await assert.rejects(readBigAnswer((c) => void c.close()), StreamEndedEarlyError);
});

Deno.test("an answer cut off by an aborted connection fails the read", async () => {
  await assert.rejects(readBigAnswer((c) => c.abort(new Error("cut"))), StreamEndedEarlyError);
});

Deno.test("sending an answer fails when the reader's connection goes midway", async () => {
  const server = await createRegistryNode({ listen: ["/ip4/127.0.0.1/tcp/0"] });
  const client = await createRegistryNode({ clientOnly: true });
  const sent = Promise.withResolvers<void>();
  try {
    await server.handle("/test/big/1", (stream) => {
      sendAndClose(stream, new Uint8Array(64 * BIG)).then(sent.resolve, sent.reject);
    });
    const stream = await client.dialProtocol(server.getMultiaddrs()[0], "/test/big/1");
    await stream.close();
    // Read a few flow-control windows (the sender is then closing, waiting for its queue to
    // empty), then drop the connection while most of the answer is still queued.
    let received = 0;
    await new Promise<void>((resolve) =>
      stream.addEventListener("message", (evt) => {
        received += evt.data.byteLength;
        if (received > 4 * BIG) resolve();
      })
    );
    for (const connection of client.getConnections()) connection.abort(new Error("gone"));
    await assert.rejects(sent.promise, StreamEndedEarlyError);
  } finally {
    await client.stop();
    await server.stop();
  }
});

Deno.test("sending an answer ends at its total limit, however the reader keeps the stream", async () => {
  const server = await createRegistryNode({ listen: ["/ip4/127.0.0.1/tcp/0"] });
  const client = await createRegistryNode({ clientOnly: true });
  const sent = Promise.withResolvers<void>();
  let guard: ReturnType<typeof setTimeout> | undefined;
  try {
    await server.handle("/test/big/1", (stream) => {
      // No idle limit: only the total one can end this answer.
      sendAndClose(stream, new Uint8Array(64 * BIG), { totalMs: 1_000 })
        .then(sent.resolve, sent.reject);
    });
    const stream = await client.dialProtocol(server.getMultiaddrs()[0], "/test/big/1");
    await stream.close();
    stream.pause();
    const timedOut = new Promise<never>((_, reject) => {
      guard = setTimeout(
        () => reject(new Error("the answer was still pending after 15 s")),
        15_000,
      );
    });
    await assert.rejects(Promise.race([sent.promise, timedOut]), (err: Error) => {
      assert.ok(err instanceof StreamTimeoutError, String(err));
      assert.match(err.message, /not all taken after 1000 ms/);
      return true;
    });
  } finally {
    clearTimeout(guard);
    await client.stop();
    await server.stop();
  }
});
