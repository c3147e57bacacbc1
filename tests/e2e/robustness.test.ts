import assert from "node:assert/strict";
import { multiaddr } from "@multiformats/multiaddr";
import type { Stream } from "@libp2p/interface";
import {
  connectRegistry,
  createRegistryNode,
  RegistryClient,
  type RegistryNode,
} from "../../mod.ts";
import { sampleInfo, type ServiceProcess, startService } from "../_registry.ts";
import {
  connectionMuxer,
  selectionPrefix,
  stripSelectionEcho,
} from "../../src/client/_lazy_select.ts";
import { readToEnd } from "../../src/protocol/stream_io.ts";
import { concatBytes } from "../../src/_bytes.ts";
import { addPayload, wirePeer } from "./_wire.ts";
import { connect, type Socket } from "node:net";
import { generateKeyPair } from "@libp2p/crypto/keys";

const PSK = "robustness-test";
const encoder = new TextEncoder();

/** Runs `fn` against a fresh PSK service and a client node of its own; stops both after. */
async function withServiceAndNode(
  fn: (service: ServiceProcess, node: RegistryNode) => Promise<void>,
): Promise<void> {
  const service = await startService({ psk: PSK });
  const node = await createRegistryNode({ psk: PSK });
  try {
    await fn(service, node);
  } finally {
    await node.stop();
    await service.stop();
  }
}

/** Reads a stream to its end; returns the text, or the error that ended it. */
async function outcome(stream: Stream): Promise<{ text?: string; error?: Error }> {
  try {
    let text = "";
    for await (const chunk of stream) text += new TextDecoder().decode(chunk.subarray());
    return { text };
  } catch (error) {
    return { error: error as Error };
  }
}

Deno.test("misbehaving peers are refused and the service keeps serving", async (t) => {
  const service = await startService({ psk: PSK });
  const node = await createRegistryNode({ psk: PSK });
  const target = multiaddr(service.addr);
  const open = (protocol: string) => node.dialProtocol(target, protocol);
  const stillServes = async () => {
    await using conn = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
    assert.deepEqual(await conn.client.list(), {}, "something was stored");
    await conn.client.add("probe", sampleInfo(9));
    assert.deepEqual(await conn.client.get("probe"), sampleInfo(9));
    await conn.client.delete("probe");
  };
  try {
    await t.step("malformed and ill-valued adds are answered with the reason", async () => {
      // A refused write is answered, so the writer learns why (the original reset the stream).
      const cases: [string, RegExp][] = [
        ["{not json", /^Error: add request is not valid JSON$/],
        ['{"Name":"x"}', /^Error: add request needs InfoStr/],
        ['{"Name":"x","InfoStr":"nope"}', /^Error: invalid service info: /],
      ];
      for (const [payload, answer] of cases) {
        const stream = await open("/add/0.1");
        stream.send(encoder.encode(payload));
        await stream.close();
        assert.match((await outcome(stream)).text ?? "", answer, payload);
      }
      await stillServes();
    });

    await t.step("binary garbage is refused", async () => {
      const garbage = new Uint8Array(4096);
      crypto.getRandomValues(garbage);
      garbage[0] = 0xff; // never valid UTF-8
      for (const protocol of ["/get/0.1", "/add/0.1", "/delete/0.1", "/list/0.1"]) {
        const stream = await open(protocol);
        stream.send(garbage);
        await stream.close();
        assert.ok((await outcome(stream)).error, protocol);
      }
      await stillServes();
    });

    await t.step("a 16 MiB request is refused once it passes 1 MiB", async () => {
      const stream = await open("/add/0.1");
      const chunk = new Uint8Array(64 * 1024).fill(0x61);
      let sent = 0;
      let failed = false;
      try {
        while (sent < 16 * 1024 * 1024) {
          if (!stream.send(chunk)) await stream.onDrain({ signal: AbortSignal.timeout(10_000) });
          sent += chunk.length;
        }
        await stream.close();
      } catch {
        failed = true;
      }
      const result = await outcome(stream);
      assert.ok(failed || result.error, "16 MiB request was not refused");
      await service.waitForLog(/larger than 1048576 bytes/);
      await stillServes();
    });

    await t.step("a stream that never ends is reset after 10 s idle", async () => {
      const stream = await open("/get/0.1");
      stream.send(encoder.encode("partial-name"));
      const started = Date.now();
      const result = await outcome(stream);
      const took = Date.now() - started;
      assert.ok(result.error, "stream was not reset");
      assert.ok(took >= 9_000 && took < 20_000, `reset after ${took} ms`);
      await stillServes();
    });

    await t.step("abrupt disconnects mid-request leave the service serving", async () => {
      for (let i = 0; i < 5; i++) {
        const rude = await createRegistryNode({ psk: PSK });
        const stream = await rude.dialProtocol(target, "/add/0.1");
        stream.send(encoder.encode('{"Name":"half'));
        await rude.stop();
      }
      const reset = await open("/add/0.1");
      reset.send(encoder.encode('{"Name":"x",'));
      reset.abort(new Error("client reset"));
      await stillServes();
    });

    await t.step(
      "a flood of 300 concurrent requests on one connection is all answered",
      async () => {
        await using conn = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
        await conn.client.add("flood", sampleInfo(4));
        const results = await Promise.all(
          Array.from({ length: 300 }, () => conn.client.get("flood")),
        );
        assert.equal(results.length, 300);
        for (const info of results) assert.deepEqual(info, sampleInfo(4));
        await conn.client.delete("flood");
        await stillServes();
      },
    );
  } finally {
    await node.stop();
    await service.stop();
  }
});

Deno.test("a request sent with its negotiation and close in one write is answered at once", () =>
  withServiceAndNode(async (service, node) => {
    // go-libp2p negotiates a single protocol lazily: header, protocol, request
    // and close arrive together, before the handler starts reading.
    const connection = await node.dial(multiaddr(service.addr));
    await using conn = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
    await conn.client.add("eager", sampleInfo(4));
    const muxer = connectionMuxer(connection);
    assert.ok(muxer, "this libp2p version exposes no connection muxer");
    for (const [protocol, payload] of [["/get/0.1", "eager"], ["/list/0.1", ""]]) {
      const stream = await muxer.createStream();
      // Well inside the service's 10 s idle limit, which used to end such requests.
      const reading = readToEnd(stream, { maxBytes: 1 << 20, signal: AbortSignal.timeout(5_000) });
      stream.send(concatBytes([selectionPrefix(protocol), encoder.encode(payload)]));
      await stream.close();
      const answer = await reading;
      const body = JSON.parse(new TextDecoder().decode(stripSelectionEcho(answer, protocol)));
      if (protocol === "/get/0.1") assert.equal(body.LookupOk, true);
      else assert.deepEqual(Object.keys(body.NameToInfoStr), ["eager"]);
    }
  }));

Deno.test("a PSK service keeps serving when connections take turns after large answers", async () => {
  // xsalsa20 (pnet's cipher) grew its shared WebAssembly memory on every message
  // of connections open when one large message had grown it, until the service
  // died of a RangeError.
  const service = await startService({ psk: PSK });
  try {
    await using a = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
    await using b = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
    await using c = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
    // 100 entries of 30 kB: each list answer is 3 MB.
    const big = (i: number) => ({ ...sampleInfo(i), ContentHash: `Qm${i}`.padEnd(30_000, "x") });
    await Promise.all(Array.from({ length: 100 }, (_, i) => a.client.add(`big-${i}`, big(i))));
    for (let i = 0; i < 3; i++) assert.equal(Object.keys(await a.client.list()).length, 100);
    for (let i = 0; i < 600; i++) {
      const { client } = i % 2 ? b : c;
      assert.deepEqual(await client.get("big-1"), big(1));
    }
    assert.equal(Object.keys(await a.client.list()).length, 100);
  } finally {
    await service.stop();
  }
});

/** Opens `count` TCP connections to `port` from `localAddress` that never send a byte. */
async function idleSockets(port: number, localAddress: string, count: number): Promise<Socket[]> {
  return await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<Socket>((resolve, reject) => {
        const socket = connect({ host: "127.0.0.1", port, localAddress });
        socket.once("connect", () => resolve(socket));
        socket.once("error", reject);
      })),
  );
}

/** How many of `sockets` the other side has closed within `ms`. */
async function closedWithin(sockets: Socket[], ms: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return sockets.filter((s) => s.readableEnded || s.destroyed).length;
}

Deno.test("half-open connections from one host do not lock other hosts out", async () => {
  // Connections that never finish the handshake used to fill the service's
  // pending slots (256) for 10 s each, refusing every other peer meanwhile.
  const service = await startService({ psk: PSK });
  const port = Number(service.addr.split("/")[4]); // /ip4/<ip>/tcp/<port>/p2p/<id>
  let flood: Socket[] = [];
  try {
    flood = await idleSockets(port, "127.0.0.2", 400);
    for (const s of flood) s.on("error", () => {}); // the service resets those it refuses
    const refused = await closedWithin(flood, 1_000);
    assert.ok(refused >= 400 - 128, `one host kept ${400 - refused} handshakes pending`);

    const started = performance.now();
    await using conn = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
    await conn.client.add("during-flood", sampleInfo(5));
    assert.deepEqual(await conn.client.get("during-flood"), sampleInfo(5));
    const took = performance.now() - started;
    assert.ok(took < 5_000, `another host waited ${took.toFixed(0)} ms during the flood`);

    // A completed handshake stops counting: a host may hold more connections than the cap.
    const held = await Promise.all(
      Array.from({ length: 150 }, () => createRegistryNode({ psk: PSK })),
    );
    try {
      for (let i = 0; i < held.length; i += 50) {
        await Promise.all(held.slice(i, i + 50).map((n) => n.dial(multiaddr(service.addr))));
      }
    } finally {
      await Promise.all(held.map((n) => n.stop()));
    }

    // Slots are given back when connections close: the host may try again.
    for (const s of flood) s.destroy();
    await new Promise((resolve) => setTimeout(resolve, 200));
    flood = await idleSockets(port, "127.0.0.2", 100);
    for (const s of flood) s.on("error", () => {});
    assert.equal(await closedWithin(flood, 500), 0, "the host's closed handshakes still count");
  } finally {
    for (const s of flood) s.destroy();
    await service.stop();
  }
});

Deno.test("a client that stops reading its answer is reset after 10 s without progress", () =>
  withServiceAndNode(async (service, node) => {
    // The answer waited for the reader for ever: enough such streams used up every
    // request slot (4,096), and the service refused all requests.
    await using conn = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
    // 3 MB of list answer: far more than a stream's flow-control window.
    const big = (i: number) => ({ ...sampleInfo(i), ContentHash: `Qm${i}`.padEnd(30_000, "x") });
    await Promise.all(Array.from({ length: 100 }, (_, i) => conn.client.add(`big-${i}`, big(i))));

    const stalled = await node.dialProtocol(multiaddr(service.addr), "/list/0.1");
    stalled.pause(); // the remote is told to stop: the answer can no longer flow
    stalled.maxReadBufferLength = 64 * 1024 * 1024;
    const started = Date.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ended = new Promise<boolean>((resolve) => {
      stalled.addEventListener("close", () => resolve(true), { once: true });
      timer = setTimeout(() => resolve(false), 30_000);
    });
    await stalled.close();
    assert.ok(await ended, "the stalled answer was still pending after 30 s");
    clearTimeout(timer);
    const took = Date.now() - started;
    assert.notEqual(stalled.status, "closed", "the stalled answer was completed, not reset");
    assert.ok(took >= 9_000 && took < 20_000, `reset after ${took} ms`);
    await service.waitForLog(/\/list\/0\.1 from .* failed: .*no progress/);
    assert.equal(Object.keys(await conn.client.list()).length, 100);
  }));

Deno.test("large requests left incomplete are refused once a connection holds 16 MiB of them", () =>
  withServiceAndNode(async (service, node) => {
    // Each under the 1 MiB limit, 900 such requests made the service hold 1.1 GiB.
    const target = multiaddr(service.addr);
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    const streams = await Promise.all(
      Array.from(
        { length: 100 },
        () => node.dialProtocol(target, "/add/0.1", { maxOutboundStreams: 1_024 }),
      ),
    );
    // 960 KiB each, never closed: 94 MiB in all.
    const resets = await Promise.all(streams.map(async (stream) => {
      try {
        for (let i = 0; i < 15; i++) {
          if (!stream.send(chunk)) await stream.onDrain({ signal: AbortSignal.timeout(3_000) });
        }
      } catch {
        // Reset by the service, or blocked: told apart below.
      }
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      return stream.status === "reset" || stream.status === "aborted" ? 1 : 0;
    }));
    const refused = resets.reduce((a: number, b) => a + b, 0);
    // 16 MiB holds 17 of them; the rest are reset as they pass it (not after the 10 s idle limit).
    assert.ok(refused >= 80, `only ${refused} of 100 were refused`);
    await service.waitForLog(
      /bytes of requests still arriving on this connection: \d+ of 16777216 in use/,
    );

    // The reset requests gave their bytes back: the same connection is served again.
    for (const stream of streams) stream.abort(new Error("done"));
    const sameConnection = new RegistryClient({ node });
    await sameConnection.add("after-large", sampleInfo(6));
    assert.deepEqual(await sameConnection.get("after-large"), sampleInfo(6));
  }));

Deno.test("one peer on many connections holds at most its share of the bytes of requests arriving", async () => {
  // Each connection had 16 MiB and all of them 128 MiB: one identity on 9 connections took it
  // all, and every other peer's request was reset for up to 30 s.
  const service = await startService({ psk: PSK });
  const attackers: RegistryNode[] = [];
  const victim = await createRegistryNode({ psk: PSK });
  try {
    await using owner = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
    await owner.client.add("svc", sampleInfo(1));
    const key = await generateKeyPair("Ed25519");
    for (let i = 0; i < 9; i++) {
      attackers.push(await createRegistryNode({ psk: PSK, privateKey: key, clientOnly: true }));
    }
    const target = multiaddr(service.addr);
    const piece = new Uint8Array(64 * 1024).fill(0x20);
    const send = async (stream: Stream, total: number) => {
      for (let sent = 0; sent < total; sent += piece.byteLength) {
        const bytes = piece.subarray(0, Math.min(piece.byteLength, total - sent));
        if (!stream.send(bytes)) await stream.onDrain({ signal: AbortSignal.timeout(5_000) });
      }
    };
    const streams: Stream[] = [];
    // 16 requests of just under 1 MiB on each connection, never finished: 144 MB.
    await Promise.all(attackers.map(async (node) => {
      for (let s = 0; s < 16; s++) {
        const stream = await node.dialProtocol(target, "/add/0.1", { force: s === 0 })
          .catch(() => undefined);
        if (stream) streams.push(stream);
      }
    }));
    await Promise.allSettled(streams.map((stream) => send(stream, 1_000_000)));
    // Then the last KiB of room: one small unfinished request of each size per connection.
    for (let size = 64 * 1024; size >= 1; size /= 2) {
      await Promise.all(attackers.map(async (node) => {
        const stream = await node.dialProtocol(target, "/add/0.1").catch(() => undefined);
        if (!stream) return;
        streams.push(stream);
        await send(stream, size).catch(() => {});
      }));
    }
    const stream = await victim.dialProtocol(target, "/get/0.1");
    stream.send(encoder.encode("svc"));
    await stream.close();
    const answer = await outcome(stream);
    assert.match(answer.text ?? `reset: ${answer.error?.message}`, /"LookupOk":true/);
    assert.match(
      service.log(),
      /bytes of requests still arriving from this peer: \d+ of 33554432 in use/,
    );
    for (const s of streams) s.abort(new Error("done"));
  } finally {
    for (const node of attackers) await node.stop();
    await victim.stop();
    await service.stop();
  }
});

Deno.test("one peer's unread history answers hold at most its share of the answers' bytes", async () => {
  // Each history answer is encoded for its request (here ~1.3 MB for 3 bytes asked) and kept
  // until read: 200 unread ones grew the service's RSS by 440 MiB.
  const service = await startService({ psk: PSK });
  const node = await createRegistryNode({ psk: PSK });
  const streams: Stream[] = [];
  const rss = async () => {
    const text = await (await fetch(`${service.httpUrl}/metrics`)).text();
    return Number(/^process_resident_memory_bytes (\S+)$/m.exec(text)![1]);
  };
  try {
    {
      await using writer = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
      for (let n = 0; n < 20; n++) {
        const info = { ...sampleInfo(n), Pad: "x".repeat(64_000) };
        await writer.client.add("big", info);
      }
    }
    const before = await rss();
    for (let i = 0; i < 200; i++) {
      const stream = await node.dialProtocol(multiaddr(service.addr), "/history/0.1", {
        maxOutboundStreams: 1_024,
      });
      stream.pause(); // takes none of the answer
      stream.send(encoder.encode("big"));
      await stream.close().catch(() => {});
      streams.push(stream);
    }
    // The answers are all encoded by then (each history read takes a few ms).
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    const grown = (await rss() - before) / 2 ** 20;
    assert.ok(grown < 128, `the service's RSS grew by ${grown.toFixed(0)} MiB`);
    // The reads past the peer's share wait for room; another peer is served meanwhile.
    await using other = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
    assert.equal((await other.client.history("big")).length, 20);
  } finally {
    for (const stream of streams) stream.abort(new Error("done"));
    await node.stop();
    await service.stop();
  }
});

Deno.test("one peer's many history reads at once are all answered: past its share they wait", async () => {
  // Each history read reserves 1 MiB of its peer's 16 MiB share before it reads etcd; the 17th of
  // 48 at once was reset, which the client reports as a refusal and does not retry.
  const service = await startService({ psk: PSK });
  const peer = await wirePeer(PSK, service.addr);
  try {
    for (let i = 1; i <= 3; i++) {
      assert.match(await peer.ask("/add/0.1", addPayload("hist", sampleInfo(i))), /^Added /);
    }
    const answers = await Promise.all(
      Array.from({ length: 48 }, () => peer.send("/history/0.1", "hist")),
    );
    const reset = answers.filter((a) => a.error !== undefined);
    assert.equal(reset.length, 0, `${reset.length} of 48 reset: ${reset[0]?.error?.message}`);
  } finally {
    await peer.node.stop();
    await service.stop();
  }
});
