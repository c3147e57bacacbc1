import assert from "node:assert/strict";
import { cli } from "../_cli_io.ts";
import { validatePeerId } from "../../src/protocol/messages.ts";

Deno.test("whoami: the key is created once (0600, directory too) and the id is stable", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const env = { XDG_CONFIG_HOME: `${dir}/config` };
    const first = await cli(["whoami"], env);
    assert.equal(first.code, 0, first.stderr);
    const id = first.stdout.trim();
    assert.equal(validatePeerId(id), id);
    assert.match(id, /^12D3KooW/); // Ed25519
    assert.match(first.stderr, /created a new key in .*\/config\/physarum\/registry-cli\.key/);
    const path = `${dir}/config/physarum/registry-cli.key`;
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/config/physarum`)).mode! & 0o777, 0o700);

    const again = await cli(["whoami"], env);
    assert.equal(again.stdout, first.stdout);
    assert.equal(again.stderr, "");
    // HOME is the fallback, -keyfile overrides both.
    const viaHome = await cli(["whoami"], { HOME: dir, XDG_CONFIG_HOME: "relative/ignored" });
    assert.notEqual(viaHome.stdout, first.stdout);
    assert.ok((await Deno.stat(`${dir}/.config/physarum/registry-cli.key`)).isFile);
    const viaFlag = await cli(["-keyfile", path, "whoami"], { HOME: dir });
    assert.equal(viaFlag.stdout, first.stdout);
    const json = await cli(["-keyfile", path, "whoami", "-json"]);
    assert.deepEqual(JSON.parse(json.stdout), { peerId: id, keyFile: path });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("whoami: no place for a key or a corrupt key file fails (exit 1); an empty -keyfile is a usage error", async () => {
  const empty = await cli(["-keyfile", "", "whoami"], { HOME: "/nonexistent" });
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /-keyfile needs a file name/);
  const none = await cli(["whoami"], {});
  assert.equal(none.code, 1);
  assert.match(none.stderr, /give -keyfile <path>, or set HOME or XDG_CONFIG_HOME/);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad`, "garbage\n");
    const bad = await cli(["-keyfile", `${dir}/bad`, "whoami"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /key file .*\/bad/);
    assert.equal(await Deno.readTextFile(`${dir}/bad`), "garbage\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
