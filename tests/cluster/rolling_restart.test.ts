/**
 * A rolling restart of the voting core (each voter's service stopped with
 * SIGTERM, so its etcd stops gracefully and says GOAWAY on every connection,
 * then started again on its data directory): the client instances, whose
 * store talks to those voters, keep running and serving, and no write is lost.
 */
import assert from "node:assert/strict";
import { connectRegistry } from "../../src/client/registry_client.ts";
import { sameMember, sampleInfo, type ServiceProcess } from "../_registry.ts";
import { CORE_ARGS, health, join, PSK, startCoreByRole, stopAll, waitFor } from "./_cluster.ts";

Deno.test("a rolling restart of the voters: client instances keep serving, nothing lost", async () => {
  const services: (ServiceProcess | undefined)[] = [];
  try {
    const { voters, clients } = await startCoreByRole(services, 5);
    assert.equal(clients.length, 2);

    await using conn = await connectRegistry({ bootstraps: [clients[0].addr], psk: PSK });
    const written: string[] = [];
    const failures: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        try {
          await conn.client.add(`r-${i}`, sampleInfo(i));
          written.push(`r-${i}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      for (const voter of voters) {
        assert.equal(await voter.stop(), 0);
        const again = await join(clients[1].addr, {
          ...sameMember(voter),
          args: CORE_ARGS,
        });
        services[services.indexOf(voter)] = again;
        await waitFor("3 healthy voters", async () => {
          const live = services.filter((s): s is ServiceProcess => s !== undefined);
          const reports = await Promise.all(live.map(health));
          return reports.filter((r) => r.role === "voter" && r.healthy).length === 3;
        }, 60_000);
      }
    } finally {
      writing = false;
      await writer;
    }
    // The client instances never stopped, and are healthy (once they see the last voter back).
    for (const c of clients) {
      assert.equal(await Promise.race([c.child.status.then(() => "exited"), "running"]), "running");
      await waitFor("a healthy client instance", async () => (await health(c)).healthy, 20_000);
    }
    assert.ok(written.length > 10, `only ${written.length} writes succeeded`);
    assert.ok(failures.length <= 10, failures.join("\n"));
    const listed = await conn.client.list();
    for (const name of written) assert.ok(listed[name], `${name} is still there`);
  } finally {
    await stopAll(services);
  }
});
