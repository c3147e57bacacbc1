/**
 * etcd keeps every past version of every key until it is compacted: the
 * service compacts its history, so no writer can fill etcd's storage quota.
 */
import assert from "node:assert/strict";
import { sampleInfo, startService } from "../_registry.ts";
import { etcdctl, waitFor } from "../cluster/_cluster.ts";
import { addService } from "../../mod.ts";

const PSK = "compaction-test";

Deno.test("the service compacts etcd's history to -compaction-retention revisions", async () => {
  const service = await startService({
    psk: PSK,
    args: ["-compaction-retention", "5", "-compaction-interval", "0.3"],
  });
  try {
    const target = { bootstraps: [service.addr], psk: PSK };
    for (let i = 0; i < 20; i++) await addService("svc", sampleInfo(i), target);
    await waitFor("revision 2 compacted away", async () => {
      const res = await etcdctl(service, ["get", "physarum/registry/services/svc", "--rev=2"]);
      return res.code !== 0 && /compacted/.test(res.stderr);
    }, 10_000);
    // The current value is untouched, and so is the name's history (its own keys).
    const now = await etcdctl(service, [
      "get",
      "physarum/registry/services/svc",
      "--print-value-only",
    ]);
    assert.deepEqual(JSON.parse(now.stdout), sampleInfo(19));
  } finally {
    await service.stop();
  }
});
