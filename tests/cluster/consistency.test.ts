/**
 * Reads stay linearizable with the in-memory view in place: a read after an
 * acknowledged write, through any instance, sees it.
 */
import assert from "node:assert/strict";
import { connectRegistry, ServiceNotFoundError } from "../../mod.ts";
import { sampleInfo, type ServiceProcess, startService } from "../_registry.ts";
import { isDeepStrictEqual } from "node:util";
import { etcdPids, join, PSK, startCluster, stopAll, waitFor } from "./_cluster.ts";

Deno.test("read-your-writes and deletes across instances, with the view cache", async () => {
  const services: ServiceProcess[] = [];
  try {
    const a = await startService({ psk: PSK });
    services.push(a);
    await a.waitForLog(/only one: serving reads from memory/);
    await using onA = await connectRegistry({ bootstraps: [a.addr], psk: PSK });

    // Alone, the instance serves reads from memory; its own writes and deletes show at once.
    for (let i = 0; i < 20; i++) {
      await onA.client.add(`solo-${i}`, sampleInfo(i));
      assert.deepEqual(await onA.client.get(`solo-${i}`), sampleInfo(i));
      await onA.client.delete(`solo-${i}`);
      await assert.rejects(() => onA.client.get(`solo-${i}`), ServiceNotFoundError);
    }

    const b = await join(a.addr);
    services.push(b);
    // The MemberAdd took the first instance out of memory-only reads before b could write.
    await a.waitForLog(/an etcd member is joining: reads confirm etcd's revision first/);
    await using onB = await connectRegistry({ bootstraps: [b.addr], psk: PSK });

    for (let i = 0; i < 50; i++) {
      const [writer, reader] = i % 2 === 0 ? [onA, onB] : [onB, onA];
      const name = `svc-${i}`;
      await writer.client.add(name, sampleInfo(i));
      assert.deepEqual(await reader.client.get(name), sampleInfo(i), `${name} not read back`);
      assert.ok(name in await reader.client.list(), `${name} missing from list`);
      await writer.client.add(name, sampleInfo(i + 100));
      assert.deepEqual(await reader.client.get(name), sampleInfo(i + 100), `${name} stale`);
      await reader.client.delete(name);
      await assert.rejects(() => writer.client.get(name), ServiceNotFoundError);
      assert.ok(!(name in await writer.client.list()), `${name} still listed`);
    }
  } finally {
    await stopAll(services);
  }
});

Deno.test("an instance whose etcd member stalls answers an error, never a stale read", async () => {
  const services: ServiceProcess[] = [];
  let stalled: number | undefined;
  try {
    const [a, b] = await startCluster(services);
    await using onA = await connectRegistry({ bootstraps: [a.addr], psk: PSK });
    await using onB = await connectRegistry({
      bootstraps: [b.addr],
      psk: PSK,
      retry: { attempts: 1, initialDelayMs: 0, maxDelayMs: 0 },
    });
    await onA.client.add("moving", sampleInfo(1));
    assert.deepEqual(await onB.client.get("moving"), sampleInfo(1));

    // b's member stops applying: its watch, and so its view, stays behind.
    [stalled] = await etcdPids(b.dataDir);
    Deno.kill(stalled, "SIGSTOP");
    await onA.client.add("moving", sampleInfo(2));
    let answer: unknown;
    try {
      answer = await onB.client.get("moving");
    } catch (err) {
      answer = err;
    }
    assert.ok(
      answer instanceof Error || isDeepStrictEqual(answer, sampleInfo(2)),
      `stale read through b: ${JSON.stringify(answer)}`,
    );

    Deno.kill(stalled, "SIGCONT");
    stalled = undefined;
    await waitFor("b to catch up", async () => {
      try {
        return isDeepStrictEqual(await onB.client.get("moving"), sampleInfo(2));
      } catch {
        return false;
      }
    });
  } finally {
    if (stalled !== undefined) Deno.kill(stalled, "SIGCONT");
    await stopAll(services);
  }
});
