/**
 * Group commit of the store's writes, against a real etcd. Writes submitted
 * while one is in flight go in the next transaction together: they share its
 * revision, which is how these tests see that they were batched.
 */
import assert from "node:assert/strict";
import { StoreUnavailableError, WriteRefusedError } from "../../src/store/registry_store.ts";
import { WritePolicy } from "../../src/service/policy.ts";
import { sampleInfo } from "../_registry.ts";
import { withStores } from "../_stores.ts";
import { setImmediate } from "node:timers";
import { GroupCommit } from "../../src/store/group_commit.ts";

const A = "12D3KooWSAfKFruCemBoFUZ1D8MqLY9ikMPcQ9RuAwHCKcJg5Tij";
const B = "12D3KooWJbtXzDZKLruaNjroQ5cAJQL6QDofLLkERixdhTmNzYu7";
const info = (n: number) => JSON.stringify(sampleInfo(n));
/** After this turn of the event loop: the writes submitted before it are in flight. */
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

Deno.test("group commit: concurrent adds of different names are stored in one transaction, each answered", () =>
  withStores(async (one, two) => {
    const open = new WritePolicy();
    // The first write goes at the end of this turn; the rest arrive while it is in flight.
    const lead = one.put("lead", info(0), open.author(A));
    await nextTurn();
    const names = Array.from({ length: 30 }, (_, i) => `svc-${i}`);
    const revisions = await Promise.all(names.map((n, i) => one.put(n, info(i), open.author(A))));
    assert.ok((await lead) < revisions[0]);
    assert.equal(new Set(revisions).size, 1, `one transaction, got revisions ${revisions}`);
    for (const [i, name] of names.entries()) {
      assert.equal(await two.get(name), info(i));
      const history = await two.history(name);
      assert.deepEqual(history.map((v) => [v.Revision, v.Peer]), [[revisions[0], A]]);
    }
  }));

Deno.test("group commit: a refused or invalid write in a batch leaves the others stored", () =>
  withStores(async (one, two) => {
    const policy = new WritePolicy({ mode: "owner" });
    await one.put("taken", info(1), policy.author(A));
    // `two` may not have seen A's ownership of `late` when it builds its batch: its
    // transaction then fails on the owner compare, and the batch is checked again.
    await one.put("late", info(1), policy.author(A));
    const lead = two.put("lead", info(0), policy.author(B));
    await nextTurn();
    const writes = [
      two.put("ok-1", info(2), policy.author(B)),
      two.put("taken", info(3), policy.author(B)),
      two.put("sur\ud800x", info(3), policy.author(B)),
      two.put("ok-2", info(4), policy.author(B)),
      two.delete("late", policy.author(B)),
      two.delete("ghost", policy.author(B)),
      two.put("ok-3", info(5), policy.author(B)),
    ];
    const results = await Promise.allSettled(writes);
    await lead;
    const [ok1, taken, invalid, ok2, late, ghost, ok3] = results;
    assert.equal(taken.status, "rejected");
    assert.ok(taken.reason instanceof WriteRefusedError, String(taken.reason));
    assert.match(taken.reason.message, /is owned by 12D3KooWSAf/);
    assert.equal(invalid.status, "rejected");
    assert.ok(invalid.reason instanceof TypeError);
    assert.equal(late.status, "rejected");
    assert.ok(late.reason instanceof WriteRefusedError, String(late.reason));
    assert.deepEqual(ghost, { status: "fulfilled", value: undefined });
    const stored = [ok1, ok2, ok3].map((r) => (r as PromiseFulfilledResult<number>).value);
    assert.equal(new Set(stored).size, 1, `one transaction, got revisions ${stored}`);
    assert.equal(await one.get("ok-1"), info(2));
    assert.equal(await one.get("ok-2"), info(4));
    assert.equal(await one.get("ok-3"), info(5));
    assert.equal(await one.get("taken"), info(1));
    assert.equal(await one.get("late"), info(1));
    assert.equal((await one.history("taken")).length, 1);
  }));

Deno.test("group commit: adds of one name end with the last one's value, each recorded in order", () =>
  withStores(async (one, two) => {
    const open = new WritePolicy();
    const lead = one.put("lead", info(0), open.author(A));
    await nextTurn();
    const writes = [];
    for (let i = 1; i <= 5; i++) {
      writes.push(one.put("same", info(i), open.author(i % 2 ? A : B)));
      writes.push(one.put(`other-${i}`, info(i), open.author(A)));
    }
    const revisions = await Promise.all(writes);
    await lead;
    const same = revisions.filter((_, i) => i % 2 === 0);
    // As if one by one: each its own revision, in the order they were made.
    assert.deepEqual(same, [...same].sort((a, b) => a - b));
    assert.equal(new Set(same).size, 5);
    // The other names went along with them, not one transaction each.
    assert.ok(new Set(revisions).size < revisions.length, `revisions ${revisions}`);
    assert.equal(await two.get("same"), info(5));
    const history = await two.history("same");
    assert.deepEqual(
      history.map((v) => [v.Revision, v.InfoStr, v.Peer]),
      [5, 4, 3, 2, 1].map((i) => [same[i - 1], info(i), i % 2 ? A : B]),
    );
  }));

Deno.test("group commit: a transaction etcd refuses fails every write of its batch and stores none", () =>
  withStores(async (one, two) => {
    const open = new WritePolicy();
    // Each write alone is under etcd's 1.5 MiB request limit; three in one transaction are not.
    const big = (n: number) => JSON.stringify({ ...sampleInfo(n), Pad: "x".repeat(400_000) });
    const lead = one.put("lead", info(0), open.author(A));
    await nextTurn();
    const results = await Promise.allSettled(
      [1, 2, 3].map((n) => one.put(`big-${n}`, big(n), open.author(A))),
    );
    assert.ok((await lead) > 0);
    for (const result of results) {
      assert.equal(result.status, "rejected");
      assert.ok(result.reason instanceof StoreUnavailableError, String(result.reason));
    }
    for (const n of [1, 2, 3]) {
      assert.equal(await two.get(`big-${n}`), undefined);
      assert.deepEqual(await two.history(`big-${n}`), []);
      assert.equal(await one.get(`big-${n}`), undefined);
    }
    // Alone, the same write is stored.
    assert.ok((await one.put("big-1", big(1), open.author(A))) > 0);
    assert.equal(await two.get("big-1"), big(1));
  }, { batchBytes: 8 * 1024 * 1024 }));

Deno.test("group commit: a write too large for the batch keeps its place before a later one of its name", async () => {
  type Item = { name: string; value: string; bytes: number };
  const committed: string[] = [];
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let started!: () => void;
  const inFlight = new Promise<void>((resolve) => (started = resolve));
  let batches = 0;
  const group = new GroupCommit<Item>({
    commit: async (batch) => {
      if (batches++ === 0) {
        started();
        await released; // a transaction in flight while the rest arrive
      }
      for (const item of batch) committed.push(`${item.name}=${item.value}`);
      return [];
    },
    maxItems: 32,
    maxBytes: 512 * 1024,
    bytes: (item) => item.bytes,
    key: (item) => item.name,
    fail: () => {},
  });
  group.submit({ name: "warm", value: "0", bytes: 1 });
  await inFlight;
  // Three large writes of other names fill the next batch; "svc"'s large write does not fit it,
  // its later small one would.
  for (const name of ["a", "b", "c"]) group.submit({ name, value: "1", bytes: 135_000 });
  group.submit({ name: "svc", value: "earlier", bytes: 135_000 });
  group.submit({ name: "svc", value: "later", bytes: 500 });
  release();
  await group.idle();
  assert.deepEqual(
    committed.filter((entry) => entry.startsWith("svc=")),
    ["svc=earlier", "svc=later"],
    `commit order: ${committed.join(", ")}`,
  );
});

Deno.test("group commit: of two look-alike names created in one batch by two peers, the second is refused", () =>
  withStores(async (one, two) => {
    const policy = new WritePolicy({ mode: "owner" });
    const lead = one.put("lead", info(0), policy.author(A));
    await nextTurn();
    // Submitted together while `lead` is in flight: they would share the next transaction.
    const [first, second] = await Promise.allSettled([
      one.put("paypal", info(1), policy.author(A)),
      one.put("paypaI", info(2), policy.author(B)),
    ]);
    await lead;
    assert.equal(first.status, "fulfilled");
    assert.equal(second.status, "rejected");
    assert.ok(second.reason instanceof WriteRefusedError, String(second.reason));
    assert.match(second.reason.message, /looks like "paypal"/);
    assert.equal(await two.get("paypaI"), undefined);
  }));
