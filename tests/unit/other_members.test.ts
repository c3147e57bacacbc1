/**
 * Reaching other members: a client instance's etcd client follows the voters
 * (moved from one real etcd to another, its calls land on the new one only);
 * the steward probes them over HTTP.
 */
import assert from "node:assert/strict";
import {
  createEtcdClient,
  createMemberProbe,
  followEndpoints,
} from "../../src/store/etcd_cluster.ts";
import { startTestEtcd } from "../_etcd.ts";

Deno.test("followEndpoints moves a failover client to the listed endpoints only", async () => {
  await using stack = new AsyncDisposableStack();
  const [a, b] = await Promise.all([startTestEtcd(stack), startTestEtcd(stack)]);
  const client = createEtcdClient([a.clientUrl], undefined, { failover: true });
  const onA = createEtcdClient(a.clientUrl);
  const onB = createEtcdClient(b.clientUrl);
  stack.defer(() => {
    client.close();
    onA.close();
    onB.close();
  });

  await client.put("k").value("first");
  assert.equal(followEndpoints(client, [a.clientUrl]), false, "same endpoints: no change");
  assert.equal(followEndpoints(client, []), false, "an empty list changes nothing");

  assert.equal(followEndpoints(client, [b.clientUrl]), true);
  // Every call now goes to b: a keeps the old value, b has each new one.
  for (let i = 0; i < 5; i++) await client.put("k").value(`second-${i}`);
  assert.equal(await onA.get("k").string(), "first");
  assert.equal(await onB.get("k").string(), "second-4");
  assert.equal(await client.get("k").string(), "second-4");

  // Both listed: each call reaches one of them; none fails.
  assert.equal(followEndpoints(client, [a.clientUrl, b.clientUrl]), true);
  for (let i = 0; i < 10; i++) assert.ok(await client.get("k").string());
});

Deno.test("a member probe says which members answer, over HTTP", async () => {
  await using stack = new AsyncDisposableStack();
  const etcd = await startTestEtcd(stack);
  const probe = createMemberProbe();
  stack.defer(() => probe.close());
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadUrl = `http://127.0.0.1:${(closed.addr as Deno.NetAddr).port}`;
  closed.close();

  assert.equal(await probe.health(etcd.clientUrl, 2_000), true);
  assert.equal(await probe.health(deadUrl, 2_000), undefined);
  assert.equal(await probe.answers([etcd.clientUrl], 2_000), true);
  assert.equal(await probe.answers([deadUrl], 2_000), false);
  assert.equal(await probe.answers([deadUrl, etcd.clientUrl], 2_000), true, "any listed URL");
  assert.equal(await probe.answers([], 2_000), false);
  await etcd.stop();
  assert.equal(await probe.answers([etcd.clientUrl], 2_000), false, "stopped");
});
