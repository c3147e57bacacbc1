import assert from "node:assert/strict";
import { multiaddr } from "@multiformats/multiaddr";
import type { Stream } from "@libp2p/interface";
import { sampleInfo, startService } from "../_registry.ts";
import { addPayload, wirePeer } from "./_wire.ts";

const PSK = "fair-share-test";
const FLOODERS = 5;
const STREAMS_EACH = 900;

Deno.test("4,500 idle streams from 5 peers: a sixth peer's get is answered within 1 s", async () => {
  const args = Deno.env.get("FAIR_SHARE_ARGS")?.split(" ") ?? [];
  const service = await startService({ psk: PSK, args });
  const peers = await Promise.all(
    Array.from({ length: FLOODERS + 1 }, () => wirePeer(PSK, service.addr)),
  );
  const sixth = peers.pop()!;
  const held: Stream[] = [];
  let opened = 0;
  try {
    await sixth.ask("/add/0.1", addPayload("during-flood", sampleInfo(1)));
    const target = multiaddr(service.addr);
    // Each peer opens its streams and never writes: the service waits up to 10 s on each.
    await Promise.all(peers.map(async (peer) => {
      await peer.node.dial(target);
      const streams = await Promise.all(
        Array.from(
          { length: STREAMS_EACH },
          // Those over the peer's share are reset by the service, some before negotiation ends.
          () =>
            peer.node.dialProtocol(target, "/get/0.1", { maxOutboundStreams: 1_024 }).catch(() =>
              undefined
            ),
        ),
      );
      opened += streams.length;
      held.push(...streams.filter((s) => s !== undefined));
    }));
    assert.equal(opened, FLOODERS * STREAMS_EACH);
    // Each flooder is held to its share: the rest of its streams are reset at once.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const open = held.filter((s) => s.status === "open").length;
    assert.ok(open <= FLOODERS * 256, `${open} idle streams held`);
    const answer = await Promise.race([
      sixth.ask("/get/0.1", "during-flood"),
      new Promise<string>((_, reject) =>
        setTimeout(() => reject(new Error("no answer within 1 s")), 1_000)
      ),
    ]);
    assert.deepEqual(JSON.parse(JSON.parse(answer).InfoStr), sampleInfo(1));
    await service.waitForLog(/requests in flight from this peer: 256 of 256 in use/);
  } finally {
    for (const stream of held) stream.abort(new Error("done"));
    await Promise.all([...peers, sixth].map((p) => p.node.stop()));
    await service.stop();
  }
});

Deno.test("many peer ids from one host hold at most the host's share of the requests in flight", async () => {
  // A 1% share of the service's 4,096 slots is 41; each peer id may hold 8.
  const service = await startService({
    psk: PSK,
    args: ["-max-in-flight-per-peer", "8", "-max-host-share", "1"],
  });
  const identities = await Promise.all(
    Array.from({ length: 9 }, () => wirePeer(PSK, service.addr)),
  );
  const latecomer = identities.pop()!;
  const held: Stream[] = [];
  try {
    await latecomer.ask("/add/0.1", addPayload("shared-host", sampleInfo(1)));
    const target = multiaddr(service.addr);
    // Eight fresh identities of one host open 64 idle streams: within each one's 8, past the 41.
    await Promise.all(identities.map(async (peer) => {
      await peer.node.dial(target);
      const streams = await Promise.all(
        Array.from(
          { length: 8 },
          () => peer.node.dialProtocol(target, "/get/0.1").catch(() => undefined),
        ),
      );
      held.push(...streams.filter((s) => s !== undefined));
    }));
    await service.waitForLog(/requests in flight from this host: 41 of 41 in use/);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const open = held.filter((s) => s.status === "open").length;
    assert.ok(open <= 41, `${open} idle streams held by one host`);
    // A further identity of that host is refused as busy, though it holds nothing itself.
    const refused = await latecomer.send("/get/0.1", "shared-host");
    assert.ok(refused.error, `answered past the host's share: ${refused.text}`);
    for (const stream of held) stream.abort(new Error("done"));
    // The host's slots come back with its streams.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(JSON.parse(await latecomer.ask("/get/0.1", "shared-host")).LookupOk, true);
  } finally {
    for (const stream of held) stream.abort(new Error("done"));
    await Promise.all([...identities, latecomer].map((p) => p.node.stop()));
    await service.stop();
  }
});

Deno.test("many peer ids from one host hold at most the host's share of the watchers", async () => {
  // A 1% share of 200 watchers is 2; each peer id may hold 100.
  const service = await startService({
    psk: PSK,
    args: ["-max-watchers", "200", "-max-host-share", "1"],
  });
  const identities = await Promise.all(Array.from({ length: 3 }, () => wirePeer(PSK)));
  const watches: Stream[] = [];
  try {
    const watch = async (peer: (typeof identities)[number]) => {
      const stream = await peer.node.dialProtocol(multiaddr(service.addr), "/watch/0.1");
      watches.push(stream);
      let text = "";
      stream.addEventListener("message", (evt) => {
        text += new TextDecoder().decode(evt.data.subarray());
      });
      try {
        stream.send(new TextEncoder().encode("{}"));
        await stream.close();
      } catch {
        // Refused (reset) before the request went out.
      }
      const deadline = Date.now() + 10_000;
      while (!text.includes('"synced"') && stream.status === "open") {
        assert.ok(Date.now() < deadline, "neither synced nor reset");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return text.includes('"synced"');
    };
    assert.equal(await watch(identities[0]), true);
    assert.equal(await watch(identities[1]), true);
    // A third identity of the same host is reset, though it holds no watcher itself.
    assert.equal(await watch(identities[2]), false);
    await service.waitForLog(/watchers of this host: 2 of 2 in use/);
  } finally {
    for (const stream of watches) stream.abort(new Error("done"));
    await Promise.all(identities.map((p) => p.node.stop()));
    await service.stop();
  }
});
