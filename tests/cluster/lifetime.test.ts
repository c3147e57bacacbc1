/**
 * etcd lives and dies with its service: a SIGKILLed service takes its etcd
 * with it, a restart on the same data directory is the same member, a
 * leftover etcd of ours is stopped at start, and ports in use are a clear
 * error before anything starts.
 */
import assert from "node:assert/strict";
import {
  freePort,
  runCommand,
  runServiceCommand,
  sameMember,
  type ServiceProcess,
  startService,
  tempDataDir,
} from "../_registry.ts";
import { assertNoEtcd, etcdPids, memberList, PSK, stopAll, waitFor } from "./_cluster.ts";

Deno.test("SIGKILL of a service takes its etcd; a restart is the same member", async () => {
  const services: (ServiceProcess | undefined)[] = [];
  const dataDirs: string[] = [];
  try {
    const a = await startService({ psk: PSK });
    services.push(a);
    dataDirs.push(a.dataDir);
    const [before] = await memberList(a);
    const [pid] = await etcdPids(a.dataDir);
    assert.ok(pid > 0);

    await a.stop("SIGKILL");
    await waitFor("etcd to exit with its service", async () => {
      return (await etcdPids(a.dataDir)).length === 0;
    }, 5_000);

    const again = await startService({
      psk: PSK,
      ...sameMember(a),
    });
    services[0] = again;
    await again.waitForLog(/ready; etcd member/);
    const rows = await memberList(again);
    assert.deepEqual(rows, [before]);
    assert.equal((await fetch(`${again.httpUrl}/readyz`)).status, 200);
  } finally {
    await stopAll(services, dataDirs);
  }
  await assertNoEtcd(dataDirs);
});

Deno.test("a leftover etcd of ours on the data directory is stopped at start", async () => {
  const services: (ServiceProcess | undefined)[] = [];
  const dataDirs: string[] = [];
  let orphan: number | undefined;
  try {
    const a = await startService({ psk: PSK });
    services.push(a);
    dataDirs.push(a.dataDir);
    const [before] = await memberList(a);
    const [pid] = await etcdPids(a.dataDir);
    const argv = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0").filter((s) => s);
    await a.stop();

    // The same etcd, left as a service killed before it had this fix would leave it: an
    // orphan (its parent gone, adopted by init), not tied to any parent's life.
    const quoted = argv.map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(" ");
    const spawned = await runCommand("sh", [
      "-c",
      `${quoted} >/dev/null 2>&1 </dev/null & echo $!`,
    ]);
    orphan = Number(spawned.stdout.trim());
    await Deno.writeTextFile(`${a.dataDir}/etcd.pid`, `${orphan}\n`);
    await waitFor("the leftover etcd to serve", async () => {
      return (await runCommand("etcdctl", [...a.etcdctlFlags, "endpoint", "health"], {
        ETCDCTL_API: "3",
      })).code === 0;
    });

    const again = await startService({
      psk: PSK,
      ...sameMember(a),
    });
    services[0] = again;
    await again.waitForLog(new RegExp(`a leftover etcd \\(pid ${orphan}\\) of an earlier run`));
    assert.ok(!(await etcdPids(a.dataDir)).includes(orphan));
    orphan = undefined;
    assert.deepEqual(await memberList(again), [before]);
    const pids = await etcdPids(a.dataDir);
    assert.equal(pids.length, 1);
    assert.notEqual(pids[0], pid);
  } finally {
    if (orphan) {
      try {
        Deno.kill(orphan, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    await stopAll(services, dataDirs);
  }
  await assertNoEtcd(dataDirs);
});

Deno.test("ports in use: a clear error naming the address and the flag, nothing started", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    const cases: [string[], string][] = [
      [["-etcd-client-port", String(port)], "-etcd-client-port"],
      [["-etcd-peer-port", String(port)], "-etcd-peer-port"],
      [["-prom-listen-addr", `127.0.0.1:${port}`], "-prom-listen-addr"],
      [["-listen", `/ip4/127.0.0.1/tcp/${port}`], "-listen"],
    ];
    for (const [flags, flag] of cases) {
      const dataDir = await tempDataDir();
      const defaults: Record<string, string> = {
        "-etcd-client-port": String(freePort()),
        "-etcd-peer-port": String(freePort()),
        "-prom-listen-addr": `127.0.0.1:${freePort()}`,
        "-listen": "/ip4/127.0.0.1/tcp/0",
      };
      defaults[flags[0]] = flags[1];
      const res = await runServiceCommand([
        "-ephemeral",
        "-algo",
        "ed25519",
        "-local",
        "-new-etcd-cluster",
        "-etcd-data-dir",
        dataDir,
        ...Object.entries(defaults).flat(),
      ]);
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, new RegExp(`127\\.0\\.0\\.1:${port} is already in use`));
      assert.match(res.stderr, new RegExp(`change it with ${flag}\\b`));
      assert.doesNotMatch(res.stderr, /\bready\b/);
      assert.doesNotMatch(res.stderr, /^\s+at /m);
      assert.equal(res.stdout, "");
      await assertNoEtcd([dataDir]);
    }
  } finally {
    taken.close();
  }
});

Deno.test("-local without -new-etcd-cluster or -bootstrap is a usage error", async () => {
  const res = await runServiceCommand(["-ephemeral", "-local"]);
  assert.equal(res.code, 2);
  assert.match(res.stderr, /-local needs -new-etcd-cluster/);
});
