/**
 * `/health` and `/readyz` tell the truth: a member that lost quorum answers
 * 503 naming it, and 200 again once the lost member is back. `/livez`
 * answers as long as the process serves.
 */
import assert from "node:assert/strict";
import { sameMember, type ServiceProcess, startService } from "../_registry.ts";
import { assertNoEtcd, join, memberList, PSK, stopAll, waitFor } from "./_cluster.ts";

async function health(service: ServiceProcess): Promise<{ status: number; body: string }> {
  const res = await fetch(`${service.httpUrl}/health`);
  return { status: res.status, body: await res.text() };
}

Deno.test("a member that loses quorum is unhealthy within 10 s, and healthy when it is back", async () => {
  const services: (ServiceProcess | undefined)[] = [];
  const dataDirs: string[] = [];
  try {
    const a = await startService({ psk: PSK });
    services.push(a);
    const b = await join(a.addr);
    services.push(b);
    dataDirs.push(a.dataDir, b.dataDir);
    assert.equal((await memberList(a)).length, 2);
    assert.equal((await health(a)).status, 200);
    const ready = await fetch(`${a.httpUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(await ready.text(), "ready\n");

    // Two members, one lost: no quorum.
    await b.stop("SIGKILL");
    await waitFor("a's /health to be 503", async () => (await health(a)).status === 503, 10_000);
    const report = JSON.parse((await health(a)).body);
    assert.equal(report.healthy, false);
    assert.match(report.reason, /quorum/);
    const notReady = await fetch(`${a.httpUrl}/readyz`);
    assert.equal(notReady.status, 503);
    assert.match(await notReady.text(), /^not ready: no quorum/);
    const live = await fetch(`${a.httpUrl}/livez`);
    assert.equal(live.status, 200);
    await live.body?.cancel();

    const b2 = await join(a.addr, {
      ...sameMember(b),
    });
    services[1] = b2;
    await waitFor("a's /health to be 200", async () => (await health(a)).status === 200, 20_000);
    assert.equal(JSON.parse((await health(a)).body).healthy, true);
    await a.waitForLog(/etcd is healthy again/);
  } finally {
    await stopAll(services, dataDirs);
  }
  await assertNoEtcd(dataDirs);
});
