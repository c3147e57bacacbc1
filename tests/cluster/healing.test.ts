/**
 * Self-healing: a voter's service SIGKILLed (its etcd with it) is removed by
 * the steward after -dead-member-after and replaced by a client instance,
 * while writes through client instances keep succeeding; restarted on its
 * old data directory, the killed instance comes back as a client instance
 * with that directory's member moved aside.
 */
import assert from "node:assert/strict";
import { connectRegistry } from "../../src/client/registry_client.ts";
import { sampleInfo, type ServiceProcess, startService } from "../_registry.ts";
import {
  CORE_ARGS,
  crash,
  health,
  memberList,
  PSK,
  startCoreByRole,
  stopAll,
  waitFor,
} from "./_cluster.ts";

Deno.test("a dead voter is replaced by a client instance; it comes back as a client", async () => {
  const services: (ServiceProcess | undefined)[] = [];
  try {
    const { all, voters, clients } = await startCoreByRole(services, 5);
    // A voter other than the first instance, which the others bootstrap from.
    const victim = voters.find((v) => v !== all[0])!;
    const survivors = all.filter((s) => s !== victim);

    // Writes through both client instances, before, during and after the loss.
    const conns = await Promise.all(
      clients.map((c) => connectRegistry({ bootstraps: [c.addr], psk: PSK })),
    );
    const written: string[] = [];
    const failures: string[] = [];
    let writing = true;
    const writers = conns.map(async (conn, w) => {
      for (let i = 0; writing; i++) {
        const name = `w${w}-${i}`;
        try {
          await conn.client.add(name, sampleInfo(i));
          written.push(name);
        } catch (err) {
          failures.push(`${name}: ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    try {
      await new Promise((r) => setTimeout(r, 1_000));
      await crash(victim);
      const killedAt = Date.now();

      // Within -dead-member-after (8 s) + 60 s: 3 healthy voters again, one a former client.
      await waitFor("3 healthy voters again", async () => {
        const reports = await Promise.all(survivors.map(health));
        return reports.filter((r) => r.role === "voter" && r.healthy).length === 3 &&
          reports.every((r) => r.voters === 3 && r.learners === 0);
      }, 8_000 + 60_000);
      assert.ok(Date.now() - killedAt < 8_000 + 60_000);
      const after = await Promise.all(survivors.map(health));
      const promoted = clients.filter((c) => after[survivors.indexOf(c)].role === "voter");
      assert.equal(promoted.length, 1, "one former client instance is a voter now");
      await promoted[0].waitForLog(/role: client -> (learner|voter)/);
      const steward = survivors.find((_, i) => after[i].peerId === after[0].steward)!;
      await steward.waitForLog(/steward: removed etcd voter 127\.0\.0\.1-\d+-\d+ .*unreachable/);
      await steward.waitForLog(/steward: 2 of 3 voters; added .* as a learner and asked client/);
      // Client instances follow the voters: the victim's endpoint gone, the new voter's in.
      for (const c of survivors.filter((_, i) => after[i].role === "client")) {
        const log = await c.waitForLog(
          new RegExp(`etcd endpoints: [^\\n]*:${promoted[0].clientPort}\\b`),
        );
        const last = log.match(/etcd endpoints: [^\n]*/g)!.at(-1)!;
        assert.ok(!last.includes(`:${victim.clientPort}`), last);
      }
      const rows = await memberList(survivors.find((_, i) => after[i].role === "voter")!);
      assert.equal(rows.length, 3);
      assert.ok(!rows.some((r) => r.peerUrl.endsWith(`:${victim.peerPort}`)));
      await new Promise((r) => setTimeout(r, 1_000));
    } finally {
      writing = false;
      await Promise.all(writers);
    }
    // A handful of failures during the leader election at most, and none lost.
    assert.ok(written.length > 20, `only ${written.length} writes succeeded`);
    assert.ok(failures.length <= 5, `writes failed:\n${failures.join("\n")}`);
    for (const conn of conns) {
      const all = await conn.client.list();
      for (const name of written) assert.ok(all[name], `${name} is still there`);
    }
    await Promise.all(conns.map((c) => c.close()));

    // Restarted on its old data directory: a client instance, its member moved aside.
    const back = await startService({
      psk: PSK,
      newCluster: false,
      bootstraps: [all[0].addr],
      clientPort: victim.clientPort,
      peerPort: victim.peerPort,
      dataDir: victim.dataDir,
      args: CORE_ARGS,
    });
    services.push(back);
    await back.waitForLog(
      /was removed from the cluster while this instance was away: moved its data to/,
    );
    assert.equal((await health(back)).role, "client");
    const entries = [...Deno.readDirSync(victim.dataDir)].map((e) => e.name);
    assert.ok(entries.some((n) => n.startsWith("member.removed-")), entries.join(", "));
    const aside = entries.find((n) => n.startsWith("member.removed-"))!;
    assert.ok(Deno.statSync(`${victim.dataDir}/${aside}/wal`).isDirectory, "kept, not deleted");
    await using conn = await connectRegistry({ bootstraps: [back.addr], psk: PSK });
    assert.ok((await conn.client.list())[written[0]]);
  } finally {
    await stopAll(services);
  }
});
