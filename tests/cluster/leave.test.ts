/**
 * Graceful leave is an explicit operator action (`-leave-cluster`), never a
 * side effect of SIGTERM.
 */
import assert from "node:assert/strict";
import { sameMember, type ServiceProcess, startService } from "../_registry.ts";
import {
  assertNoEtcd,
  etcdctl,
  join,
  memberList,
  PSK,
  runServiceCommand,
  stopAll,
  waitFor,
} from "./_cluster.ts";

function etcdFlags(s: ServiceProcess): string[] {
  return [
    "-etcd-client-port",
    String(s.clientPort),
    "-etcd-peer-port",
    String(s.peerPort),
    "-etcd-data-dir",
    s.dataDir,
    ...(s.pskFile ? ["-psk-file", s.pskFile] : []),
  ];
}

Deno.test("-leave-cluster removes a stopped member; SIGTERM alone does not", async () => {
  const services: (ServiceProcess | undefined)[] = [];
  const dataDirs: string[] = [];
  try {
    const a = await startService({ psk: PSK });
    services.push(a);
    const b = await join(a.addr);
    services.push(b);
    dataDirs.push(a.dataDir, b.dataDir);
    const bName = `127.0.0.1-${b.clientPort}-${b.peerPort}`;

    // While b runs, -leave-cluster refuses (its etcd member is in use).
    const busy = await runServiceCommand(["-leave-cluster", ...etcdFlags(b)]);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /stop this instance's registry-service first/);

    // SIGTERM leaves b a member: a alone has no quorum now, so etcd 3.4 answers no member list
    // (it is linearizable) until -leave-cluster starts b's member again, which it says removing.
    assert.equal(await b.stop(), 0);

    const left = await runServiceCommand(["-leave-cluster", ...etcdFlags(b)]);
    assert.equal(left.code, 0, left.stderr);
    assert.match(left.stdout, new RegExp(`removed etcd member ${bName} .* 1 member\\(s\\) remain`));
    // (Once the election the removal may cause is over.)
    await waitFor(
      "a, the one member left",
      async () => (await memberList(a).catch(() => [])).length === 1,
    );
    await assert.rejects(Deno.stat(`${b.dataDir}/member`), Deno.errors.NotFound);
    await assertNoEtcd([b.dataDir]);
    // The member that stays takes writes (once any election the removal caused is over).
    await waitFor(
      "a write through the remaining member",
      async () => (await etcdctl(a, ["put", "k", "v"])).code === 0,
    );

    // Started again on the same data directory, it joins as a new member.
    const b2 = await join(a.addr, {
      ...sameMember(b),
    });
    services[1] = b2;
    await a.waitForLog(new RegExp(`(added etcd member ${bName} [^]*){2}`));
    assert.equal(a.log().split(`added etcd member ${bName} `).length - 1, 2);
    assert.equal((await memberList(a)).length, 2);

    // The only member cannot leave: that would throw the registry's data away.
    assert.equal(await b2.stop(), 0);
    const left2 = await runServiceCommand(["-leave-cluster", ...etcdFlags(b2)]);
    assert.equal(left2.code, 0, left2.stderr);
    assert.equal(await a.stop(), 0);
    const only = await runServiceCommand(["-leave-cluster", ...etcdFlags(a)]);
    assert.equal(only.code, 1);
    assert.match(only.stderr, /the cluster's only started member/);
    await assertNoEtcd(dataDirs);
  } finally {
    await stopAll(services, dataDirs);
  }
  await assertNoEtcd(dataDirs);
});
