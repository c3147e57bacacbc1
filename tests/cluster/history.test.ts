/**
 * Owners and history live in etcd: every instance of a cluster answers the
 * same history and holds every writer to the same owner.
 */
import assert from "node:assert/strict";
import { sampleInfo, type ServiceProcess } from "../_registry.ts";
import { addPayload, wirePeer } from "../e2e/_wire.ts";
import { PSK, startCluster, stopAll } from "./_cluster.ts";

Deno.test("three instances: one history and one owner through every instance", async () => {
  const services: (ServiceProcess | undefined)[] = [];
  const [a, b] = await Promise.all([wirePeer(PSK), wirePeer(PSK)]);
  try {
    const instances = await startCluster(services);
    // Each write goes through another instance.
    const writes: [typeof a, string, string][] = [
      [a, "/add/0.1", addPayload("c", sampleInfo(1))],
      [b, "/add/0.1", addPayload("c", sampleInfo(2))],
      [a, "/add/0.1", addPayload("c", sampleInfo(3))],
      [b, "/delete/0.1", "c"],
    ];
    for (const [i, [peer, protocol, payload]] of writes.entries()) {
      peer.addr = instances[i % 3].addr;
      assert.match(await peer.ask(protocol, payload), /^(Added|Deleted) /);
    }
    const answers = [];
    for (const instance of instances) {
      a.addr = instance.addr;
      answers.push(JSON.parse(await a.ask("/history/0.1", "c")));
    }
    assert.deepEqual(answers[0].Versions.map((v: { Peer: string }) => v.Peer), [
      b.id,
      a.id,
      b.id,
      a.id,
    ]);
    assert.deepEqual(answers[1], answers[0]);
    assert.deepEqual(answers[2], answers[0]);

    // The owner recorded through the first instance holds for a chown through the third.
    b.addr = instances[2].addr;
    assert.match(
      await b.ask("/chown/0.1", JSON.stringify({ Name: "c", Owner: b.id })),
      new RegExp(`^Error: not authorized: "c" is owned by ${a.id};`),
    );
    a.addr = instances[1].addr;
    assert.equal(
      await a.ask("/chown/0.1", JSON.stringify({ Name: "c", Owner: b.id })),
      `Owner of c is now ${b.id}`,
    );
  } finally {
    await Promise.all([a.node.stop(), b.node.stop()]);
    await stopAll(services);
  }
});
