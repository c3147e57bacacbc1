/**
 * The store's KV calls over our HTTP/2 connection, against a real etcd (plain
 * HTTP/2 here; the service's own, with mutual TLS, is run by every test that
 * starts one).
 * Each answer is checked against etcd3's view of the same keys.
 */
import assert from "node:assert/strict";
import { createEtcdClient } from "../../src/store/etcd_cluster.ts";
import { createEtcdKv, EtcdCallError } from "../../src/store/etcd_kv.ts";
import { startRestartableEtcd, startTestEtcd } from "../_etcd.ts";
import { freePort } from "../_registry.ts";

const decoder = new TextDecoder();

async function withKv(
  fn: (
    kv: ReturnType<typeof createEtcdKv>,
    etcd3: ReturnType<typeof createEtcdClient>,
  ) => Promise<void>,
): Promise<void> {
  await using stack = new AsyncDisposableStack();
  const etcd = await startTestEtcd(stack);
  const kv = createEtcdKv(etcd.clientUrl);
  stack.defer(() => kv.close());
  const etcd3 = createEtcdClient(etcd.clientUrl);
  stack.defer(() => etcd3.close());
  await fn(kv, etcd3);
}

Deno.test("etcd kv: a transaction's compares choose its branch; values round-trip byte for byte", () =>
  withKv(async (kv, etcd3) => {
    // Multi-byte UTF-8, and a value longer than 2^14 and 2^21 bytes' varint lengths need.
    const values = ["ünïcødé ✓ 𝄞", "x".repeat(20_000), "y".repeat(300_000)];
    const first = await kv.txn({
      compare: [{ key: "k/owner", target: "mod", value: 0 }, {
        key: "k/a",
        target: "version",
        value: 0,
      }],
      success: values.map((value, i) => ({ type: "put", key: `k/${"abc"[i]}`, value })),
      failure: [{ type: "range", key: "k/a" }],
    });
    assert.equal(first.succeeded, true);
    assert.deepEqual(first.responses, [[], [], []]);
    for (const [i, value] of values.entries()) {
      assert.equal(await etcd3.get(`k/${"abc"[i]}`).string(), value);
    }
    const a = await etcd3.get("k/a").exec();
    assert.equal(first.revision, Number(a.header.revision));
    assert.equal(first.revision, Number(a.kvs[0].mod_revision));

    // k/a exists now: the compare fails, the failure branch runs and reads it back.
    const second = await kv.txn({
      compare: [{ key: "k/a", target: "version", value: 0 }],
      success: [{ type: "delete", key: "k/a" }],
      failure: [{ type: "range", key: "k/a" }, { type: "range", key: "k/none" }],
    });
    assert.equal(second.succeeded, false);
    assert.equal(second.revision, first.revision);
    assert.equal(second.responses.length, 2);
    assert.equal(decoder.decode(second.responses[0][0].key), "k/a");
    assert.equal(decoder.decode(second.responses[0][0].value), values[0]);
    assert.equal(second.responses[0][0].modRevision, first.revision);
    assert.deepEqual(second.responses[1], []);

    // A compare of the right mod_revision holds; the delete runs.
    const third = await kv.txn({
      compare: [{ key: "k/a", target: "mod", value: first.revision }],
      success: [{ type: "delete", key: "k/a" }],
    });
    assert.equal(third.succeeded, true);
    assert.equal(third.revision, first.revision + 1);
    assert.equal(await etcd3.get("k/a").string(), null);
  }));

Deno.test("etcd kv: a prefix read returns its keys (with or without values) and the revision", () =>
  withKv(async (kv, etcd3) => {
    await etcd3.put("p/1").value("one");
    await etcd3.put("p/2").value("two");
    await etcd3.put("p0").value("outside");
    await etcd3.put("q").value("outside");
    const full = await kv.range({ key: "p/", prefix: true });
    assert.deepEqual(
      full.kvs.map((e) => [decoder.decode(e.key), decoder.decode(e.value)]),
      [["p/1", "one"], ["p/2", "two"]],
    );
    const keys = await kv.range({ key: "p/", prefix: true, keysOnly: true });
    assert.deepEqual(keys.kvs.map((e) => [decoder.decode(e.key), e.value.length]), [
      ["p/1", 0],
      ["p/2", 0],
    ]);
    const one = await kv.range({ key: "p/2" });
    assert.deepEqual(one.kvs.map((e) => decoder.decode(e.value)), ["two"]);
    const revision = Number((await etcd3.get("q").exec()).header.revision);
    assert.equal(one.revision, revision);
    assert.equal((await kv.range({ key: "none" })).kvs.length, 0);
    // Reads in one transaction see one revision.
    const both = await kv.txn({
      compare: [],
      success: [{ type: "range", key: "p/", prefix: true }, { type: "range", key: "q" }],
    });
    assert.deepEqual(both.responses.map((r) => r.length), [2, 1]);
    assert.equal(both.revision, revision);
  }));

Deno.test("etcd kv: many calls at once share the connection; an answer spans many frames", () =>
  withKv(async (kv, etcd3) => {
    // 40 values of 50 kB: a 2 MB answer, in frames of at most 16 KiB.
    const value = (i: number) => String(i % 10).repeat(50_000);
    await Promise.all(
      Array.from(
        { length: 40 },
        (_, i) =>
          kv.txn({ compare: [], success: [{ type: "put", key: `big/${i}`, value: value(i) }] }),
      ),
    );
    const all = await kv.range({ key: "big/", prefix: true });
    assert.equal(all.kvs.length, 40);
    for (const kv of all.kvs) {
      const i = Number(decoder.decode(kv.key).slice("big/".length));
      assert.equal(decoder.decode(kv.value), value(i));
    }
    // 300 reads in flight, each answered with its own key's value.
    const reads = await Promise.all(
      Array.from({ length: 300 }, (_, i) => kv.range({ key: `big/${i % 40}` })),
    );
    for (const [i, read] of reads.entries()) {
      assert.equal(decoder.decode(read.kvs[0].value), value(i % 40));
    }
    assert.equal((await etcd3.getAll().prefix("big/").keys()).length, 40);
  }));

Deno.test("etcd kv: etcd's refusal is an error with its message, and changes nothing", () =>
  withKv(async (kv, etcd3) => {
    const ops = Array.from({ length: 129 }, (_, i) => ({
      type: "put" as const,
      key: `many/${i}`,
      value: "v",
    }));
    await assert.rejects(
      kv.txn({ compare: [], success: ops }),
      (err) => err instanceof EtcdCallError && /too many operations/.test(err.message),
    );
    // Over 2 MiB: its length takes more bytes than the writer reserved, and etcd reads it whole.
    await assert.rejects(
      kv.txn({ compare: [], success: [{ type: "put", key: "big", value: "z".repeat(2 << 20) }] }),
      (err) => err instanceof EtcdCallError && /received message larger than max/.test(err.message),
    );
    await assert.rejects(
      kv.txn({ compare: [], success: [{ type: "put", key: "big", value: "z".repeat(1_600_000) }] }),
      (err) => err instanceof EtcdCallError && /request is too large/.test(err.message),
    );
    assert.equal((await etcd3.getAll().prefix("many/").keys()).length, 0);
    assert.equal(await etcd3.get("big").string(), null);
  }));

Deno.test("etcd kv: an aborted call rejects; a member that is gone fails the call", async () => {
  await using stack = new AsyncDisposableStack();
  const etcd = await startTestEtcd(stack);
  const kv = createEtcdKv(etcd.clientUrl);
  stack.defer(() => kv.close());
  await assert.rejects(kv.range({ key: "a" }, AbortSignal.abort(new Error("stop"))), /stop/);
  assert.equal((await kv.range({ key: "a" })).kvs.length, 0);
  await etcd.stop();
  await assert.rejects(kv.range({ key: "a" }));
});

/** A restartable one-member etcd and a KV client of it. */
async function restartableMember(stack: AsyncDisposableStack) {
  const etcd = await startRestartableEtcd(stack);
  const kv = createEtcdKv(etcd.clientUrl);
  stack.defer(() => kv.close());
  return { etcd, kv, restart: etcd.restart };
}

Deno.test("etcd kv: after the member restarts, the next call connects again", async () => {
  await using stack = new AsyncDisposableStack();
  const { kv, restart } = await restartableMember(stack);
  const put = { type: "put" as const, key: "k", value: "before" };
  const first = await kv.txn({ compare: [], success: [put] });
  await restart(() => assert.rejects(kv.range({ key: "k" })));
  const read = await kv.range({ key: "k" });
  assert.deepEqual(read.kvs.map((e) => decoder.decode(e.value)), ["before"]);
  assert.equal(read.revision, first.revision);
});

Deno.test("etcd kv: a failed endpoint moves the next call to the next one; endpoints can change", async () => {
  await using stack = new AsyncDisposableStack();
  const etcd = await startTestEtcd(stack);
  // Nothing listens on a port just freed.
  const dead = `http://127.0.0.1:${freePort()}`;
  const kv = createEtcdKv([dead, etcd.clientUrl]);
  stack.defer(() => kv.close());
  await assert.rejects(kv.range({ key: "a" }));
  assert.equal((await kv.range({ key: "a" })).kvs.length, 0);
  // Only the dead one listed: the working connection is closed, calls fail.
  kv.setEndpoints([dead]);
  await assert.rejects(kv.range({ key: "a" }));
  kv.setEndpoints([]);
  await assert.rejects(kv.range({ key: "a" }));
  kv.setEndpoints([etcd.clientUrl]);
  assert.equal((await kv.range({ key: "a" })).kvs.length, 0);
});

/** Established TCP connections of this process to `port` (from /proc: no tools needed). */
function connectionsTo(port: number): number {
  const ours = new Set<string>();
  for (const fd of Deno.readDirSync("/proc/self/fd")) {
    try {
      const link = Deno.readLinkSync(`/proc/self/fd/${fd.name}`);
      if (link.startsWith("socket:[")) ours.add(link.slice(8, -1));
    } catch {
      // Closed while listed.
    }
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  return Deno.readTextFileSync("/proc/net/tcp").split("\n").slice(1).filter((line) => {
    const f = line.trim().split(/\s+/);
    // rem_address is f[2] ("IP:PORT" in hex), st is f[3] (01: established), inode is f[9].
    return f.length > 9 && f[2].endsWith(`:${hexPort}`) && f[3] === "01" && ours.has(f[9]);
  }).length;
}

Deno.test("etcd kv: calls arriving together after a lost connection share one new one; close closes it", async () => {
  await using stack = new AsyncDisposableStack();
  const { etcd, kv, restart } = await restartableMember(stack);
  await kv.range({ key: "k" });
  assert.equal(connectionsTo(etcd.clientPort), 1);
  await restart();
  // No call while it was down: the connection in hand is the lost one.
  await Promise.all(Array.from({ length: 10 }, () => kv.range({ key: "k" })));
  await kv.range({ key: "k" });
  assert.equal(connectionsTo(etcd.clientPort), 1, "one connection for ten calls");
  kv.close();
  for (let i = 0; i < 50 && connectionsTo(etcd.clientPort) > 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(connectionsTo(etcd.clientPort), 0, "none left after close");
});
