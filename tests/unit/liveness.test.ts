/**
 * The liveness watchdog kills a process whose event loop stopped turning,
 * and leaves alone one whose loop turns.
 */
import assert from "node:assert/strict";

const MODULE = new URL("../../src/service/liveness.ts", import.meta.url).href;

async function run(body: string): Promise<Deno.CommandOutput> {
  const code = `import { startLivenessWatchdog } from ${JSON.stringify(MODULE)};\n${body}`;
  return await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
}

Deno.test("a process whose event loop hangs is killed, with one line saying why", async () => {
  const out = await run(`
    startLivenessWatchdog(1_000);
    await new Promise((r) => setTimeout(r, 200));
    console.log("hanging");
    while (true) { /* the loop never turns again */ }
  `);
  assert.equal(out.signal, "SIGKILL");
  assert.equal(new TextDecoder().decode(out.stdout), "hanging\n");
  assert.match(
    new TextDecoder().decode(out.stderr),
    /ERROR the event loop has not turned for \d+ s \(-hang-timeout 1\): killing this process \(pid \d+\)/,
  );
});

Deno.test("a process whose event loop turns is left alone, and exits once stopped", async () => {
  const out = await run(`
    const watchdog = startLivenessWatchdog(1_000);
    for (let i = 0; i < 30; i++) await new Promise((r) => setTimeout(r, 100));
    watchdog.stop();
    console.log("done");
  `);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(new TextDecoder().decode(out.stdout), "done\n");
});
