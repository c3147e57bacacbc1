import assert from "node:assert/strict";
import { createEtcdClient } from "../../src/store/etcd_cluster.ts";
import { WriteRefusedError } from "../../src/store/registry_store.ts";
import { WritePolicy } from "../../src/service/policy.ts";
import { retry } from "../../src/_retry.ts";
import { sampleInfo } from "../_registry.ts";
import { startTestStore, withStores } from "../_stores.ts";
import { startRestartableEtcd } from "../_etcd.ts";

const A = "12D3KooWSAfKFruCemBoFUZ1D8MqLY9ikMPcQ9RuAwHCKcJg5Tij";
const B = "12D3KooWJbtXzDZKLruaNjroQ5cAJQL6QDofLLkERixdhTmNzYu7";
const ADMIN = "12D3KooWNerrDNXRNzsXeqsPGKkfU36pDXNL5gmFM8v1P2FTK8r1";
const info = (n: number) => JSON.stringify(sampleInfo(n));

Deno.test("store: racing first puts through two instances leave one owner and its value", () =>
  withStores(async (one, two) => {
    const policy = new WritePolicy({ mode: "owner" });
    for (let round = 0; round < 20; round++) {
      const name = `race-${round}`;
      const results = await Promise.allSettled([
        one.put(name, info(1), policy.author(A)),
        two.put(name, info(2), policy.author(B)),
      ]);
      const won = results.findIndex((r) => r.status === "fulfilled");
      assert.equal(results.filter((r) => r.status === "fulfilled").length, 1, name);
      const lost = results[1 - won] as PromiseRejectedResult;
      assert.ok(lost.reason instanceof WriteRefusedError, String(lost.reason));
      const owner = [A, B][won];
      assert.match(lost.reason.message, new RegExp(`is owned by ${owner};`));
      assert.equal(await one.get(name), info(won + 1));
      assert.equal(await two.get(name), info(won + 1));
      assert.deepEqual((await two.history(name)).map((v) => v.Peer), [owner]);
    }
  }));

Deno.test("store: an owner seen late by the view still holds (the transaction compares it)", () =>
  withStores(async (one, two) => {
    const policy = new WritePolicy({ mode: "owner", admins: [ADMIN] });
    await one.put("svc", info(1), policy.author(A));
    // `two` may not have seen the owner yet: its write is checked again, not let through.
    await assert.rejects(() => two.put("svc", info(2), policy.author(B)), WriteRefusedError);
    await assert.rejects(() => two.delete("svc", policy.author(B)), WriteRefusedError);
    assert.equal(await two.get("svc"), info(1));
    await one.chown("svc", B, policy.author(A));
    await two.put("svc", info(3), policy.author(B));
    await assert.rejects(
      () => one.put("svc", info(4), policy.author(A)),
      /is owned by 12D3KooWJbt/,
    );
    assert.notEqual(await two.delete("svc", policy.author(ADMIN)), undefined);
    assert.equal(await one.delete("svc", policy.author(ADMIN)), undefined);
    assert.equal(await one.get("svc"), undefined);
    await assert.rejects(
      () => one.chown("never", A, policy.author(ADMIN)),
      /^WriteRefusedError: no such service "never"$/,
    );
  }));

Deno.test("store: history is trimmed to the limit through either instance; rollback records", () =>
  withStores(async (one, two) => {
    const open = new WritePolicy();
    for (let i = 0; i < 7; i++) {
      await (i % 2 ? two : one).put("h", info(i), open.author(i % 2 ? B : A));
    }
    const versions = await one.history("h");
    assert.deepEqual(versions.map((v) => v.InfoStr), [6, 5, 4].map(info));
    assert.deepEqual(await two.history("h"), versions);
    const { restored } = await two.rollback("h", 0, open.author(B));
    assert.equal(restored, versions[1].Revision);
    assert.equal(await one.get("h"), info(5));
    const after = await one.history("h");
    assert.deepEqual(after.map((v) => [v.Op, v.InfoStr, v.Peer]), [
      ["put", info(5), B],
      ["put", info(6), A],
      ["put", info(5), B],
    ]);
    await assert.rejects(() => one.rollback("h", 1, open.author(A)), /no recorded version/);
  }, { historyLimit: 3 }));

Deno.test("store: a name that cannot round-trip through UTF-8 is never written", () =>
  withStores(async (one, two) => {
    const open = new WritePolicy();
    await assert.rejects(() => one.put("sur\ud800x", info(1), open.author(A)), TypeError);
    assert.equal((await two.list()).entries.size, 0);
    assert.equal((await one.list()).entries.size, 0);
  }));

Deno.test("store: an entry with no owner goes to its next writer; a delete claims nothing", () =>
  withStores(async (one, two, etcdUrl) => {
    const policy = new WritePolicy({ mode: "owner" });
    // Entries written before owners were recorded (an older instance) have none.
    const client = createEtcdClient(etcdUrl);
    try {
      await client.put("physarum/registry/services/legacy").value(info(1));
      await client.put("physarum/registry/services/legacy-2").value(info(1));
    } finally {
      client.close();
    }
    assert.notEqual(await one.delete("legacy", policy.author(B)), undefined);
    await one.put("legacy", info(2), policy.author(A));
    await assert.rejects(
      () => two.put("legacy", info(3), policy.author(B)),
      /owned by 12D3KooWSAf/,
    );
    await two.put("legacy-2", info(4), policy.author(B));
    await assert.rejects(
      () => one.put("legacy-2", info(5), policy.author(A)),
      /owned by 12D3KooWJbt/,
    );
  }));

Deno.test("store: when its etcd member restarts, the view's watch resumes after its last change (no reload)", async () => {
  await using stack = new AsyncDisposableStack();
  const etcd = await startRestartableEtcd(stack);
  const one = await startTestStore(stack, etcd.clientUrl);
  const two = await startTestStore(stack, etcd.clientUrl);
  const seen: string[] = [];
  let gaps = 0;
  let wake = () => {};
  const subscription = await one.subscribe({
    changes: (changes) => {
      seen.push(...changes.map((c) => `${c.type} ${c.name}`));
      wake();
    },
    gap: () => void gaps++,
  }, { withEntries: false });
  stack.defer(() => subscription.close());
  const until = async (count: number) => {
    while (seen.length < count) await new Promise<void>((resolve) => (wake = resolve));
  };
  const policy = new WritePolicy({ mode: "owner" });
  await two.put("before", info(1), policy.author(A));
  await until(1);

  await etcd.restart();
  // The first call after the restart may find the old connection gone: the next one reconnects.
  await retry(() => two.put("after", info(2), policy.author(A)), { initialDelayMs: 50 });
  await two.delete("before", policy.author(A));
  await until(3);
  assert.deepEqual(seen, ["put before", "put after", "delete before"]);
  assert.equal(gaps, 0, "resumed, not reloaded");
  assert.equal(await one.get("after"), info(2));
});

Deno.test("store: a read after a write outside the prefix nudges the watch instead of waiting it out", () =>
  withStores(async (one, two, etcdUrl) => {
    const client = createEtcdClient(etcdUrl);
    try {
      const policy = new WritePolicy({ mode: "owner" });
      await one.put("nudged", info(1), policy.author(A));
      // Another registry's write (another prefix): etcd's revision moves, no event comes here.
      await client.put("another-registry/services/x").value("y");
      // With a catch-up time of a minute, only the nudge's event can end the wait in time.
      const read = two.get("nudged");
      const late = new Promise((resolve) => setTimeout(() => resolve("late"), 20_000));
      const outcome = await Promise.race([read, late]);
      assert.equal(outcome, info(1));
      const nudge = await client.get("physarum/registry/cluster/nudge").exists();
      assert.ok(nudge, "the store wrote its nudge key");
      await read;
    } finally {
      client.close();
    }
  }, { catchUpMs: 60_000 }));
