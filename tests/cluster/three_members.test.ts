/**
 * Three registry-service instances form one etcd cluster, survive the loss
 * of one member, and the lost one rejoins from its data directory.
 */
import assert from "node:assert/strict";
import { connectRegistry } from "../../src/client/registry_client.ts";
import { sameMember, sampleInfo, type ServiceProcess } from "../_registry.ts";
import {
  assertNoEtcd,
  crash,
  join,
  memberList,
  PSK,
  startCluster,
  stopAll,
  waitFor,
} from "./_cluster.ts";

async function withClient<T>(
  service: ServiceProcess,
  fn: (client: Awaited<ReturnType<typeof connectRegistry>>["client"]) => Promise<T>,
): Promise<T> {
  const conn = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
  try {
    return await fn(conn.client);
  } finally {
    await conn.close();
  }
}

function memberName(s: ServiceProcess): string {
  return `127.0.0.1-${s.clientPort}-${s.peerPort}`;
}

Deno.test("three instances: join, replicate, survive a member loss, rejoin", async () => {
  const services: (ServiceProcess | undefined)[] = [];
  const dataDirs: string[] = [];
  try {
    // Both join at the same moment: the second MemberAdd must wait for the first member to start.
    const [a, b, c] = await startCluster(services);
    dataDirs.push(a.dataDir, b.dataDir, c.dataDir);

    const members = await memberList(a);
    assert.deepEqual(members.length, 3);
    assert.deepEqual(members.every((m) => m.status === "started"), true);
    // Each joined as a learner and was promoted: three voters.
    assert.deepEqual(members.map((m) => m.isLearner), [false, false, false]);
    assert.deepEqual(
      members.map((m) => m.name).sort(),
      [memberName(a), memberName(b), memberName(c)].sort(),
    );
    for (const s of [a, b, c]) {
      const row = members.find((m) => m.name === memberName(s))!;
      assert.deepEqual(row.peerUrl, `https://127.0.0.1:${s.peerPort}`);
      assert.deepEqual(row.clientUrl, `https://127.0.0.1:${s.clientPort}`);
    }
    // The first instance answered both joins; each was added once.
    for (const s of [b, c]) {
      await a.waitForLog(new RegExp(`added etcd member ${memberName(s)} `));
      assert.deepEqual(a.log().split(`added etcd member ${memberName(s)} `).length - 1, 1);
    }

    // An entry added through any instance is read through every other.
    const trio = [a, b, c];
    for (const [i, writer] of trio.entries()) {
      await withClient(writer, (client) => client.add(`svc-${i}`, sampleInfo(i)));
    }
    for (const reader of trio) {
      await withClient(reader, async (client) => {
        for (let i = 0; i < trio.length; i++) {
          assert.deepEqual(await client.get(`svc-${i}`), sampleInfo(i));
        }
      });
    }

    // Crash b and its etcd: the other two keep serving writes and reads.
    await crash(b);
    for (const [i, s] of [a, c].entries()) {
      await withClient(s, (client) => client.add(`down-${i}`, sampleInfo(10 + i)));
    }
    for (const s of [a, c]) {
      await withClient(s, async (client) => {
        assert.deepEqual(await client.get("down-0"), sampleInfo(10));
        assert.deepEqual(await client.get("down-1"), sampleInfo(11));
        assert.deepEqual(await client.delete("svc-0"), "Deleted 1 entry from hash lookup");
        await client.add("svc-0", sampleInfo(0));
      });
    }

    // Restart b on the same ports and data directory: it rejoins with its member, without a MemberAdd.
    const b2 = await join(a.addr, {
      ...sameMember(b),
    });
    services[1] = b2;
    await b2.waitForLog(/holds etcd member 127\.0\.0\.1-\d+-\d+; rejoining/);
    assert.deepEqual(a.log().split(`added etcd member ${memberName(b)} `).length - 1, 1);
    assert(
      !a.log().includes(
        `already added and has not started; answering its initial cluster again for ${
          memberName(b)
        }`,
      ),
    );
    await withClient(b2, async (client) => {
      assert.deepEqual(await client.get("down-0"), sampleInfo(10));
      assert.deepEqual(await client.get("down-1"), sampleInfo(11));
      const all = await client.list();
      assert.deepEqual(Object.keys(all).sort(), ["down-0", "down-1", "svc-0", "svc-1", "svc-2"]);
    });
    await waitFor("three started members", async () => {
      const rows = await memberList(b2);
      return rows.length === 3 && rows.every((m) => m.status === "started");
    });
    assert.deepEqual((await memberList(c)).length, 3);
  } finally {
    await stopAll(services, dataDirs);
  }
  await assertNoEtcd(dataDirs);
});
