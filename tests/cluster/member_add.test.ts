/**
 * `/memberadd/0.1` under faults: refusals are errors on the stream, a joiner
 * that crashed after being added can retry, racing MemberAdds both succeed
 * (one learner at a time), a ghost learner never costs quorum and is
 * removed (one that never starts, and one that starts but does not answer:
 * never promoted), a peer URL on another host is refused, and a join that
 * finds no registry-service fails in bounded time.
 */
import assert from "node:assert/strict";
import { connectRegistry } from "../../src/client/registry_client.ts";
import { RequestRefusedError } from "../../src/client/errors.ts";
import { createRegistryNode } from "../../src/p2p/node.ts";
import { type EtcdProcess, etcdTlsFlags, startEtcd } from "../../src/store/etcd_process.ts";
import { ensureEtcdTls } from "../../src/store/tls.ts";
import { createLogger } from "../../src/log/logger.ts";
import {
  freePort,
  sampleInfo,
  type ServiceProcess,
  startService,
  tempDataDir,
} from "../_registry.ts";
import {
  assertNoEtcd,
  etcdctl,
  health,
  join,
  killEtcd,
  memberList,
  PSK,
  stopAll,
  waitFor,
} from "./_cluster.ts";

function member(clientPort = freePort(), peerPort = freePort()) {
  return {
    ip: "127.0.0.1",
    clientPort,
    peerPort,
    name: `127.0.0.1-${clientPort}-${peerPort}`,
    peerUrl: `https://127.0.0.1:${peerPort}`,
  };
}

Deno.test("memberadd: errors on the stream, crashed joiner retries, racing adds", async () => {
  const services: (ServiceProcess | undefined)[] = [];
  const etcds: EtcdProcess[] = [];
  const dataDirs: string[] = [];
  const etcdLog: string[] = [];
  const logger = createLogger({ write: (line) => etcdLog.push(line) });
  let conn: Awaited<ReturnType<typeof connectRegistry>> | undefined;
  try {
    const a = await startService({ psk: PSK });
    services.push(a);
    dataDirs.push(a.dataDir);
    conn = await connectRegistry({ bootstraps: [a.addr], psk: PSK });
    const client = conn.client;
    const aName = `127.0.0.1-${a.clientPort}-${a.peerPort}`;

    // A MemberAdd that etcd cannot do is an error on the stream, never an empty answer.
    await assert.rejects(
      client.memberAdd({ MemberName: "dup", MemberPeerUrl: `https://127.0.0.1:${a.peerPort}` }),
      RequestRefusedError,
    );
    await a.waitForLog(/already belongs to the started etcd member/);
    await assert.rejects(
      client.memberAdd({ MemberName: "bad", MemberPeerUrl: "not a url" }),
      RequestRefusedError,
    );
    // Without TLS a member would be outside the network's CA: refused too.
    await assert.rejects(
      client.memberAdd({ MemberName: "plain", MemberPeerUrl: `http://127.0.0.1:${freePort()}` }),
      RequestRefusedError,
    );
    assert.equal((await memberList(a)).length, 1);

    // A joiner added but crashed before starting etcd: its retry gets the same answer,
    // without a second MemberAdd, and a real instance on those ports then joins.
    const z = member();
    const first = await client.memberAdd({ MemberName: z.name, MemberPeerUrl: z.peerUrl });
    assert.deepEqual(
      first.split(",").sort(),
      [`${aName}=https://127.0.0.1:${a.peerPort}`, `${z.name}=${z.peerUrl}`].sort(),
    );
    const again = await client.memberAdd({ MemberName: z.name, MemberPeerUrl: z.peerUrl });
    assert.equal(again, first);
    await a.waitForLog(/already added and has not started; answering its initial cluster again/);
    assert.equal(a.log().split(`added etcd member ${z.name} `).length - 1, 1);
    const zService = await join(a.addr, { clientPort: z.clientPort, peerPort: z.peerPort });
    services.push(zService);
    dataDirs.push(zService.dataDir);
    await conn.client.add("after-crash", sampleInfo(3));
    assert.deepEqual(await conn.client.get("after-crash"), sampleInfo(3));

    // Two MemberAdds at the same moment: etcd refuses the second until the first member
    // has started; the handler retries and both succeed.
    const x = member();
    const y = member();
    const pending = new Map([x, y].map((m) => [
      m.name,
      client.memberAdd({ MemberName: m.name, MemberPeerUrl: m.peerUrl }).then((s) => ({ m, s })),
    ]));
    const start = async (m: ReturnType<typeof member>, initialCluster: string) => {
      const dataDir = await tempDataDir("registry-etcd-race-");
      dataDirs.push(dataDir);
      const tls = await ensureEtcdTls(PSK, { dataDir, name: m.name, ip: m.ip });
      etcds.push(
        await startEtcd({
          ...m,
          tls,
          dataDir,
          initialCluster,
          clusterState: "existing",
          logger,
          // A learner has no vote, so no health: the instance that added it promotes it.
          waitForHealth: false,
        }),
      );
    };
    const winner = await Promise.race(pending.values());
    pending.delete(winner.m.name);
    assert.match(winner.s, new RegExp(`${winner.m.name}=${winner.m.peerUrl}`));
    await start(winner.m, winner.s);
    const second = await [...pending.values()][0];
    assert.match(second.s, new RegExp(`${winner.m.name}=${winner.m.peerUrl}`));
    assert.match(second.s, new RegExp(`${second.m.name}=${second.m.peerUrl}`));
    await start(second.m, second.s);
    await a.waitForLog(/another member is still joining; retrying in \d+ ms/);

    await waitFor("four started voters", async () => {
      const rows = await memberList(a);
      return rows.length === 4 && rows.every((r) => r.status === "started" && !r.isLearner);
    });
    const rows = await memberList(a);
    assert.deepEqual(rows.map((r) => r.name).sort(), [aName, z.name, x.name, y.name].sort());
    const tls = etcds[1].tls!;
    const flags = [
      `--endpoints=${etcds[1].clientUrl}`,
      `--cacert=${tls.caFile}`,
      `--cert=${tls.certFile}`,
      `--key=${tls.keyFile}`,
    ];
    assert.equal((await etcdctl({ etcdctlFlags: flags }, ["put", "k", "v"])).code, 0);
  } finally {
    await conn?.close();
    await Promise.all(etcds.map((e) => e.stop()));
    await stopAll(services, dataDirs);
  }
  await assertNoEtcd(dataDirs);
});

Deno.test("a ghost learner never costs quorum and is removed; another host's URL is refused", async () => {
  const services: (ServiceProcess | undefined)[] = [];
  let conn: Awaited<ReturnType<typeof connectRegistry>> | undefined;
  try {
    const a = await startService({ psk: PSK, args: ["-learner-timeout", "5"] });
    services.push(a);
    conn = await connectRegistry({ bootstraps: [a.addr], psk: PSK });
    const client = conn.client;

    // A peer URL on another host than the requester's (127.0.0.1) adds nothing.
    await assert.rejects(
      client.memberAdd({
        MemberName: "elsewhere",
        MemberPeerUrl: `https://127.0.0.2:${freePort()}`,
      }),
      RequestRefusedError,
    );
    await a.waitForLog(
      /refused \/memberadd\/0\.1 for elsewhere: its peer URL .* is not on the requester's address 127\.0\.0\.1/,
    );
    assert.equal((await memberList(a)).length, 1);

    // A ghost: nothing will ever listen on its peer URL. Added as a learner, it has no vote.
    const ghost = member();
    await client.memberAdd({ MemberName: ghost.name, MemberPeerUrl: ghost.peerUrl });
    const rows = await memberList(a);
    assert.equal(rows.length, 2);
    assert.ok(rows.find((r) => r.peerUrl === ghost.peerUrl)?.isLearner);
    // Writes keep working throughout, until the ghost is removed after -learner-timeout.
    const added = Date.now();
    let i = 0;
    while (true) {
      await client.add(`during-ghost-${i}`, sampleInfo(i));
      assert.deepEqual(await client.get(`during-ghost-${i}`), sampleInfo(i));
      i++;
      if (!(await memberList(a)).some((r) => r.peerUrl === ghost.peerUrl)) break;
      assert.ok(Date.now() - added < 15_000, "the ghost learner was not removed within 5 s + 10 s");
      await new Promise((r) => setTimeout(r, 250));
    }
    await a.waitForLog(/did not start within 5 s \(-learner-timeout\): removing it/);
    assert.equal((await memberList(a)).length, 1);
    await client.add("after-ghost", sampleInfo(9));
  } finally {
    await conn?.close();
    await stopAll(services);
  }
});

Deno.test("a ghost learner that starts but does not answer is never promoted, and is removed for a real join", async () => {
  const services: (ServiceProcess | undefined)[] = [];
  const ghostDir = await tempDataDir();
  let conn: Awaited<ReturnType<typeof connectRegistry>> | undefined;
  let ghostEtcd: Deno.ChildProcess | undefined;
  try {
    const a = await startService({ psk: PSK, args: ["-learner-timeout", "8"] });
    services.push(a);
    conn = await connectRegistry({ bootstraps: [a.addr], psk: PSK });
    // A peer with the PSK adds a member and runs it: it serves its peers, so it starts and
    // catches up, but the client URL it gives is one where nothing listens.
    const ghost = member();
    const initialCluster = await conn.client.memberAdd({
      MemberName: ghost.name,
      MemberPeerUrl: ghost.peerUrl,
    });
    const tls = await ensureEtcdTls(PSK, { dataDir: ghostDir, name: ghost.name, ip: "127.0.0.1" });
    ghostEtcd = new Deno.Command("setpriv", {
      args: [
        ...["--pdeathsig", "SIGKILL", "--", "etcd", "--name", ghost.name],
        ...["--data-dir", ghostDir, "--initial-cluster-state", "existing"],
        ...["--listen-client-urls", `https://127.0.0.1:${ghost.clientPort}`],
        ...["--advertise-client-urls", `https://127.0.0.1:${freePort()}`],
        ...["--listen-peer-urls", ghost.peerUrl, "--initial-advertise-peer-urls", ghost.peerUrl],
        ...["--initial-cluster", initialCluster, ...etcdTlsFlags(tls)],
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    // It starts (the cluster learns its name) and stays a learner until it is removed.
    let started = false;
    await waitFor("the ghost learner's removal", async () => {
      const row = (await memberList(a)).find((r) => r.peerUrl === ghost.peerUrl);
      assert.ok(!row || row.isLearner, "the ghost learner was promoted to a voter");
      started ||= row?.name === ghost.name;
      return row === undefined;
    }, 40_000);
    assert.ok(started, "the ghost learner never started: this test tests nothing");
    await a.waitForLog(
      /etcd learner \S+ \(id \d+\) does not answer on its client URLs .*: not promoting it/,
    );
    await a.waitForLog(
      /steward: etcd learner \S+ \(id \d+\) was not promoted within 8 s \(-learner-timeout\): it started but does not answer/,
    );
    // The learner slot is free again: a real instance joins and becomes a voter.
    const b = await join(a.addr);
    services.push(b);
    await waitFor("b as a voter", async () => (await health(b)).role === "voter", 60_000);
    const rows = await memberList(a);
    assert.equal(rows.length, 2, JSON.stringify(rows));
    assert.ok(rows.every((r) => !r.isLearner && r.name !== ""), JSON.stringify(rows));
    await conn.client.add("after-ghost", sampleInfo(1));
  } finally {
    try {
      ghostEtcd?.kill("SIGKILL");
    } catch {
      // Exited when it was removed.
    }
    await ghostEtcd?.status;
    await killEtcd(ghostDir);
    await conn?.close();
    await stopAll(services);
  }
});

Deno.test("a join whose bootstraps reach no registry-service fails in bounded time", async () => {
  // A plain node on the network: reachable, but it answers no registry protocol.
  const plain = await createRegistryNode({
    psk: PSK,
    listen: ["/ip4/127.0.0.1/tcp/0"],
  });
  const dataDir = await tempDataDir("registry-etcd-nojoin-");
  const started = Date.now();
  try {
    const addr = plain.getMultiaddrs()[0].toString();
    const err = await join(addr, { dataDir, args: ["-join-timeout", "10"] }).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(err, "the join should have failed");
    assert.match(err.message, /exit 1/);
    assert.match(
      err.message,
      /could not join the etcd cluster within 10 s|no registry-service answered \/memberadd\/0\.1/,
    );
    assert.ok(Date.now() - started < 40_000, `took ${Date.now() - started} ms`);
    await assertNoEtcd([dataDir]);
    await assert.rejects(Deno.stat(`${dataDir}/member`), Deno.errors.NotFound);
  } finally {
    await plain.stop();
  }
});
