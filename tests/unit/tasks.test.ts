import assert from "node:assert/strict";
import { repoPath, SERVICE_V8_FLAGS } from "../_registry.ts";

Deno.test("deno task start and compile run the service with the V8 flags tests and bench use", async () => {
  const config = JSON.parse(await Deno.readTextFile(repoPath("deno.json")));
  const tasks: Record<string, { description: string; command: string }> = config.tasks;
  assert.match(tasks.start.command, new RegExp(`deno run -A ${SERVICE_V8_FLAGS} service\\.ts `));
  const compile = tasks.compile.command;
  const compileService = compile.split("&&").find((c) => c.includes("service.ts"));
  assert.ok(compileService?.includes(SERVICE_V8_FLAGS), compile);
});

Deno.test("every task says what it does", async () => {
  const config = JSON.parse(await Deno.readTextFile(repoPath("deno.json")));
  for (const [name, task] of Object.entries(config.tasks)) {
    const { description, command } = task as { description?: string; command?: string };
    assert.ok(description && description.length > 10, `task ${name} has no description`);
    assert.ok(command, `task ${name} has no command`);
  }
});
