/**
 * A voting core of -max-voters 3 shared by client instances: roles decided
 * at join, every instance reads what any other wrote, `registry-cli members`
 * and `/metrics` say who is what, and an original-style `/memberadd/0.1`
 * past the limit is refused.
 */
import assert from "node:assert/strict";
import { connectRegistry } from "../../src/client/registry_client.ts";
import { RequestRefusedError } from "../../src/client/errors.ts";
import { freePort, runCli, sampleInfo, type ServiceProcess } from "../_registry.ts";
import {
  CORE_ARGS,
  health,
  join,
  memberList,
  PSK,
  startCore,
  stopAll,
  waitFor,
} from "./_cluster.ts";

// Seven instances, as in the issue: exactly 3 voters and 4 client instances.
const INSTANCES = 7;

Deno.test("a core of 3 voters and client instances: roles, reads everywhere, members", async () => {
  const services: (ServiceProcess | undefined)[] = [];
  try {
    // The second instance may never be a voter: a client instance although the core has room.
    const [first] = await startCore(services, 1);
    const ineligible = await join(first.addr, { args: [...CORE_ARGS, "-voter-eligible=false"] });
    services.push(ineligible);
    await ineligible.waitForLog(/joining as a client instance/);
    await first.waitForLog(/joins as a client instance \(-voter-eligible=false\)/);
    const all = [first, ineligible];
    while (all.length < INSTANCES) {
      const batch = await Promise.all(
        Array.from(
          { length: Math.min(2, INSTANCES - all.length) },
          () => join(first.addr, { args: CORE_ARGS }),
        ),
      );
      services.push(...batch);
      all.push(...batch);
    }
    await waitFor("3 voters and 2 client instances", async () => {
      const reports = await Promise.all(all.map(health));
      return reports.filter((r) => r.role === "voter").length === 3 &&
        reports.filter((r) => r.role === "client").length === INSTANCES - 3;
    }, 60_000);
    const reports = await Promise.all(all.map(health));
    const rows = await memberList(all.find((_, i) => reports[i].role === "voter")!);
    assert.equal(rows.length, 3);
    assert.ok(rows.every((r) => r.status === "started" && !r.isLearner));
    for (const [i, s] of all.entries()) {
      assert.ok(reports[i].healthy, `instance ${i}: ${reports[i].reason}`);
      assert.equal(reports[i].voters, 3);
      assert.equal(reports[i].learners, 0);
      assert.ok(reports[i].steward, "a steward is elected");
      if (reports[i].role === "client") {
        await s.waitForLog(/joins? as a client instance|client instance on https:\/\//);
      }
    }
    assert.equal(reports[1].role, "client");
    // One steward, the same for everyone.
    assert.equal(new Set(reports.map((r) => r.steward)).size, 1);
    assert.ok(reports.some((r) => r.peerId === reports[0].steward));

    // An entry added through any instance is read through every other.
    for (const [i, writer] of all.entries()) {
      await using conn = await connectRegistry({ bootstraps: [writer.addr], psk: PSK });
      await conn.client.add(`from-${i}`, sampleInfo(i));
    }
    for (const reader of all) {
      await using conn = await connectRegistry({ bootstraps: [reader.addr], psk: PSK });
      for (let i = 0; i < all.length; i++) {
        assert.deepEqual(await conn.client.get(`from-${i}`), sampleInfo(i));
      }
    }

    // `registry-cli members` lists every instance with its role and etcd member.
    const client = all[reports.findIndex((r) => r.role === "client")];
    const out = await runCli(["-bootstrap", client.addr, "-psk", PSK, "-json", "members"]);
    assert.equal(out.code, 0, out.stderr);
    const listed = JSON.parse(out.stdout) as { PeerId: string; Role: string; Member: string }[];
    assert.equal(listed.length, INSTANCES);
    for (const r of reports) {
      const row = listed.find((l) => l.PeerId === r.peerId);
      assert.ok(row, `${r.peerId} is listed`);
      assert.equal(row.Role, r.role);
      assert.equal(row.Member === "", r.role === "client");
    }
    const text = await runCli(["-bootstrap", client.addr, "-psk", PSK, "members"]);
    assert.equal(text.stdout.trim().split("\n").length, INSTANCES);
    assert.match(text.stdout, /voter +127\.0\.0\.1-\d+-\d+/);

    // /metrics says the role, voters, learners and whether this is the steward.
    const metrics = await (await fetch(`${client.httpUrl}/metrics`)).text();
    assert.match(metrics, /^registry_role\{role="client"\} 1$/m);
    assert.match(metrics, /^registry_role\{role="voter"\} 0$/m);
    assert.match(metrics, /^registry_etcd_voters 3$/m);
    assert.match(metrics, /^registry_etcd_learners 0$/m);
    assert.match(metrics, /^registry_steward [01]$/m);

    // An original-style /memberadd/0.1 past the voter limit is refused and adds no member.
    await using conn = await connectRegistry({ bootstraps: [all[0].addr], psk: PSK });
    const peerPort = freePort();
    await assert.rejects(
      conn.client.memberAdd({
        MemberName: `127.0.0.1-${freePort()}-${peerPort}`,
        MemberPeerUrl: `https://127.0.0.1:${peerPort}`,
      }),
      RequestRefusedError,
    );
    await all[0].waitForLog(
      /refused \/memberadd\/0\.1 for 127\.0\.0\.1-\d+-\d+: the voting core is full \(3 of -max-voters 3/,
    );
    assert.equal((await memberList(all.find((_, i) => reports[i].role === "voter")!)).length, 3);
  } finally {
    await stopAll(services);
  }
});
