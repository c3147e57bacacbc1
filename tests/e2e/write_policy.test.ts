import assert from "node:assert/strict";
import { sameMember, sampleInfo, type ServiceProcess, startService } from "../_registry.ts";
import { addPayload, type WirePeer, wirePeer } from "./_wire.ts";
import { decodeGetResponse, decodeHistoryResponse } from "../../src/protocol/messages.ts";
import { createEtcdClient } from "../../src/store/etcd_cluster.ts";
import { DEFAULT_ROOT_PREFIX } from "../../src/store/registry_store.ts";

const PSK = "write-policy-test";

/**
 * Runs `fn` against a service started with `args` and `count` peers of their
 * own identities; the first `admins` of them are given to the service as `-admin`.
 */
async function withPeers(
  options: { args: string[]; peers: number; admins?: number },
  fn: (service: ServiceProcess, peers: WirePeer[]) => Promise<void>,
): Promise<void> {
  const peers = await Promise.all(Array.from({ length: options.peers }, () => wirePeer(PSK)));
  let service: ServiceProcess | undefined;
  try {
    const adminArgs = peers.slice(0, options.admins ?? 0).flatMap((p) => ["-admin", p.id]);
    service = await startService({ psk: PSK, args: [...options.args, ...adminArgs] });
    for (const peer of peers) peer.addr = service.addr;
    await fn(service, peers);
  } finally {
    await Promise.all(peers.map((p) => p.node.stop()));
    await service?.stop();
  }
}

async function stored(peer: WirePeer, name: string): Promise<unknown> {
  const res = decodeGetResponse(await peer.ask("/get/0.1", name));
  return res.LookupOk ? JSON.parse(res.InfoStr) : undefined;
}

const notAuthorized = (name: string, owner: string) =>
  `Error: not authorized: ${JSON.stringify(name)} is owned by ${owner}; ` +
  "only its owner or an admin may change it";

Deno.test("owner policy: only the owner or an admin changes a name; chown likewise", () =>
  withPeers({ args: ["-write-policy", "owner"], peers: 3, admins: 1 }, async (service, peers) => {
    const [admin, a, b] = peers;
    assert.equal(
      await a.ask("/add/0.1", addPayload("svc", sampleInfo(1))),
      `Added {svc: ${JSON.stringify(sampleInfo(1))}}`,
    );

    // B may neither overwrite nor delete A's name, and changes nothing.
    assert.equal(
      await b.ask("/add/0.1", addPayload("svc", sampleInfo(2))),
      notAuthorized("svc", a.id),
    );
    assert.equal(await b.ask("/delete/0.1", "svc"), notAuthorized("svc", a.id));
    // Not told first that "svc" has no earlier version: B may not roll it back at all.
    assert.match(
      await b.ask("/rollback/0.1", JSON.stringify({ Name: "svc" })),
      /^Error: not authorized: "svc" is owned by /,
    );
    assert.deepEqual(await stored(b, "svc"), sampleInfo(1));
    await service.waitForLog(
      new RegExp(
        `WARN audit peer=${b.id} protocol=/delete/0.1 name="svc" outcome=refused revision=- reason="not authorized`,
      ),
    );

    // Anyone may add a new name; A updates its own.
    assert.match(await b.ask("/add/0.1", addPayload("svc-b", sampleInfo(3))), /^Added /);
    assert.match(await a.ask("/add/0.1", addPayload("svc", sampleInfo(4))), /^Added /);
    assert.deepEqual(await stored(b, "svc"), sampleInfo(4));
    await service.waitForLog(
      new RegExp(
        `INFO audit peer=${a.id} protocol=/add/0.1 name="svc" outcome=accepted revision=\\d+$`,
        "m",
      ),
    );

    // chown: not by B; by A to B, after which B writes and A is refused.
    const chownTo = (owner: string) => JSON.stringify({ Name: "svc", Owner: owner });
    assert.equal(
      await b.ask("/chown/0.1", chownTo(b.id)),
      `Error: not authorized: "svc" is owned by ${a.id}; only its owner or an admin may give it to another owner`,
    );
    assert.equal(await a.ask("/chown/0.1", chownTo(b.id)), `Owner of svc is now ${b.id}`);
    assert.equal(
      await a.ask("/add/0.1", addPayload("svc", sampleInfo(5))),
      notAuthorized("svc", b.id),
    );
    assert.match(await b.ask("/add/0.1", addPayload("svc", sampleInfo(6))), /^Added /);

    // An admin deletes and chowns any name; the owner record outlives the entry.
    assert.equal(await admin.ask("/delete/0.1", "svc"), "Deleted 1 entry from hash lookup");
    assert.equal(await stored(a, "svc"), undefined);
    assert.equal(
      await a.ask("/add/0.1", addPayload("svc", sampleInfo(7))),
      notAuthorized("svc", b.id),
    );
    assert.equal(await admin.ask("/chown/0.1", chownTo(a.id)), `Owner of svc is now ${a.id}`);
    assert.match(await a.ask("/add/0.1", addPayload("svc", sampleInfo(8))), /^Added /);
    assert.equal(await b.ask("/delete/0.1", "svc-b"), "Deleted 1 entry from hash lookup");
    assert.equal(
      await b.ask("/delete/0.1", "svc-b"),
      "Error: Failed to delete any entries from hash lookup",
    );

    // Unknown names and bad owners are answered, not reset.
    assert.equal(
      await admin.ask("/chown/0.1", JSON.stringify({ Name: "nope", Owner: a.id })),
      'Error: no such service "nope"',
    );
    assert.match(
      await a.ask("/chown/0.1", JSON.stringify({ Name: "svc", Owner: "12D3KooWFAKE" })),
      /^Error: not a peer id: "12D3KooWFAKE"$/,
    );
  }));

Deno.test("owner policy: racing first adds of a name end with one owner and its value", () =>
  withPeers({ args: ["-write-policy", "owner"], peers: 2 }, async (_service, [a, b]) => {
    for (let round = 0; round < 20; round++) {
      const name = `race-${round}`;
      const [fromA, fromB] = await Promise.all([
        a.ask("/add/0.1", addPayload(name, sampleInfo(1))),
        b.ask("/add/0.1", addPayload(name, sampleInfo(2))),
      ]);
      const accepted = [fromA, fromB].filter((t) => t.startsWith("Added "));
      assert.equal(accepted.length, 1, `${name}: ${fromA} / ${fromB}`);
      const [winner, loser, value] = fromA.startsWith("Added ")
        ? [a, fromB, sampleInfo(1)]
        : [b, fromA, sampleInfo(2)];
      assert.equal(loser, notAuthorized(name, winner.id));
      assert.deepEqual(await stored(a, name), value);
      const history = JSON.parse(await a.ask("/history/0.1", name));
      assert.deepEqual(history.Versions.map((v: { Peer: string }) => v.Peer), [winner.id]);
    }
  }));

Deno.test("open policy: anyone overwrites and deletes, as the original; chown still needs the owner", () =>
  withPeers({ args: [], peers: 2 }, async (_service, [a, b]) => {
    assert.match(await a.ask("/add/0.1", addPayload("shared", sampleInfo(1))), /^Added /);
    assert.equal(
      await b.ask("/add/0.1", addPayload("shared", sampleInfo(2))),
      `Added {shared: ${JSON.stringify(sampleInfo(2))}}`,
    );
    assert.deepEqual(await stored(a, "shared"), sampleInfo(2));
    assert.equal(
      await b.ask("/chown/0.1", JSON.stringify({ Name: "shared", Owner: b.id })),
      `Error: not authorized: "shared" is owned by ${a.id}; only its owner or an admin may give it to another owner`,
    );
    assert.equal(await b.ask("/delete/0.1", "shared"), "Deleted 1 entry from hash lookup");
    assert.equal(await stored(a, "shared"), undefined);
  }));

interface Version {
  Revision: number;
  Op: string;
  InfoStr: string;
  Peer: string;
  Time: string;
}

async function history(peer: WirePeer, name: string): Promise<Version[]> {
  return decodeHistoryResponse(await peer.ask("/history/0.1", name)).Versions;
}

Deno.test("history: who changed what, newest first; rollback; bounded; survives a restart", async () => {
  const [a, b] = await Promise.all([wirePeer(PSK), wirePeer(PSK)]);
  const args = ["-history", "5"];
  const service = await startService({ psk: PSK, args });
  let restarted: ServiceProcess | undefined;
  try {
    for (const peer of [a, b]) peer.addr = service.addr;
    assert.deepEqual(await history(a, "h"), []);
    const started = Date.now();
    await a.ask("/add/0.1", addPayload("h", sampleInfo(1)));
    await b.ask("/add/0.1", addPayload("h", sampleInfo(2)));
    await a.ask("/add/0.1", addPayload("h", sampleInfo(3)));
    await b.ask("/delete/0.1", "h");
    const four = await history(a, "h");
    assert.deepEqual(
      four.map((v) => [v.Op, v.Peer, v.InfoStr === "" ? undefined : JSON.parse(v.InfoStr)]),
      [
        ["delete", b.id, undefined],
        ["put", a.id, sampleInfo(3)],
        ["put", b.id, sampleInfo(2)],
        ["put", a.id, sampleInfo(1)],
      ],
    );
    for (let i = 1; i < four.length; i++) assert.ok(four[i - 1].Revision > four[i].Revision);
    for (const v of four) {
      const time = Date.parse(v.Time);
      assert.match(v.Time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      assert.ok(time >= started - 5_000 && time <= Date.now() + 5_000, v.Time);
    }

    // Default rollback: the version before the current one (A's third put), as a new version.
    assert.equal(
      await a.ask("/rollback/0.1", JSON.stringify({ Name: "h" })),
      `Rolled back h to revision ${four[1].Revision}`,
    );
    assert.deepEqual(await stored(b, "h"), sampleInfo(3));
    const five = await history(b, "h");
    assert.equal(five.length, 5);
    assert.deepEqual([five[0].Op, five[0].Peer, JSON.parse(five[0].InfoStr)], [
      "put",
      a.id,
      sampleInfo(3),
    ]);
    assert.deepEqual(five.slice(1), four);

    // To a given revision; the oldest version goes (-history 5).
    assert.equal(
      await b.ask("/rollback/0.1", JSON.stringify({ Name: "h", Revision: four[3].Revision })),
      `Rolled back h to revision ${four[3].Revision}`,
    );
    assert.deepEqual(await stored(a, "h"), sampleInfo(1));
    const bounded = await history(a, "h");
    assert.equal(bounded.length, 5);
    assert.deepEqual(bounded.slice(1), five.slice(0, 4));
    assert.match(
      await a.ask("/rollback/0.1", JSON.stringify({ Name: "h", Revision: 1 })),
      /^Error: "h" has no recorded version at revision 1/,
    );
    assert.equal(
      await a.ask("/rollback/0.1", JSON.stringify({ Name: "never" })),
      'Error: no such service "never"',
    );
    // Only the last five records are kept in etcd, not just answered.
    const etcd = createEtcdClient(service.etcdUrl, service.etcdTls);
    try {
      const keys = await etcd.getAll().prefix(`${DEFAULT_ROOT_PREFIX}history/h/`).keys();
      assert.equal(keys.length, 5);
    } finally {
      etcd.close();
    }

    await service.stop();
    restarted = await startService({
      psk: PSK,
      args,
      ...sameMember(service),
    });
    a.addr = restarted.addr;
    assert.deepEqual(await history(a, "h"), bounded);
    await a.ask("/add/0.1", addPayload("h", sampleInfo(9)));
    const after = await history(a, "h");
    assert.equal(after.length, 5, "the trim lost track of records across the restart");
    assert.deepEqual(after.slice(1), bounded.slice(0, 4));
  } finally {
    await Promise.all([a.node.stop(), b.node.stop()]);
    await service.stop();
    await restarted?.stop();
  }
});
