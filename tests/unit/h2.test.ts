/**
 * The HTTP/2 client against a loopback peer of our own that stands for a
 * server with a stream limit (etcd's --max-concurrent-streams): a call waiting
 * for a stream slot settles when aborted, and is never sent; and a stream's
 * frames both ways, its window, its reset and a GOAWAY.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { connectH2, frame } from "../../src/store/_h2.ts";

/** A frame the server received. */
interface Seen {
  type: number;
  flags: number;
  id: number;
  payload: Uint8Array;
}

/** A server that allows `maxStreams` streams at a time and answers only when told. */
async function limitedServer(maxStreams = 1) {
  const headersSeen: number[] = [];
  const frames: Seen[] = [];
  const settingsAcked = Promise.withResolvers<void>();
  let socket: net.Socket | undefined;
  const server = net.createServer((s) => {
    socket = s;
    const settings = new Uint8Array(6);
    new DataView(settings.buffer).setUint16(0, 3); // MAX_CONCURRENT_STREAMS
    new DataView(settings.buffer).setUint32(2, maxStreams);
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
        frames.push({ type, flags, id, payload: buf.slice(9, 9 + length) });
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
    frames,
    acked: () => settingsAcked.promise,
    /** Writes frames to the client. */
    write: (...out: Uint8Array[]) => out.forEach((f) => socket!.write(f)),
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

/** Waits until `check` holds (the peer's frames arrive in their own time). */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 10));
}

const u32 = (n: number) => {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, n);
  return bytes;
};

Deno.test("h2: a stream sends and receives over time, tops up its window, fails on RST_STREAM and GOAWAY", async () => {
  const server = await limitedServer(10);
  const conn = await connectH2({ host: "127.0.0.1", port: server.port, receiveWindow: 100 });
  try {
    await server.acked();
    const received: number[][] = [];
    const stream = await conn.stream(HEADERS, (payload) => received.push([...payload]));
    stream.done.catch(() => {});
    stream.send(new Uint8Array([1, 2, 3]));
    stream.send(new Uint8Array([4]));
    await until(() => server.frames.filter((f) => f.type === 0).length === 2);
    // Body sent as it came, and the request stays open (no END_STREAM).
    assert.deepEqual(
      server.frames.filter((f) => f.type === 0).map((f) => [f.id, f.flags, [...f.payload]]),
      [[1, 0, [1, 2, 3]], [1, 0, [4]]],
    );
    // ":status 200" (static 8), END_HEADERS only; then 120 bytes, over half the 100-byte window.
    server.write(frame(1, 0x4, 1, new Uint8Array([0x88])));
    server.write(frame(0, 0, 1, new Uint8Array(60).fill(7)), frame(0, 0, 1, new Uint8Array(60)));
    await until(() => received.length === 2);
    assert.deepEqual(received.map((r) => r.length), [60, 60]);
    await until(() => server.frames.some((f) => f.type === 8 && f.id === 1));
    const update = server.frames.find((f) => f.type === 8 && f.id === 1)!;
    assert.equal(new DataView(update.payload.buffer).getUint32(0), 60, "the window given back");

    server.write(frame(3, 0, 1, u32(2))); // RST_STREAM, INTERNAL_ERROR
    await assert.rejects(stream.done, /reset the stream \(code 2\)/);

    const second = await conn.stream(HEADERS, () => {});
    second.done.catch(() => {});
    // GOAWAY naming it processed: a long-lived stream fails all the same, and is reset.
    const goAway = new Uint8Array(8);
    new DataView(goAway.buffer).setUint32(0, 3);
    server.write(frame(7, 0, 0, goAway));
    await assert.rejects(second.done, /GOAWAY/);
    await until(() => server.frames.some((f) => f.type === 3 && f.id === 3));
  } finally {
    conn.close();
    server.close();
  }
});
