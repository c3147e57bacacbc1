/**
 * The network's CA from the PSK, member certificates, and the small
 * classifiers the join and etcd's log rely on (no etcd needed).
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import {
  ensureEtcdTls,
  ETCD_TLS_SERVER_NAME,
  issueMemberCertificate,
  networkCa,
} from "../../src/store/tls.ts";
import { etcdLineLevel } from "../../src/store/etcd_process.ts";
import {
  isLearnerNotReady,
  isNotEnoughStartedMembers,
  isTooManyLearners,
} from "../../src/store/etcd_cluster.ts";

Deno.test("every holder of the PSK derives the same CA; another PSK another", async () => {
  const [a, b, other] = await Promise.all([
    networkCa("passphrase"),
    networkCa("passphrase"),
    networkCa("passphrase!"),
  ]);
  const key = (ca: typeof a) => new X509Certificate(ca.pem).publicKey.export({ format: "jwk" });
  assert.deepEqual(key(a), key(b));
  assert.notDeepEqual(key(a), key(other));
  assert.ok(new X509Certificate(a.pem).ca);
  await assert.rejects(networkCa(""), RangeError);

  // A certificate one instance issues is trusted by every other (same CA), not by another CA.
  const member = await issueMemberCertificate(a, { name: "m", ips: ["10.0.0.7"] });
  const cert = new X509Certificate(member.cert);
  assert.ok(cert.verify(new X509Certificate(b.pem).publicKey));
  assert.ok(!cert.verify(new X509Certificate(other.pem).publicKey));
  assert.match(cert.subjectAltName!, /IP Address:10\.0\.0\.7/);
  assert.match(cert.subjectAltName!, new RegExp(`DNS:${ETCD_TLS_SERVER_NAME}`));
  assert.ok(!cert.ca);
  assert.equal(cert.checkIssued(new X509Certificate(b.pem)), true);
});

Deno.test("member TLS files: 0600, kept while they fit, issued again when the PSK or IP changes", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "registry-tls-" });
  try {
    const first = await ensureEtcdTls("psk", { dataDir, name: "m", ip: "127.0.0.1" });
    assert.equal((await Deno.stat(`${dataDir}/tls`)).mode! & 0o777, 0o700);
    for (const file of [first.caFile, first.certFile, first.keyFile]) {
      assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600, file);
    }
    const kept = await ensureEtcdTls("psk", { dataDir, name: "m", ip: "127.0.0.1" });
    assert.equal(kept.cert, first.cert);
    assert.equal(kept.key, first.key);

    const movedIp = await ensureEtcdTls("psk", { dataDir, name: "m", ip: "127.0.0.2" });
    assert.notEqual(movedIp.cert, first.cert);
    assert.match(new X509Certificate(movedIp.cert).subjectAltName!, /IP Address:127\.0\.0\.2/);

    const newPsk = await ensureEtcdTls("another psk", { dataDir, name: "m", ip: "127.0.0.2" });
    const ca = await networkCa("another psk");
    assert.ok(new X509Certificate(newPsk.cert).verify(new X509Certificate(ca.pem).publicKey));
    assert.equal(await Deno.readTextFile(newPsk.certFile), newPsk.cert);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("etcd's output lines keep their level", () => {
  const capnslog = (letter: string) => `2026-11-29 19:54:28.798266 ${letter} | etcdserver: x`;
  assert.equal(etcdLineLevel(capnslog("C")), "error");
  assert.equal(etcdLineLevel(capnslog("E")), "error");
  assert.equal(etcdLineLevel(capnslog("W")), "warn");
  assert.equal(etcdLineLevel(capnslog("N")), "debug");
  assert.equal(etcdLineLevel(capnslog("I")), "debug");
  assert.equal(
    etcdLineLevel("raft2026/11/29 20:07:07 INFO: a628 became candidate at term 21"),
    "debug",
  );
  assert.equal(etcdLineLevel("raft2026/11/29 20:07:07 WARN: a628 stepped down"), "warn");
  assert.equal(etcdLineLevel("raft2026/11/29 20:07:07 ERROR: a628 failed"), "error");
  assert.equal(etcdLineLevel('{"level":"error","ts":"…","msg":"x"}'), "error");
  assert.equal(etcdLineLevel('{"level":"warn","ts":"…","msg":"x"}'), "warn");
  assert.equal(etcdLineLevel('{"level":"info","ts":"…","msg":"x"}'), "debug");
});

Deno.test("etcd's refusals during a join are told apart", () => {
  const tooMany = new Error("etcdserver: too many learner members in cluster");
  const notInSync = new Error(
    "etcdserver: can only promote a learner member which is in sync with leader",
  );
  assert.ok(isTooManyLearners(tooMany));
  assert.ok(!isTooManyLearners(notInSync));
  assert.ok(isLearnerNotReady(notInSync));
  assert.ok(!isLearnerNotReady(new Error("etcdserver: can only promote a learner member")));
  assert.ok(!isLearnerNotReady(new Error("etcdserver: member not found")));
  assert.ok(!isNotEnoughStartedMembers(tooMany));
});
