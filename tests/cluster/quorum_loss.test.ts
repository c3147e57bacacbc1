/**
 * Losing two of three voters at once: quorum is gone, so the steward removes
 * nothing and `/health` says why; when one comes back the cluster recovers
 * by itself (and the core is made whole again).
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

Deno.test("two of three voters lost: nothing removed, health says so, one back heals", async () => {
  const services: (ServiceProcess | undefined)[] = [];
  try {
    // 3 voters and one client instance (which replaces the voter that stays lost).
    const { all, voters, clients } = await startCoreByRole(services, 4);
    const first = all[0];
    assert.ok(voters.includes(first));
    const [b, c] = voters.filter((v) => v !== first);
    const [client] = clients;
    {
      await using conn = await connectRegistry({ bootstraps: [client.addr], psk: PSK });
      await conn.client.add("before", sampleInfo(1));
    }

    await Promise.all([crash(b), crash(c)]);
    for (const s of [first, client]) {
      await waitFor("/health to report the lost quorum", async () => {
        const r = await health(s);
        return !r.healthy && /no quorum|does not answer|deadline|unavailable/i.test(r.reason ?? "");
      }, 30_000);
    }
    // Well past -dead-member-after (8 s): still three members, nothing removed.
    await new Promise((r) => setTimeout(r, 16_000));
    const rows = await memberList(first);
    assert.equal(rows.length, 3, JSON.stringify(rows));
    assert.ok(!/steward: removed etcd voter/.test(first.log() + client.log()));
    const report = await health(first);
    assert.equal(report.healthy, false);
    assert.match(report.reason!, /no quorum/);

    // One comes back on its data directory: it rejoins as the voter it was, quorum returns,
    // and the steward replaces the one still lost with the client instance.
    const back = await startService({
      psk: PSK,
      newCluster: false,
      bootstraps: [first.addr],
      clientPort: b.clientPort,
      peerPort: b.peerPort,
      dataDir: b.dataDir,
      args: CORE_ARGS,
    });
    services.push(back);
    await back.waitForLog(/rejoining/);
    await waitFor("healthy again", async () => (await health(first)).healthy, 60_000);
    await waitFor("3 healthy voters again", async () => {
      const reports = await Promise.all([first, client, back].map(health));
      return reports.every((r) => r.healthy && r.role === "voter" && r.voters === 3);
    }, 8_000 + 60_000);
    await using conn = await connectRegistry({ bootstraps: [back.addr], psk: PSK });
    assert.deepEqual(await conn.client.get("before"), sampleInfo(1));
    await conn.client.add("after", sampleInfo(2));
    assert.ok(!(await memberList(first)).some((r) => r.peerUrl.endsWith(`:${c.peerPort}`)));
  } finally {
    await stopAll(services);
  }
});
