/**
 * With a PSK, etcd is reachable only with a certificate from the network's
 * CA: etcdctl without one fails on the client port, the peer port refuses
 * plain and certificate-less TLS connections, an etcd with a CA of its own
 * cannot join, and the instance's own files work with etcdctl. The PSK
 * itself never appears on a command line.
 */
import assert from "node:assert/strict";
import { freePort, runServiceCommand, type ServiceProcess, startService } from "../_registry.ts";
import { assertNoEtcd, etcdctl, memberList, PSK, stopAll } from "./_cluster.ts";
import { startEtcd } from "../../src/store/etcd_process.ts";
import { ensureEtcdTls, etcdTlsPaths } from "../../src/store/tls.ts";
import { createLogger } from "../../src/log/logger.ts";
import { tempDataDir } from "../_registry.ts";
import { loadOrCreateIdentity } from "../../src/p2p/identity.ts";

async function cmdline(pid: number): Promise<string> {
  return (await Deno.readTextFile(`/proc/${pid}/cmdline`)).replaceAll("\0", " ");
}

/** Sends an HTTP request for the peer API's member list over `conn`; returns what came back. */
async function askMembers(conn: Deno.Conn): Promise<string> {
  try {
    await conn.write(new TextEncoder().encode("GET /members HTTP/1.1\r\nHost: x\r\n\r\n"));
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    return n === null ? "" : new TextDecoder().decode(buf.subarray(0, n));
  } catch (err) {
    return `error: ${(err as Error).message}`;
  } finally {
    try {
      conn.close();
    } catch {
      // Closed by the server.
    }
  }
}

Deno.test("etcd with a PSK: mutual TLS on client and peer ports, nothing without the CA", async () => {
  const services: (ServiceProcess | undefined)[] = [];
  const dataDirs: string[] = [];
  try {
    const a = await startService({ psk: PSK });
    services.push(a);
    dataDirs.push(a.dataDir);
    const paths = etcdTlsPaths(a.dataDir);
    for (const file of [paths.caFile, paths.certFile, paths.keyFile]) {
      assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600, file);
    }

    // The instance's own files work, and so do the flags -etcdctl-flags prints.
    assert.equal((await etcdctl(a, ["put", "tls-probe", "v"])).code, 0);
    const got = await etcdctl(a, ["get", "tls-probe", "--print-value-only"]);
    assert.equal(got.stdout.trim(), "v");
    const printed = await runServiceCommand([
      "-etcdctl-flags",
      "-psk-file",
      await pskFile(),
      "-etcd-client-port",
      String(a.clientPort),
      "-etcd-peer-port",
      String(a.peerPort),
      "-etcd-data-dir",
      a.dataDir,
    ]);
    assert.equal(printed.code, 0, printed.stderr);
    const flags = printed.stdout.trim().split(" ");
    assert.deepEqual(flags, a.etcdctlFlags);
    assert.equal((await etcdctl({ etcdctlFlags: flags }, ["get", "tls-probe"])).code, 0);

    // Without certificates: plain http, TLS trusting the CA but with no client certificate.
    const noCert = [`--endpoints=${a.etcdUrl}`, `--cacert=${paths.caFile}`];
    const plain = [`--endpoints=http://127.0.0.1:${a.clientPort}`];
    for (const target of [noCert, plain]) {
      for (
        const args of [
          ["get", "tls-probe"],
          ["put", "tls-probe", "forged"],
          ["member", "add", "intruder", "--peer-urls=https://127.0.0.1:1"],
        ]
      ) {
        const res = await etcdctl({ etcdctlFlags: target }, args, 2);
        assert.notEqual(res.code, 0, `${target} ${args} succeeded: ${res.stdout}`);
      }
    }
    assert.equal((await etcdctl(a, ["get", "tls-probe", "--print-value-only"])).stdout.trim(), "v");
    assert.equal((await memberList(a)).length, 1);

    // The peer port: with the member's certificate it answers; plain or certificate-less, never.
    const ca = await Deno.readTextFile(paths.caFile);
    const withCert = await askMembers(
      await Deno.connectTls({
        hostname: "127.0.0.1",
        port: a.peerPort,
        caCerts: [ca],
        cert: await Deno.readTextFile(paths.certFile),
        key: await Deno.readTextFile(paths.keyFile),
      }),
    );
    assert.match(withCert, /^HTTP\/1\.1 200/);
    const certless = await askMembers(
      await Deno.connectTls({ hostname: "127.0.0.1", port: a.peerPort, caCerts: [ca] }),
    );
    assert.doesNotMatch(certless, /HTTP\/1\.1 200/);
    const plainPeer = await askMembers(
      await Deno.connect({ hostname: "127.0.0.1", port: a.peerPort }),
    );
    assert.doesNotMatch(plainPeer, /HTTP\/1\.1 200/);

    // An etcd with a CA of its own (another passphrase), added as a learner by a PSK holder:
    // the members refuse its certificate, so it never starts.
    const intruder = { ip: "127.0.0.1", clientPort: freePort(), peerPort: freePort() };
    const name = `127.0.0.1-${intruder.clientPort}-${intruder.peerPort}`;
    const peerUrl = `https://127.0.0.1:${intruder.peerPort}`;
    const add = await etcdctl(a, ["member", "add", name, `--peer-urls=${peerUrl}`, "--learner"]);
    assert.equal(add.code, 0, add.stderr);
    const initialCluster = add.stdout.match(/ETCD_INITIAL_CLUSTER="([^"]+)"/)![1];
    const dataDir = await tempDataDir("registry-etcd-intruder-");
    dataDirs.push(dataDir);
    const intruderLog: string[] = [];
    const failed = await startEtcd({
      ...intruder,
      tls: await ensureEtcdTls("a passphrase of our own", { dataDir, name, ip: "127.0.0.1" }),
      dataDir,
      initialCluster,
      clusterState: "existing",
      logger: createLogger({ write: (line) => intruderLog.push(line) }, { level: "debug" }),
      waitForHealth: false,
      startTimeoutMs: 10_000,
    }).then(() => undefined, (err: Error) => err);
    assert.ok(failed, "an etcd with a CA of its own started as a member");
    assert.match(failed.message, /cannot fetch cluster info from peer urls/);
    assert.match(intruderLog.join("\n"), /x509: certificate signed by unknown authority/);
    const rows = await memberList(a);
    assert.equal(rows.find((r) => r.peerUrl === peerUrl)?.status, "unstarted");
    assert.equal((await etcdctl(a, ["put", "still", "writable"])).code, 0);
  } finally {
    await stopAll(services, dataDirs);
  }
  await assertNoEtcd(dataDirs);
});

let pskPath: string | undefined;
async function pskFile(): Promise<string> {
  if (pskPath) return pskPath;
  pskPath = await Deno.makeTempFile({ prefix: "registry-psk-" });
  await Deno.writeTextFile(pskPath, `${PSK}\n`, { mode: 0o600 });
  return pskPath;
}

Deno.test("-psk-file keeps the passphrase off every command line", async () => {
  const service = await startService({ psk: PSK });
  try {
    const etcdPid = Number((await Deno.readTextFile(`${service.dataDir}/etcd.pid`)).trim());
    for (const pid of [service.child.pid, etcdPid]) {
      const line = await cmdline(pid);
      assert.ok(line.length > 0);
      assert.ok(!line.includes(PSK), `the PSK is in the command line of ${pid}: ${line}`);
    }
    assert.match(await cmdline(service.child.pid), /-psk-file /);
    assert.match(await cmdline(etcdPid), /--client-cert-auth/);
  } finally {
    await stopAll([service]);
  }
});

Deno.test("without a PSK a non-loopback -etcd-ip needs -insecure-etcd", async () => {
  const res = await runServiceCommand([
    "-ephemeral",
    "-local",
    "-new-etcd-cluster",
    "-etcd-ip",
    "10.1.2.3",
  ]);
  assert.equal(res.code, 2);
  assert.match(res.stderr, /-etcd-ip 10\.1\.2\.3 is not a loopback address .* -insecure-etcd/);
});

Deno.test("an identity key file readable by group or others is flagged for a warning", async () => {
  const dir = await Deno.makeTempDir({ prefix: "registry-key-" });
  try {
    const keyFile = `${dir}/identity.key`;
    const created = await loadOrCreateIdentity({ keyFile, algorithm: "Ed25519" });
    assert.equal(created.source, "created");
    assert.equal(
      (await loadOrCreateIdentity({ keyFile, algorithm: "Ed25519" })).readableByOthers,
      false,
    );
    await Deno.chmod(keyFile, 0o644);
    assert.equal(
      (await loadOrCreateIdentity({ keyFile, algorithm: "Ed25519" })).readableByOthers,
      true,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
