/**
 * A watch survives the loss of its instance: in a 3-member cluster, the
 * watcher's instance is stopped while adds continue through another; the
 * client resumes through a surviving instance and ends up with every change
 * exactly once, in order.
 */
import assert from "node:assert/strict";
import { connectRegistry } from "../../src/client/registry_client.ts";
import type { ServiceChange } from "../../src/client/watch.ts";
import { sampleInfo, type ServiceProcess } from "../_registry.ts";
import { afterSynced, collect } from "../_watch.ts";
import { PSK, startCluster, stopAll } from "./_cluster.ts";

Deno.test("watch: resumes through another instance when its instance stops, each change once", async () => {
  const services: (ServiceProcess | undefined)[] = [];
  try {
    const [a, b, c] = await startCluster(services);
    // The watcher knows every instance; it starts on the first (its first bootstrap).
    await using watcher = await connectRegistry({
      bootstraps: [a.addr, b.addr, c.addr],
      psk: PSK,
    });
    await using writer = await connectRegistry({ bootstraps: [c.addr], psk: PSK });
    const watch = collect((signal) => watcher.client.watch({ signal }));
    try {
      await watch.until("synced", (all) => all.some((x) => x.type === "synced"));
      const total = 40;
      const adding = (async () => {
        for (let i = 0; i < total; i++) {
          await writer.client.add(`svc-${String(i).padStart(2, "0")}`, sampleInfo(i));
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      await watch.until("some changes", (all) => afterSynced(all).length >= 10);
      const stoppedCode = await a.stop();
      assert.equal(stoppedCode, 0);
      await adding;

      await watch.until(
        "every change",
        (all) => afterSynced(all).filter((x) => x.type === "put").length >= total,
        60_000,
      );
      const puts = afterSynced(watch.changes).filter((x): x is Extract<
        ServiceChange,
        { type: "put" }
      > => x.type === "put");
      // Exactly once and in order: the names in the order added, revisions increasing.
      assert.deepEqual(
        puts.map((p) => p.name),
        Array.from({ length: total }, (_, i) => `svc-${String(i).padStart(2, "0")}`),
      );
      for (let i = 1; i < puts.length; i++) assert.ok(puts[i].revision > puts[i - 1].revision);
      assert.deepEqual(puts.at(-1)!.info, sampleInfo(total - 1));
      // It did resume: a second synced came from the instance that took over.
      assert.ok(watch.changes.filter((x) => x.type === "synced").length >= 2);
      assert.ok(!watch.changes.some((x) => x.type === "reset"));
    } finally {
      await watch.stop();
    }
  } finally {
    await stopAll(services);
  }
});

Deno.test("watch: with one bootstrap, resumes through an instance that bootstrap listed", async () => {
  const services: (ServiceProcess | undefined)[] = [];
  try {
    const [a, , c] = await startCluster(services);
    // The watcher knows only A: it learns B and C from A's /members answer when it opens.
    await using watcher = await connectRegistry({ bootstraps: [a.addr], psk: PSK });
    await using writer = await connectRegistry({ bootstraps: [c.addr], psk: PSK });
    const watch = collect((signal) => watcher.client.watch({ signal }));
    try {
      await watch.until("synced", (all) => all.some((x) => x.type === "synced"));
      await writer.client.add("before", sampleInfo(1));
      await watch.until("the first put", (all) => afterSynced(all).length >= 1);
      assert.equal(await a.stop(), 0);
      await writer.client.add("after", sampleInfo(2));
      await watch.until(
        "the put after A stopped",
        (all) => afterSynced(all).some((x) => x.type === "put" && x.name === "after"),
        60_000,
      );
      assert.ok(watch.changes.filter((x) => x.type === "synced").length >= 2);
    } finally {
      await watch.stop();
    }
  } finally {
    await stopAll(services);
  }
});
