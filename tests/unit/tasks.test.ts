import assert from "node:assert/strict";
import { repoPath, SERVICE_V8_FLAGS } from "../_registry.ts";

Deno.test("deno task start and compile run the service with the V8 flags tests and bench use", async () => {
  const config = JSON.parse(await Deno.readTextFile(repoPath("deno.json")));
  const tasks: Record<string, string> = config.tasks;
  assert.match(tasks.start, new RegExp(`deno run -A ${SERVICE_V8_FLAGS} service\\.ts `));
  const compileService = tasks.compile.split("&&").find((c) => c.includes("service.ts"));
  assert.ok(compileService?.includes(SERVICE_V8_FLAGS), tasks.compile);
});
