import assert from "node:assert/strict";
import { repoPath } from "../_registry.ts";

Deno.test("etcd data directories made for tests are gone once the process exits", async () => {
  const script = `import { tempDataDir } from ${JSON.stringify(repoPath("tests/_registry.ts"))};
    const dir = await tempDataDir();
    await Deno.writeTextFile(dir + "/wal", "x");
    console.log(dir);`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const dir = new TextDecoder().decode(out.stdout).trim();
  assert.match(dir, /registry-etcd-/);
  await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
});
