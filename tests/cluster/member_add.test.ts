/**
 * `/memberadd/0.1` under faults: refusals are errors on the stream, a joiner
 * that crashed after being added can retry, racing MemberAdds both succeed,
 * and a join that finds no registry-service fails in bounded time.
 */
import assert from "node:assert/strict";
import { connectRegistry } from "../../src/client/registry_client.ts";
import { RequestRefusedError } from "../../src/client/errors.ts";
import { createRegistryNode } from "../../src/p2p/node.ts";
import { pskFromPassphrase } from "../../src/p2p/psk.ts";
import { type EtcdProcess, startEtcd } from "../../src/store/etcd_process.ts";
import { createLogger } from "../../src/log/logger.ts";
import {
  freePort,
  sampleInfo,
  type ServiceProcess,
  startService,
  tempDataDir,
} from "../_registry.ts";
import { assertNoEtcd, etcdctl, join, memberList, PSK, stopAll } from "./_cluster.ts";

function member(clientPort = freePort(), peerPort = freePort()) {
  return {
    ip: "127.0.0.1",
    clientPort,
    peerPort,
    name: `127.0.0.1-${clientPort}-${peerPort}`,
    peerUrl: `http://127.0.0.1:${peerPort}`,
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
      client.memberAdd({ MemberName: "dup", MemberPeerUrl: `http://127.0.0.1:${a.peerPort}` }),
      RequestRefusedError,
    );
    await a.waitForLog(/already belongs to the started etcd member/);
    await assert.rejects(
      client.memberAdd({ MemberName: "bad", MemberPeerUrl: "not a url" }),
      RequestRefusedError,
    );
    assert.equal((await memberList(a)).length, 1);

    // A joiner added but crashed before starting etcd: its retry gets the same answer,
    // without a second MemberAdd, and a real instance on those ports then joins.
    const z = member();
    const first = await client.memberAdd({ MemberName: z.name, MemberPeerUrl: z.peerUrl });
    assert.deepEqual(
      first.split(",").sort(),
      [`${aName}=http://127.0.0.1:${a.peerPort}`, `${z.name}=${z.peerUrl}`].sort(),
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
      etcds.push(
        await startEtcd({ ...m, dataDir, initialCluster, clusterState: "existing", logger }),
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
    await a.waitForLog(/a member added earlier has not started yet; retrying in \d+ ms/);

    const rows = await memberList(a);
    assert.deepEqual(rows.map((r) => r.name).sort(), [aName, z.name, x.name, y.name].sort());
    assert.ok(rows.every((r) => r.status === "started"));
    assert.equal((await etcdctl(etcds[1].clientUrl, ["put", "k", "v"])).code, 0);
  } finally {
    await conn?.close();
    await Promise.all(etcds.map((e) => e.stop()));
    await stopAll(services, dataDirs);
  }
  await assertNoEtcd(dataDirs);
});

Deno.test("a join whose bootstraps reach no registry-service fails in bounded time", async () => {
  // A plain node on the network: reachable, but it answers no registry protocol.
  const plain = await createRegistryNode({
    psk: pskFromPassphrase(PSK),
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
