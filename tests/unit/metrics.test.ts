import assert from "node:assert/strict";
import { register as globalRegistry } from "prom-client";
import { createRegistryMetrics } from "../../src/service/metrics.ts";

const deno = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));

Deno.test("metrics: process_* and registry_build_info in the service's own registry", async () => {
  const first = createRegistryMetrics();
  // A second set (a second service in one process) must not clash with the first.
  const second = createRegistryMetrics();
  for (const metrics of [first, second]) {
    const text = await metrics.registry.metrics();
    for (
      const name of [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
      ]
    ) {
      assert.match(text, new RegExp(`^${name} [0-9.e+]+$`, "m"), name);
    }
    assert.match(text, new RegExp(`^registry_build_info\\{version="${deno.version}"\\} 1$`, "m"));
    assert.match(text, /^# HELP registry_build_info /m);
  }
  assert.deepEqual(globalRegistry.getMetricsAsArray(), [], "the global registry stays empty");
});
