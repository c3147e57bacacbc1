/**
 * Backups and recovery after quorum loss (docs/CLUSTER.md), end to end:
 * `-snapshot` of the live cluster, losing two of three members, restoring
 * the survivor's data as a fresh single-member cluster, the others rejoining
 * with empty data directories.
 */
import assert from "node:assert/strict";
import { connectRegistry } from "../../src/client/registry_client.ts";
import { startEtcd } from "../../src/store/etcd_process.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { freePort, sampleInfo, type ServiceProcess, startService } from "../_registry.ts";
import {
  assertNoEtcd,
  crash,
  etcdctl,
  join,
  memberList,
  PSK,
  runServiceCommand,
  startCluster,
  stopAll,
} from "./_cluster.ts";

const NAMES = ["alpha", "beta", "gamma", "delta"];

async function addAll(service: ServiceProcess, names: string[]): Promise<void> {
  await using conn = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
  for (const [i, name] of names.entries()) await conn.client.add(name, sampleInfo(i));
}

async function readAll(service: ServiceProcess): Promise<string[]> {
  await using conn = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
  const all = await conn.client.list();
  for (const [name, info] of Object.entries(all)) {
    assert.deepEqual(info, sampleInfo(NAMES.indexOf(name)));
  }
  return Object.keys(all).sort();
}

Deno.test("snapshot backup, quorum loss and the documented recovery", async () => {
  const services: (ServiceProcess | undefined)[] = [];
  const dataDirs: string[] = [];
  const work = await Deno.makeTempDir({ prefix: "registry-recovery-" });
  try {
    const [a, b, c] = await startCluster(services);
    dataDirs.push(a.dataDir, b.dataDir, c.dataDir);
    await addAll(a, NAMES);
    assert.deepEqual(await readAll(c), [...NAMES].sort());

    // Backup of the live cluster through the instance's etcd member.
    const backup = `${work}/backup.db`;
    const snap = await runServiceCommand([
      "-snapshot",
      backup,
      "-etcd-client-port",
      String(a.clientPort),
      // With the PSK it issues itself a client certificate: it needs no files.
      "-psk-file",
      a.pskFile!,
    ]);
    assert.equal(snap.code, 0, snap.stderr);
    assert.match(snap.stdout, /saved a snapshot of the registry's etcd data \(\d+ bytes\)/);
    const status = await etcdctl(a, ["snapshot", "status", backup, "-w", "json"]);
    assert.equal(status.code, 0, status.stderr);
    assert.ok(JSON.parse(status.stdout).totalKey >= NAMES.length);

    // Quorum loss: two of three members crash; the survivor cannot write.
    await crash(b);
    await crash(c);
    const put = await etcdctl(a, ["put", "probe", "x"], 2);
    assert.notEqual(put.code, 0, "a write without quorum must fail");

    // Recovery: stop the survivor, restore its member data as a fresh single-member cluster.
    assert.equal(await a.stop(), 0);
    const aName = `127.0.0.1-${a.clientPort}-${a.peerPort}`;
    const peerUrl = `https://127.0.0.1:${a.peerPort}`;
    const restored = `${work}/restored.etcd`;
    const restore = await etcdctl(a, [
      "snapshot",
      "restore",
      `${a.dataDir}/member/snap/db`,
      "--skip-hash-check",
      `--name=${aName}`,
      `--initial-cluster=${aName}=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--data-dir=${restored}`,
    ]);
    assert.equal(restore.code, 0, restore.stderr);
    dataDirs.push(restored);
    const a2 = await startService({
      psk: PSK,
      newCluster: true,
      clientPort: a.clientPort,
      peerPort: a.peerPort,
      dataDir: restored,
    });
    services[0] = a2;
    assert.deepEqual(await readAll(a2), [...NAMES].sort());
    assert.equal((await memberList(a2)).length, 1);

    // The others rejoin with empty data directories (same ports).
    const [b2, c2] = await Promise.all([
      join(a2.addr, { clientPort: b.clientPort, peerPort: b.peerPort }),
      join(a2.addr, { clientPort: c.clientPort, peerPort: c.peerPort }),
    ]);
    services[1] = b2;
    services[2] = c2;
    dataDirs.push(b2.dataDir, c2.dataDir);
    assert.deepEqual(await readAll(b2), [...NAMES].sort());
    assert.deepEqual(await readAll(c2), [...NAMES].sort());
    const rows = await memberList(a2);
    assert.equal(rows.length, 3);
    assert.ok(rows.every((r) => r.status === "started"));
    await addAll(c2, ["alpha"]);

    // The -snapshot backup restores too (with its integrity hash checked).
    const fromBackup = `${work}/from-backup.etcd`;
    const port = freePort();
    const peerPort = freePort();
    const name = `127.0.0.1-${port}-${peerPort}`;
    const restore2 = await etcdctl(a, [
      "snapshot",
      "restore",
      backup,
      `--name=${name}`,
      `--initial-cluster=${name}=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--data-dir=${fromBackup}`,
    ]);
    assert.equal(restore2.code, 0, restore2.stderr);
    dataDirs.push(fromBackup);
    const etcd = await startEtcd({
      ip: "127.0.0.1",
      clientPort: port,
      peerPort,
      dataDir: fromBackup,
      clusterState: "new",
      logger: silentLogger,
    });
    try {
      const keys = await etcdctl(etcd.clientUrl, ["get", "", "--prefix", "--keys-only"]);
      for (const n of NAMES) assert.match(keys.stdout, new RegExp(`/${n}\\n`));
    } finally {
      await etcd.stop();
    }
  } finally {
    await stopAll(services, dataDirs);
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
  await assertNoEtcd(dataDirs);
});
