/**
 * `/watch/0.1` in process (a real node serving a real store on a real etcd),
 * with a short ping interval: pings after quiet, and the revision they carry
 * moves on with changes a one-name watcher is not sent, so a resume starts
 * after them.
 */
import assert from "node:assert/strict";
import { multiaddr } from "@multiformats/multiaddr";
import { createRegistryNode } from "../../src/p2p/node.ts";
import { startTestEtcd } from "../_etcd.ts";
import { startTestStore } from "../_stores.ts";
import { DEFAULT_LIMITS, registerHandlers } from "../../src/service/handlers.ts";
import { DEFAULT_WATCH_LIMITS } from "../../src/service/watch.ts";
import { createRegistryMetrics } from "../../src/service/metrics.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { decodeWatchEvent, type WatchEvent } from "../../src/protocol/messages.ts";
import { sampleInfo } from "../_registry.ts";
import { addPayload, wirePeer } from "../e2e/_wire.ts";

const PSK = "watch-handler-test";

Deno.test("watch: pings after quiet carry the revision a one-name watcher is up to date through", async () => {
  await using stack = new AsyncDisposableStack();
  const store = await startTestStore(stack, (await startTestEtcd(stack)).clientUrl);
  const node = await createRegistryNode({ psk: PSK, listen: ["/ip4/127.0.0.1/tcp/0"] });
  stack.defer(() => node.stop());
  await registerHandlers({
    node,
    store,
    metrics: createRegistryMetrics(),
    logger: silentLogger,
    limits: DEFAULT_LIMITS,
    changes: store,
    watchLimits: { ...DEFAULT_WATCH_LIMITS, pingMs: 300 },
  });
  const addr = node.getMultiaddrs()[0].toString();
  const peer = await wirePeer(PSK, addr);
  stack.defer(() => peer.node.stop());

  const stream = await peer.node.dialProtocol(multiaddr(addr), "/watch/0.1");
  const events: WatchEvent[] = [];
  let rest = "";
  stream.addEventListener("message", (evt) => {
    rest += new TextDecoder().decode(evt.data.subarray());
    const lines = rest.split("\n");
    rest = lines.pop()!;
    for (const line of lines) events.push(decodeWatchEvent(line));
  });
  stream.send(new TextEncoder().encode('{"Name":"mine"}'));
  await stream.close();
  stack.defer(() => stream.abort(new Error("test over")));
  const until = async (what: string, done: () => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`no ${what}: ${JSON.stringify(events)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await until("synced", () => events.some((e) => e.Type === "synced"));
  await until("a ping", () => events.some((e) => e.Type === "ping"));
  const synced = events.find((e) => e.Type === "synced") as { Revision: number };
  const firstPing = events.find((e) => e.Type === "ping") as { Revision: number };
  assert.equal(firstPing.Revision, synced.Revision);

  // Another name changes: nothing is sent for it, but the next ping is past its revision.
  assert.match(await peer.ask("/add/0.1", addPayload("other", sampleInfo(1))), /^Added /);
  const pings = () => events.filter((e) => e.Type === "ping") as { Revision: number }[];
  await until("a later ping", () => pings().at(-1)!.Revision > synced.Revision);
  assert.ok(!events.some((e) => e.Type === "put" || e.Type === "delete"));

  // A change of the name watched comes through, at a revision above every ping's.
  assert.match(await peer.ask("/add/0.1", addPayload("mine", sampleInfo(2))), /^Added /);
  await until("the put", () => events.some((e) => e.Type === "put"));
  const put = events.find((e) => e.Type === "put") as { Name: string; Revision: number };
  assert.equal(put.Name, "mine");
  assert.ok(put.Revision > pings().at(-1)!.Revision);
});

Deno.test("watch: a watcher that takes none of its snapshot is closed after the snapshot idle limit", async () => {
  await using stack = new AsyncDisposableStack();
  const store = await startTestStore(stack, (await startTestEtcd(stack)).clientUrl);
  const node = await createRegistryNode({ psk: PSK, listen: ["/ip4/127.0.0.1/tcp/0"] });
  stack.defer(() => node.stop());
  const warnings: string[] = [];
  await registerHandlers({
    node,
    store,
    metrics: createRegistryMetrics(),
    logger: { ...silentLogger, warn: (message) => void warnings.push(message) },
    limits: DEFAULT_LIMITS,
    changes: store,
    watchLimits: { ...DEFAULT_WATCH_LIMITS, maxQueuedBytes: 200_000, snapshotIdleMs: 500 },
  });
  const addr = node.getMultiaddrs()[0].toString();
  const peer = await wirePeer(PSK, addr);
  stack.defer(() => peer.node.stop());
  // A snapshot (3 MB) larger than the transport's window and the queue limit together.
  for (let i = 0; i < 50; i++) {
    const info = { ...sampleInfo(i), Pad: "x".repeat(60_000) };
    await peer.ask("/add/0.1", addPayload(`snap-${i}`, info));
  }

  const stream = await peer.node.dialProtocol(multiaddr(addr), "/watch/0.1");
  stack.defer(() => stream.abort(new Error("test over")));
  stream.send(new TextEncoder().encode("{}"));
  await stream.close();
  stream.pause();
  // No change is committed: only the idle limit can close it.
  const deadline = Date.now() + 10_000;
  while (!warnings.some((w) => /too slow/.test(w))) {
    assert.ok(Date.now() < deadline, `never closed; warnings: ${warnings.join(" | ")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(warnings.join("\n"), /too slow: the watcher took none of its snapshot for 500 ms/);
});
