import assert from "node:assert/strict";
import { startService, tempDataDir } from "../_registry.ts";

async function processesUsing(text: string): Promise<number[]> {
  const out = await new Deno.Command("pgrep", { args: ["-f", text], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean).map(Number);
}

Deno.test("startService kills a service that does not start in time, then fails (no hang)", async () => {
  const dataDir = await tempDataDir("registry-slow-start-");
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const outcome = await Promise.race([
      startService({ dataDir, startTimeoutMs: 1 }).then(
        async (service) => {
          await service.stop();
          return "started";
        },
        (err: Error) => err.message,
      ),
      new Promise<string>((resolve) => timer = setTimeout(() => resolve("hung"), 30_000)),
    ]);
    assert.match(outcome, /^registry-service did not start \(within 1 ms; killed\)/);
    assert.deepEqual(await processesUsing(dataDir), [], "the service (or its etcd) still runs");
  } finally {
    clearTimeout(timer);
  }
});
