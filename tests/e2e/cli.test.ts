import assert from "node:assert/strict";
import { addService } from "../../mod.ts";
import { repoPath, runCli, runCommand, sampleInfo, startService } from "../_registry.ts";
import { cli } from "../_cli_io.ts";
import { VERSION } from "../../src/version.ts";

const PSK = "cli-test-passphrase";

Deno.test("registry-cli get/list/delete (in process) against a real registry-service", async (t) => {
  const service = await startService({ psk: PSK });
  try {
    const target = { bootstraps: [service.addr], psk: PSK };
    const info = sampleInfo(1);
    const infoJson = JSON.stringify(info);

    await t.step("add through the library answers Added {...}", async () => {
      const answer = await addService("svc-a", info, target);
      assert.equal(answer, `Added {svc-a: ${infoJson}}`);
    });

    await t.step("get prints Response: and the ServiceInfo JSON", async () => {
      const res = await cli(["-bootstrap", service.addr, "-psk", PSK, "get", "svc-a"]);
      assert.equal(res.code, 0, res.stderr);
      assert.equal(res.stdout, `Response:\n${infoJson}\n`);
    });

    await t.step("flags and env fallbacks: --flag=value and P2P_BOOTSTRAPS/P2P_PSK", async () => {
      const res = await cli(["--json", "get", "svc-a"], {
        P2P_BOOTSTRAPS: ` ${service.addr}\n`,
        P2P_PSK: PSK,
      });
      assert.equal(res.code, 0, res.stderr);
      assert.deepEqual(JSON.parse(res.stdout), info);
    });

    await t.step("list prints one line per service", async () => {
      await addService("svc-b", sampleInfo(2), target);
      const res = await cli([`--bootstrap=${service.addr}`, `-psk=${PSK}`, "list"]);
      assert.equal(res.code, 0, res.stderr);
      assert.equal(
        res.stdout,
        "Response:\n" +
          `Service Name: svc-a, Info: ${infoJson}\n` +
          `Service Name: svc-b, Info: ${JSON.stringify(sampleInfo(2))}\n`,
      );
      const json = await cli(["-bootstrap", service.addr, "-psk", PSK, "list", "--json"]);
      assert.deepEqual(JSON.parse(json.stdout), {
        services: { "svc-a": info, "svc-b": sampleInfo(2) },
        invalid: {},
      });
    });

    await t.step("delete prints the service's answer; a second delete fails", async () => {
      const res = await cli(["-bootstrap", service.addr, "-psk", PSK, "delete", "svc-a"]);
      assert.equal(res.code, 0, res.stderr);
      assert.equal(res.stdout, "Response:\nDeleted 1 entry from hash lookup\n");
      const again = await cli(["-bootstrap", service.addr, "-psk", PSK, "delete", "svc-a"]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /service "svc-a" not found/);
    });

    await t.step("get of a missing name exits 1 with a clear message", async () => {
      const res = await cli(["-bootstrap", service.addr, "-psk", PSK, "get", "svc-a"]);
      assert.equal(res.code, 1);
      assert.equal(res.stdout, "");
      assert.match(res.stderr, /service "svc-a" not found in the registry/);
    });

    await t.step("list of an empty registry: Response: alone, and says so on stderr", async () => {
      await cli(["-bootstrap", service.addr, "-psk", PSK, "delete", "svc-b"]);
      const res = await cli(["-bootstrap", service.addr, "-psk", PSK, "list"]);
      assert.equal(res.code, 0, res.stderr);
      assert.equal(res.stdout, "Response:\n");
      assert.match(res.stderr, /^registry-cli: no services registered\n$/m);
    });

    await t.step(
      "each request is logged by the service, each write with its audit line",
      async () => {
        await service.waitForLog(/\/get\/0\.1 from \w+: ok in /);
        await service.waitForLog(
          /audit peer=\w+ protocol=\/delete\/0\.1 name="svc-a" outcome=accepted revision=\d+/,
        );
      },
    );
  } finally {
    await service.stop();
  }
});

Deno.test("the bundled registry-cli (deno task bundle) runs on its own, outside the repository", async () => {
  const dir = await Deno.makeTempDir({ prefix: "registry-bundle-" });
  const service = await startService({ psk: "bundle-test" });
  try {
    const bundle = `${dir}/registry-cli.js`;
    const built = await runCommand(Deno.execPath(), [
      "bundle",
      "--platform",
      "deno",
      "--minify",
      "-o",
      bundle,
      repoPath("cli.ts"),
    ]);
    assert.equal(built.code, 0, built.stderr);
    await addService("bundled", sampleInfo(5), { bootstraps: [service.addr], psk: "bundle-test" });
    // Run from the bundle's own directory: no deno.json, no node_modules.
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        bundle,
        "-bootstrap",
        service.addr,
        "-psk",
        "bundle-test",
        "-json",
        "get",
        "bundled",
      ],
      cwd: dir,
      env: { NO_COLOR: "1", XDG_CONFIG_HOME: dir },
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), sampleInfo(5));
    // The version is deno.json's, inlined: the bundle has no deno.json to read.
    const version = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", bundle, "version"],
      cwd: dir,
      stdin: "null",
    }).output();
    assert.equal(new TextDecoder().decode(version.stdout), `registry-cli ${VERSION}\n`);
  } finally {
    await service.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("libp2p's own debug log appears on stderr with DEBUG=libp2p:*, and only then", async () => {
  const service = await startService({ psk: "debug-test" });
  try {
    const args = ["-bootstrap", service.addr, "-psk", "debug-test", "members"];
    // A subprocess: libp2p's debug logger writes to the process's stderr, not to the io.
    const quiet = await runCli(args);
    const debug = await runCli(args, { DEBUG: "libp2p:tcp*" });
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(debug.code, 0, debug.stderr);
    assert.equal(quiet.stderr, "");
    assert.match(debug.stderr, /libp2p:tcp dialing \/ip4\/127\.0\.0\.1/);
    assert.equal(debug.stdout, quiet.stdout);
  } finally {
    await service.stop();
  }
});

Deno.test("registry-cli installs as a command with deno install -g --config (README)", async () => {
  const root = await Deno.makeTempDir({ prefix: "registry-install-" });
  const elsewhere = await Deno.makeTempDir({ prefix: "registry-cwd-" });
  try {
    const installed = await new Deno.Command(Deno.execPath(), {
      args: [
        "install",
        "-g",
        "-A",
        "-n",
        "registry-cli",
        "--root",
        root,
        "--config",
        repoPath("deno.json"),
        repoPath("cli.ts"),
      ],
      stdin: "null",
    }).output();
    assert.equal(installed.code, 0, new TextDecoder().decode(installed.stderr));
    // Run from a directory with no deno.json, as a user would from anywhere.
    const run = async (...args: string[]) => {
      const out = await new Deno.Command(`${root}/bin/registry-cli`, {
        args,
        cwd: elsewhere,
        env: { NO_COLOR: "1" },
        stdin: "null",
      }).output();
      return {
        code: out.code,
        stdout: new TextDecoder().decode(out.stdout),
        stderr: new TextDecoder().decode(out.stderr),
      };
    };
    const version = await run("version");
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout, `registry-cli ${VERSION}\n`);
    // A network command loads libp2p through the import map: it fails on the dead address only.
    const list = await run(
      "-timeout",
      "1s",
      "-bootstrap",
      "/ip4/127.0.0.1/tcp/9/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8",
      "list",
    );
    assert.equal(list.code, 1, list.stderr);
    assert.match(list.stderr, /connection refused by 127\.0\.0\.1:9 /);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(elsewhere, { recursive: true });
  }
});
