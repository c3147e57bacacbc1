/**
 * `/watch/0.1` on a real service process and its etcd: snapshot, synced and
 * ordered changes; one name; resuming from a revision, and from a compacted
 * one; a watcher that never reads; `registry-cli watch` until SIGINT.
 */
import assert from "node:assert/strict";
import { connectRegistry } from "../../src/client/registry_client.ts";
import type { ServiceChange } from "../../src/client/watch.ts";
import { decodeWatchEvent } from "../../src/protocol/messages.ts";
import { createEtcdClient } from "../../src/store/etcd_cluster.ts";
import {
  repoPath,
  sameMember,
  sampleInfo,
  type ServiceProcess,
  startService,
  testConfigHome,
} from "../_registry.ts";
import { afterSynced, collect, label } from "../_watch.ts";
import { wirePeer } from "./_wire.ts";
import { multiaddr } from "@multiformats/multiaddr";

const PSK = "watch-test";

/** Revisions of the puts and deletes (a synced carries the revision of the last one before it). */
function revisions(changes: readonly ServiceChange[]): number[] {
  return changes.flatMap((c) => c.type === "put" || c.type === "delete" ? [c.revision] : []);
}

function assertIncreasing(values: readonly number[]): void {
  for (let i = 1; i < values.length; i++) {
    assert.ok(values[i] > values[i - 1], `revisions not increasing: ${values}`);
  }
}

async function metric(service: ServiceProcess, name: string): Promise<number> {
  const text = await (await fetch(`${service.httpUrl}/metrics`)).text();
  const match = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  if (!match) throw new Error(`no metric ${name}`);
  return Number(match[1]);
}

Deno.test("watch: snapshot, synced, ordered puts and deletes; one name; resume from a revision", async () => {
  let service: ServiceProcess | undefined;
  const watches: { stop(): Promise<void> }[] = [];
  try {
    service = await startService({ psk: PSK });
    await using writer = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
    await using watcher = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
    await writer.client.add("a1", sampleInfo(1));
    await writer.client.add("a2", sampleInfo(2));

    const all = collect((signal) => watcher.client.watch({ signal }));
    const one = collect((signal) => watcher.client.watch({ name: "b", signal }));
    watches.push(all, one);
    await all.until("synced", (c) => c.some((x) => x.type === "synced"));
    await one.until("synced", (c) => c.some((x) => x.type === "synced"));
    // The snapshot: the current entries, then synced.
    assert.deepEqual(all.changes.map(label), ["put a1", "put a2", "synced"]);
    const first = all.changes[0] as Extract<ServiceChange, { type: "put" }>;
    assert.deepEqual(first.info, sampleInfo(1));
    assert.deepEqual(one.changes.map(label), ["synced"]);
    const synced = all.changes[2] as Extract<ServiceChange, { type: "synced" }>;

    await writer.client.add("a1", sampleInfo(3));
    await writer.client.add("b", sampleInfo(4));
    await writer.client.delete("a2");
    await writer.client.delete("b");
    await writer.client.add("b", sampleInfo(5));
    const expected = ["put a1", "put b", "delete a2", "delete b", "put b"];
    await all.until("five changes", (c) => afterSynced(c).length >= expected.length);
    assert.deepEqual(afterSynced(all.changes).map(label), expected);
    assertIncreasing(revisions(all.changes));
    const last = afterSynced(all.changes).at(-1) as Extract<ServiceChange, { type: "put" }>;
    assert.deepEqual(last.info, sampleInfo(5));

    await one.until("b's three changes", (c) => afterSynced(c).length >= 3);
    assert.deepEqual(afterSynced(one.changes).map(label), ["put b", "delete b", "put b"]);
    assert.deepEqual(
      revisions(afterSynced(one.changes)),
      revisions(afterSynced(all.changes)).filter((_, i) => expected[i].endsWith(" b")),
    );

    // From the revision of the first synced: the same changes from etcd's history, then synced.
    const resumed = collect((signal) =>
      watcher.client.watch({ fromRevision: synced.revision, signal })
    );
    watches.push(resumed);
    await resumed.until("synced", (c) => c.some((x) => x.type === "synced"));
    assert.deepEqual(resumed.changes.map(label), [...expected, "synced"]);
    assert.deepEqual(revisions(resumed.changes), revisions(afterSynced(all.changes)));
    assertIncreasing(revisions(resumed.changes));

    // A change made now reaches every watcher once, live.
    await writer.client.add("b", sampleInfo(6));
    await resumed.until("the live put", (c) => afterSynced(c).length >= 1);
    await all.until("the live put", (c) => afterSynced(c).length >= 6);
    assert.deepEqual(afterSynced(resumed.changes).map(label), ["put b"]);
    assert.equal(await metric(service, "registry_watchers"), 3);
    assert.ok(await metric(service, "registry_watch_events_total") >= 6 + 3 + 6 + 1);
  } finally {
    for (const w of watches) await w.stop();
    await service?.stop();
  }
});

Deno.test("watch: after a restart, from etcd's history; older than the last compaction: reset", async () => {
  let first: ServiceProcess | undefined;
  let second: ServiceProcess | undefined;
  try {
    first = await startService({ psk: PSK });
    let from: number;
    {
      await using conn = await connectRegistry({ bootstraps: [first.addr], psk: PSK });
      await conn.client.add("old", sampleInfo(1));
      const before = collect((signal) => conn.client.watch({ signal }));
      await before.until("synced", (c) => c.some((x) => x.type === "synced"));
      await before.stop();
      from = (before.changes.at(-1) as { revision: number }).revision;
      await conn.client.add("new", sampleInfo(2));
      await conn.client.delete("old");
    }
    // A restarted instance holds no recent changes in memory: resuming needs etcd's history.
    assert.equal(await first.stop(), 0);
    second = await startService({
      psk: PSK,
      ...sameMember(first),
    });
    await using conn = await connectRegistry({ bootstraps: [second.addr], psk: PSK });
    const resumed = collect((signal) => conn.client.watch({ fromRevision: from, signal }));
    try {
      await resumed.until("synced", (c) => c.some((x) => x.type === "synced"));
      assert.deepEqual(resumed.changes.map(label), ["put new", "delete old", "synced"]);
      assertIncreasing(revisions(resumed.changes));
      assert.ok(revisions(resumed.changes)[0] > from);
    } finally {
      await resumed.stop();
    }

    const etcd = createEtcdClient(second.etcdUrl, second.etcdTls);
    try {
      const current = Number((await etcd.get("x").exec()).header.revision);
      await etcd.kv.compact({ revision: String(current), physical: true });
    } finally {
      etcd.close();
    }
    const after = collect((signal) => conn.client.watch({ fromRevision: from, signal }));
    try {
      await after.until("synced", (c) => c.some((x) => x.type === "synced"));
      assert.deepEqual(after.changes.map(label), ["reset", "put new", "synced"]);
      assert.deepEqual((after.changes[1] as { info: unknown }).info, sampleInfo(2));
    } finally {
      await after.stop();
    }
  } finally {
    await first?.stop();
    await second?.stop();
  }
});

Deno.test("watch: a watcher that never reads is closed with the error line at its queue limit", async () => {
  const limit = 20_000;
  let service: ServiceProcess | undefined;
  const peer = await wirePeer(PSK);
  try {
    service = await startService({ psk: PSK, args: ["-watch-buffer", String(limit)] });
    await using writer = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
    const stream = await peer.node.dialProtocol(multiaddr(service.addr), "/watch/0.1");
    const received: Uint8Array[] = [];
    stream.addEventListener("message", (evt) => {
      const data = evt.data;
      received.push(data instanceof Uint8Array ? data : data.subarray());
    });
    stream.send(new TextEncoder().encode("{}"));
    await stream.close();
    // Stop taking data: no more window updates, so the service's lines queue up for this watcher.
    stream.pause();

    let n = 0;
    while (!/too slow/.test(service.log())) {
      assert.ok(n < 5_000, "the watcher was never closed");
      await Promise.all(
        Array.from({ length: 20 }, () => writer.client.add(`slow-${n++}`, sampleInfo(n))),
      );
    }
    const log = await service.waitForLog(/too slow: \d+ bytes queued/);
    const queued = Number(
      /too slow: (\d+) bytes queued for this watcher, limit (\d+)/.exec(log)![1],
    );
    // Closed at the first line past the limit: the queue never held more than the limit and a line.
    assert.ok(queued > limit && queued < limit + 1_000, `queued ${queued}`);
    assert.equal(await metric(service, "registry_watch_queued_bytes"), 0);

    // Reading again: the lines the transport held, then the error line, then the end.
    stream.resume();
    const deadline = Date.now() + 15_000;
    while (stream.remoteWriteStatus !== "closed" && stream.status === "open") {
      assert.ok(Date.now() < deadline, "the stream was never closed");
      await new Promise((r) => setTimeout(r, 20));
    }
    const lines = new TextDecoder().decode(
      new Uint8Array(received.flatMap((b) => [...b])),
    ).trim().split("\n");
    const lastEvent = decodeWatchEvent(lines.at(-1)!);
    assert.equal(lastEvent.Type, "error");
    assert.match((lastEvent as { Message: string }).Message, /^too slow/);
    assert.equal(await metric(service, "registry_watchers"), 0);

    // A snapshot larger than the transport's window and the queue limit together is sent as
    // the reader takes it, not refused as too slow.
    const watch = collect((signal) => writer.client.watch({ signal }));
    try {
      await watch.until("synced", (c) => c.some((x) => x.type === "synced"), 60_000);
      assert.equal(watch.changes.filter((c) => c.type === "put").length, n);
      assert.equal(service.log().match(/too slow/g)?.length, 1);
    } finally {
      await watch.stop();
    }
  } finally {
    await peer.node.stop();
    await service?.stop();
  }
});

Deno.test("registry-cli watch prints the changes and exits 0 on SIGINT", async () => {
  let service: ServiceProcess | undefined;
  let child: Deno.ChildProcess | undefined;
  try {
    service = await startService({ psk: PSK });
    await using writer = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
    await writer.client.add("before", sampleInfo(1));
    child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", repoPath("cli.ts"), "-bootstrap", service.addr, "-psk", PSK, "watch"],
      env: { NO_COLOR: "1", XDG_CONFIG_HOME: testConfigHome() },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let out = "";
    const pump = (async () => {
      for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) out += text;
    })();
    const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    const errText = (async () => {
      let text = "";
      for (let r = await stderr.read(); !r.done; r = await stderr.read()) text += r.value;
      return text;
    })();
    const waitOut = async (pattern: RegExp) => {
      const deadline = Date.now() + 30_000;
      while (!pattern.test(out)) {
        if (Date.now() > deadline) throw new Error(`no ${pattern} in: ${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await waitOut(/^synced \d+$/m);
    await writer.client.add("after", sampleInfo(2));
    await writer.client.delete("before");
    await waitOut(/^delete before \d+$/m);
    child.kill("SIGINT");
    const status = await child.status;
    await pump;
    const lines = out.trim().split("\n");
    assert.equal(status.code, 0, await errText);
    assert.deepEqual(lines.map((l) => l.split(" ").slice(0, 2).join(" ")), [
      "put before",
      "synced " + lines[1].split(" ")[1],
      "put after",
      "delete before",
    ]);
    assert.equal(lines[2].split(" ").slice(3).join(" "), JSON.stringify(sampleInfo(2)));
    child = undefined;
  } finally {
    try {
      child?.kill("SIGKILL");
      await child?.status;
    } catch {
      // Already exited.
    }
    await service?.stop();
  }
});

Deno.test("watch: watchers per peer are bounded apart from the requests in flight", async () => {
  let service: ServiceProcess | undefined;
  const [greedy, other] = await Promise.all([wirePeer(PSK), wirePeer(PSK)]);
  try {
    service = await startService({
      psk: PSK,
      args: ["-max-watchers-per-peer", "2", "-max-in-flight-per-peer", "1"],
    });
    const open = async (peer: typeof greedy) => {
      const stream = await peer.node.dialProtocol(multiaddr(service!.addr), "/watch/0.1");
      const lines: string[] = [];
      stream.addEventListener("message", (evt) => {
        lines.push(new TextDecoder().decode(evt.data.subarray()));
      });
      try {
        stream.send(new TextEncoder().encode("{}"));
        await stream.close();
      } catch {
        // Refused (reset) before the request went out: the service takes the slot first.
      }
      return { stream, lines };
    };
    const first = await open(greedy);
    const second = await open(greedy);
    for (const w of [first, second]) {
      const deadline = Date.now() + 10_000;
      while (!w.lines.join("").includes('"synced"')) {
        assert.ok(Date.now() < deadline, "no synced");
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    // Two watches hold no request slot: a request of the same peer is answered (its share is 1).
    greedy.addr = service.addr;
    assert.match(await greedy.ask("/get/0.1", "nothing"), /LookupOk/);
    // A third watch of the same peer is reset; another peer's is served.
    const third = await open(greedy);
    const deadline = Date.now() + 10_000;
    while (third.stream.status === "open") {
      assert.ok(Date.now() < deadline, "the third watch was not reset");
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(third.lines, []);
    await service.waitForLog(/watchers of this peer: 2 of 2 in use/);
    const fourth = await open(other);
    const until = Date.now() + 10_000;
    while (!fourth.lines.join("").includes('"synced"')) {
      assert.ok(Date.now() < until, "no synced for another peer");
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await metric(service, "registry_watchers"), 3);
  } finally {
    await Promise.all([greedy.node.stop(), other.node.stop()]);
    await service?.stop();
  }
});

Deno.test("watch: a watcher that stops reading during its snapshot is closed once the changes held for it pass its limit", async () => {
  // The snapshot waits for the reader, so its queue never passed the limit; the live changes
  // meanwhile were held for it without bound, for as long as the connection lasted.
  const limit = 200_000;
  const service = await startService({ psk: PSK, args: ["-watch-buffer", String(limit)] });
  const peer = await wirePeer(PSK, service.addr);
  try {
    await using writer = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
    const addAll = async (prefix: string, count: number) => {
      for (let i = 0; i < count; i += 10) {
        await Promise.all(Array.from({ length: 10 }, (_, j) => {
          const info = { ...sampleInfo(i + j), Pad: "x".repeat(60_000) };
          return writer.client.add(`${prefix}-${i + j}`, info);
        }));
      }
    };
    // A snapshot (9 MB) larger than the transport's window and the queue limit together.
    await addAll("snap", 150);
    const stream = await peer.node.dialProtocol(multiaddr(service.addr), "/watch/0.1");
    stream.send(new TextEncoder().encode("{}"));
    await stream.close();
    stream.pause();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.doesNotMatch(service.log(), /too slow/, "closed before any change was held");

    // 3.6 MB of changes while it takes nothing: 18 times its limit.
    await addAll("live", 60);
    const log = await service.waitForLog(/too slow/, 10_000);
    assert.match(log, /too slow: \d+ bytes of changes held while the watcher took its snapshot/);
    stream.abort(new Error("test over"));
  } finally {
    await peer.node.stop();
    await service.stop();
  }
});
