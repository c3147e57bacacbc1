/**
 * The HTTP/2 client against a loopback peer of our own that stands for a
 * server with a stream limit (etcd's --max-concurrent-streams): a call waiting
 * for a stream slot settles when aborted, and is never sent.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { connectH2, frame } from "../../src/store/_h2.ts";

/** A server that allows one stream at a time and answers only when told. */
async function limitedServer() {
  const headersSeen: number[] = [];
  const settingsAcked = Promise.withResolvers<void>();
  let socket: net.Socket | undefined;
  const server = net.createServer((s) => {
    socket = s;
    const settings = new Uint8Array(6);
    new DataView(settings.buffer).setUint16(0, 3); // MAX_CONCURRENT_STREAMS
    new DataView(settings.buffer).setUint32(2, 1);
    s.write(frame(4, 0, 0, settings));
    let buf = new Uint8Array(0);
    let prefaceLeft = 24;
    s.on("data", (chunk: Uint8Array) => {
      const joined = new Uint8Array(buf.length + chunk.length);
      joined.set(buf);
      joined.set(chunk, buf.length);
      buf = joined;
      if (prefaceLeft > 0) {
        const n = Math.min(prefaceLeft, buf.length);
        buf = buf.subarray(n);
        prefaceLeft -= n;
      }
      while (buf.length >= 9) {
        const length = (buf[0] << 16) | (buf[1] << 8) | buf[2];
        if (buf.length < 9 + length) break;
        const type = buf[3], flags = buf[4];
        const id = new DataView(buf.buffer, buf.byteOffset).getUint32(5) & 0x7fffffff;
        if (type === 1) headersSeen.push(id);
        if (type === 4 && (flags & 1)) settingsAcked.resolve();
        buf = buf.subarray(9 + length);
      }
    });
    s.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    headersSeen,
    acked: () => settingsAcked.promise,
    /** Answers stream `id`: ":status 200" (static 8), END_STREAM | END_HEADERS. */
    answer: (id: number) => socket!.write(frame(1, 0x5, id, new Uint8Array([0x88]))),
    close: () => {
      socket?.destroy();
      server.close();
    },
  };
}

const HEADERS = [[":method", "POST"], [":scheme", "http"], [":path", "/x"], [
  ":authority",
  "a",
]] as const;

Deno.test("h2: an aborted call waiting for a stream slot settles and is never sent", async () => {
  const server = await limitedServer();
  const conn = await connectH2({ host: "127.0.0.1", port: server.port });
  try {
    await server.acked();
    const first = conn.request(HEADERS, new Uint8Array([1]));
    const second = conn.request(
      HEADERS,
      new Uint8Array([2]),
      AbortSignal.timeout(200),
    );
    second.catch(() => {});
    const outcome = await Promise.race([
      second.then(() => "resolved", () => "rejected"),
      new Promise((r) => setTimeout(() => r("still pending after 2 s"), 2_000)),
    ]);
    // Once the slot frees, the aborted call must not go out.
    server.answer(1);
    await first;
    await new Promise((r) => setTimeout(r, 300));
    const sentAfterAbort = server.headersSeen.includes(3);
    assert.deepEqual(
      { outcome, sentAfterAbort },
      { outcome: "rejected", sentAfterAbort: false },
      "the aborted call must settle and never be sent",
    );
  } finally {
    conn.close();
    server.close();
  }
});
