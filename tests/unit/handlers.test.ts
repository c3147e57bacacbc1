/**
 * The handlers and their `serve` wrapper in process: a real libp2p node
 * serving a real store on a real etcd, driven by peers of their own identities.
 */
import assert from "node:assert/strict";
import { multiaddr } from "@multiformats/multiaddr";
import type { Stream } from "@libp2p/interface";
import { createRegistryNode } from "../../src/p2p/node.ts";
import { startTestEtcd } from "../_etcd.ts";
import { startTestStore } from "../_stores.ts";
import {
  DEFAULT_LIMITS,
  type HandlerLimits,
  registerHandlers,
  type RequestContext,
} from "../../src/service/handlers.ts";
import { WritePolicy } from "../../src/service/policy.ts";
import { createRegistryMetrics } from "../../src/service/metrics.ts";
import { createLogger } from "../../src/log/logger.ts";
import type { MemberAddRequest } from "../../src/protocol/messages.ts";
import { sampleInfo } from "../_registry.ts";
import { addPayload, type WirePeer, wirePeer } from "../e2e/_wire.ts";

const PSK = "handlers-test";

interface Served {
  peers: WirePeer[];
  /** Log lines at debug and above, in order. */
  lines: string[];
  /** The contexts `memberAdd` was called with. */
  memberAdds: RequestContext[];
}

async function withHandlers(
  options: { policy?: WritePolicy; limits?: Partial<HandlerLimits>; peers?: number },
  fn: (served: Served) => Promise<void>,
): Promise<void> {
  await using stack = new AsyncDisposableStack();
  const store = await startTestStore(stack, (await startTestEtcd(stack)).clientUrl);
  const node = await createRegistryNode({
    psk: PSK,
    listen: ["/ip4/127.0.0.1/tcp/0"],
  });
  stack.defer(() => node.stop());
  const lines: string[] = [];
  const memberAdds: RequestContext[] = [];
  await registerHandlers({
    node,
    store,
    metrics: createRegistryMetrics(),
    logger: createLogger({ write: (line) => lines.push(line) }, { level: "debug" }),
    policy: options.policy,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    memberAdd: (_request: MemberAddRequest, ctx: RequestContext) => {
      memberAdds.push(ctx);
      return Promise.resolve("answered");
    },
  });
  const addr = node.getMultiaddrs()[0].toString();
  const peers = await Promise.all(
    Array.from({ length: options.peers ?? 2 }, () => wirePeer(PSK, addr)),
  );
  for (const peer of peers) stack.defer(() => peer.node.stop());
  await fn({ peers, lines, memberAdds });
}

Deno.test("serve: one audit line per write, payloads only at debug, context reaches memberAdd", () =>
  withHandlers(
    { policy: new WritePolicy({ mode: "owner" }) },
    async ({ peers, lines, memberAdds }) => {
      const [a, b] = peers;
      assert.match(await a.ask("/add/0.1", addPayload("svc", sampleInfo(1))), /^Added /);
      assert.match(await b.ask("/delete/0.1", "svc"), /^Error: not authorized: /);
      const infoLines = () => lines.filter((l) => !/ DEBUG /.test(l));
      assert.equal(infoLines().length, 2);
      assert.match(
        infoLines()[0],
        new RegExp(
          `INFO audit peer=${a.id} protocol=/add/0.1 name="svc" outcome=accepted revision=\\d+$`,
        ),
      );
      assert.match(
        infoLines()[1],
        new RegExp(
          `WARN audit peer=${b.id} protocol=/delete/0.1 name="svc" outcome=refused revision=- reason="not authorized: `,
        ),
      );
      // The InfoStr appears only in debug lines.
      for (const line of infoLines()) assert.doesNotMatch(line, /ContentHash/);
      assert.ok(lines.some((l) => / DEBUG \/add\/0\.1 from .*ContentHash/.test(l)));

      await a.ask("/get/0.1", "svc");
      assert.match(infoLines()[2], new RegExp(`INFO /get/0.1 from ${a.id}: ok in [\\d.]+ ms$`));

      assert.equal(
        await b.ask("/memberadd/0.1", '{"MemberName":"m","MemberPeerUrl":"http://127.0.0.1:2380"}'),
        "answered",
      );
      assert.equal(memberAdds.length, 1);
      assert.equal(memberAdds[0].peer, b.id);
      assert.equal(memberAdds[0].protocol, "/memberadd/0.1");
      assert.match(memberAdds[0].remoteAddress, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+/);
      assert.equal(memberAdds[0].signal.aborted, true, "the request's signal outlived it");
    },
  ));

Deno.test("serve: a peer holds at most its share of the requests in flight", () =>
  withHandlers(
    { limits: { maxInFlightPerPeer: 3, maxInFlight: 5 }, peers: 3 },
    async ({ peers, lines }) => {
      const [flooder, other, third] = peers;
      await flooder.ask("/add/0.1", addPayload("svc", sampleInfo(1)));
      const target = multiaddr(flooder.addr);
      const idle: Stream[] = [];
      try {
        for (let i = 0; i < 3; i++) idle.push(await flooder.node.dialProtocol(target, "/get/0.1"));
        // The flooder's fourth is refused at once, while other peers are still answered.
        const fourth = await flooder.send("/get/0.1", "svc");
        assert.ok(fourth.error, `the flooder's fourth request was answered: ${fourth.text}`);
        assert.equal(JSON.parse(await other.ask("/get/0.1", "svc")).LookupOk, true);
        // Two more idle from another peer fill the service's 5; then a third peer is refused.
        for (let i = 0; i < 2; i++) idle.push(await other.node.dialProtocol(target, "/get/0.1"));
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.ok((await third.send("/get/0.1", "svc")).error, "over the service's limit");
        assert.ok(lines.some((l) => /requests in flight from this peer: 3 of 3 in use/.test(l)));
        assert.ok(lines.some((l) => /requests in flight: 5 of 5 in use/.test(l)));
      } finally {
        for (const stream of idle) stream.abort(new Error("done"));
      }
      // Slots are given back: everyone is served again.
      await new Promise((resolve) => setTimeout(resolve, 100));
      for (const peer of peers) {
        assert.equal(JSON.parse(await peer.ask("/get/0.1", "svc")).LookupOk, true);
      }
    },
  ));

Deno.test("serve: requests still arriving hold at most their peer's and their host's share of the bytes", () =>
  withHandlers(
    {
      limits: {
        maxBufferedBytesPerConnection: 1_000_000,
        maxBufferedBytesPerPeer: 100_000,
        maxBufferedBytesPerHost: 150_000,
        maxBufferedBytes: 1_000_000,
      },
      peers: 3,
    },
    async ({ peers, lines }) => {
      const [first, second, third] = peers;
      await first.ask("/add/0.1", addPayload("svc", sampleInfo(1)));
      const target = multiaddr(first.addr);
      const unfinished: Stream[] = [];
      /** Sends `bytes` of a request it never finishes; true when the service reset it. */
      const hold = async (peer: WirePeer, bytes: number) => {
        const stream = await peer.node.dialProtocol(target, "/add/0.1");
        unfinished.push(stream);
        stream.send(new Uint8Array(bytes).fill(0x20));
        const deadline = Date.now() + 1_000;
        while (stream.status === "open" && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return stream.status !== "open";
      };
      try {
        assert.equal(await hold(first, 90_000), false);
        assert.equal(await hold(first, 20_000), true, "past the peer's share");
        assert.ok(lines.some((l) => /arriving from this peer: 90000 of 100000 in use/.test(l)));
        // All three peers are one host (loopback): the second fills the host's share.
        assert.equal(await hold(second, 50_000), false);
        assert.equal(await hold(second, 20_000), true, "past the host's share");
        assert.ok(lines.some((l) => /arriving from this host: 140000 of 150000 in use/.test(l)));
        // A small request still fits.
        assert.equal(JSON.parse(await third.ask("/get/0.1", "svc")).LookupOk, true);
      } finally {
        for (const stream of unfinished) stream.abort(new Error("done"));
      }
    },
  ));

Deno.test("serve: unread answers hold at most their peer's and their host's share of the bytes", () =>
  withHandlers(
    {
      limits: {
        maxAnswerBytesPerPeer: 3_000_000,
        maxAnswerBytesPerHost: 4_000_000,
        maxAnswerBytes: 10_000_000,
      },
      peers: 3,
    },
    async ({ peers, lines }) => {
      const [first, second, third] = peers;
      // A history answer of ~1.2 MB: more than a stream's flow-control window.
      for (let n = 0; n < 20; n++) {
        const info = { ...sampleInfo(n), Pad: "x".repeat(60_000) };
        await first.ask("/add/0.1", addPayload("big", info));
      }
      const target = multiaddr(first.addr);
      const unread: Stream[] = [];
      /** Asks for the history and reads none of it; true when the service reset the stream. */
      const unreadHistory = async (peer: WirePeer) => {
        const stream = await peer.node.dialProtocol(target, "/history/0.1");
        unread.push(stream);
        stream.pause();
        stream.send(new TextEncoder().encode("big"));
        await stream.close();
        const deadline = Date.now() + 1_000;
        while (stream.status === "open" && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return stream.status !== "open";
      };
      /** "answered", or "waiting" when `answer` has not come within 500 ms. */
      const stateOf = (answer: Promise<string>) =>
        Promise.race([
          answer.then(() => "answered"),
          new Promise((resolve) => setTimeout(() => resolve("waiting"), 500)),
        ]);
      const waiting: Promise<string>[] = [];
      try {
        assert.equal(await unreadHistory(first), false);
        assert.equal(await unreadHistory(first), false);
        // Past the peer's share, a history read waits for room (holding no answer) ...
        waiting.push(first.ask("/history/0.1", "big"));
        assert.equal(await stateOf(waiting[0]), "waiting", "past the peer's share");
        // ... and all three peers are one host (loopback): past the host's share, the same.
        assert.equal(await unreadHistory(second), false);
        waiting.push(second.ask("/history/0.1", "big"));
        assert.equal(await stateOf(waiting[1]), "waiting", "past the host's share");
        assert.ok(!lines.some((l) => /answers being sent/.test(l)), "waiting, not refused");
        // A small answer still fits.
        assert.equal(JSON.parse(await third.ask("/get/0.1", "big")).LookupOk, true);
      } finally {
        for (const stream of unread) stream.abort(new Error("done"));
      }
      // Room comes back as the unread answers go: the waiting reads are answered.
      for (const answer of waiting) assert.equal(JSON.parse(await answer).Versions.length, 20);
    },
  ));
