import assert from "node:assert/strict";
import { cli } from "../_cli_io.ts";
import { COMMANDS, usageHint, usageOf } from "../../src/cli/commands.ts";
import { VERSION } from "../../src/version.ts";

const deno = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));

for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"]) {
  Deno.test(`an inherited name ("${name}") is an unknown command: exit 2, nothing run`, async () => {
    // A bootstrap that would be dialled if the command ran: the test fails on a connection.
    for (const rest of [["svc"], ["--help"], []]) {
      const res = await cli(["-bootstrap", "/ip4/127.0.0.1/tcp/1/p2p/x", name, ...rest]);
      assert.equal(res.code, 2, res.stderr);
      assert.equal(res.stdout, "");
      assert.equal(
        res.stderr,
        `registry-cli: unknown command "${name}"\n${usageHint()}\n`,
      );
    }
    const help = await cli(["help", name]);
    assert.equal(help.code, 2);
    assert.match(help.stderr, new RegExp(`unknown command "${name}"`));
  });
}

Deno.test("help: -h, -help, --help and help list every command of the table", async () => {
  for (const args of [["-h"], ["-help"], ["--help"], ["help"]]) {
    const res = await cli(args);
    assert.equal(res.code, 0, args.join(" "));
    assert.equal(res.stdout, `${usageOf()}\n`);
  }
  for (const command of Object.values(COMMANDS)) {
    assert.match(usageOf(), new RegExp(`\\n  ${command.name}\\b.* ${command.summary}\\n`));
  }
  for (const flag of ["-bootstrap", "-psk", "-psk-file", "-timeout", "-json", "-version"]) {
    assert.match(usageOf(), new RegExp(`\\n  ${flag}[ \\n]`), flag);
  }
});

Deno.test("help of each command: `help <name>`, `<name> -h`, `<name> --help` agree", async () => {
  for (const name of Object.keys(COMMANDS)) {
    const expected = `${usageOf(name)}\n`;
    assert.match(expected, new RegExp(`^Usage: registry-cli \\[OPTIONS\\] ${name} \\[options\\]`));
    // Options are spelled one way everywhere: -json, never [--json].
    assert.ok(expected.includes("\n  -json\n"));
    assert.doesNotMatch(expected, /--json/);
    for (const args of [["help", name], [name, "-h"], [name, "--help"]]) {
      const res = await cli(args);
      assert.equal(res.code, 0, args.join(" "));
      assert.equal(res.stdout, expected, args.join(" "));
    }
  }
});

Deno.test("version, -version and --version print deno.json's version", async () => {
  assert.equal(VERSION, deno.version);
  for (const args of [["version"], ["-version"], ["--version"]]) {
    const res = await cli(args);
    assert.equal(res.code, 0);
    assert.equal(res.stdout, `registry-cli ${deno.version}\n`);
  }
  const json = await cli(["-json", "version"]);
  assert.deepEqual(JSON.parse(json.stdout), { version: deno.version });
});

Deno.test("usage errors exit 2, name what is wrong, and point to the help in one line", async () => {
  const addr = "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8";
  const cases: [string[], RegExp, Record<string, string>?][] = [
    [[], /no command given/],
    [["get"], /missing argument <service-name>/],
    [["list", "x"], /unexpected argument "x"/],
    [["get", "-bogus", "x"], /unknown flag: -bogus/],
    [["-bogus", "get", "x"], /unknown flag: -bogus/],
    [["-bootstrap", addr, "get", ""], /<service-name> is empty/],
    [["-bootstrap", addr, "delete", " "], /<service-name> is empty/],
    [["get", "x"], /no bootstrap given/],
    [["-bootstrap", "/ip4/1.2.3.4/tcp/1", "get", "x"], /-bootstrap: invalid bootstrap/],
    [["-bootstrap", "garbage", "list"], /-bootstrap: invalid bootstrap "garbage"/],
    [["list"], /P2P_BOOTSTRAPS: invalid bootstrap "\/ip4\/x"/, { P2P_BOOTSTRAPS: "/ip4/x" }],
    [["-timeout", "10", "-bootstrap", addr, "list"], /invalid -timeout: "10" is not a duration/],
    [["-timeout", "0s", "-bootstrap", addr, "list"], /invalid -timeout: "0s" is not positive/],
    [["-bootstrap", addr, "list"], /invalid P2P_TIMEOUT: "soon"/, { P2P_TIMEOUT: "soon" }],
    [["-psk", "a", "-psk-file", "f", "-bootstrap", addr, "list"], /-psk and -psk-file/],
    [["add", "c.json", "", "svc"], /<image-name> is empty/],
  ];
  for (const [args, message, env] of cases) {
    const res = await cli(args, env);
    assert.equal(res.code, 2, `${args.join(" ")}: ${res.stderr}`);
    assert.equal(res.stdout, "");
    assert.match(res.stderr, message, args.join(" "));
    // The error stays on screen: one line pointing to the help, not the whole usage.
    const lines = res.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 2, res.stderr);
    assert.match(lines[1], /^Usage: registry-cli .* \(see "registry-cli help( [a-z]+)?"\)$/);
  }
  const missing = await cli(["get"]);
  assert.equal(
    missing.stderr,
    "registry-cli: missing argument <service-name>\n" +
      'Usage: registry-cli [OPTIONS] get [options] <service-name> (see "registry-cli help get")\n',
  );
});

Deno.test("-psk-file: an unreadable file is a failed command (exit 1) naming the file", async () => {
  const addr = "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8";
  const res = await cli(["-psk-file", "/nonexistent/psk", "-bootstrap", addr, "list"]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /cannot read the PSK file \/nonexistent\/psk/);
});

Deno.test("the README shows the help the CLI prints", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  assert.ok(readme.includes(`$ registry-cli --help\n${usageOf()}\n\`\`\``), "README help is stale");
});

Deno.test("add through cliMain: bootstrap mistakes stop it before any build; -no-add needs none", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = `${dir}/svc.json`;
    await Deno.writeTextFile(
      config,
      JSON.stringify({
        NetworkSoftReq: { RTT: 100 },
        NetworkHardReq: { RTT: 100 },
        CpuReq: 20,
        MemoryReq: 1000,
        DockerConf: { From: "busybox", Copy: [], Run: [], Cmd: "true" },
      }),
    );
    // No Docker engine here: reaching it would fail with exit 1, not 2.
    const env = { PATH: Deno.env.get("PATH") ?? "", DOCKER_HOST: `unix://${dir}/none.sock` };
    const badBootstrap = await cli(["-bootstrap", "garbage", "add", config, "img:1", "svc"], env);
    assert.equal(badBootstrap.code, 2, badBootstrap.stderr);
    assert.match(badBootstrap.stderr, /^registry-cli: -bootstrap: invalid bootstrap "garbage"/);
    const noBootstrap = await cli(["add", config, "img:1", "svc"], env);
    assert.equal(noBootstrap.code, 2, noBootstrap.stderr);
    assert.match(noBootstrap.stderr, /no bootstrap given/);
    // -no-add never looks for the registry: it gets as far as Docker.
    const noAdd = await cli(["add", "-no-add", "-dir", dir, config, "img:1", "svc"], env);
    assert.equal(noAdd.code, 1, noAdd.stderr);
    assert.match(noAdd.stderr, /Docker engine|docker" was not found/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("add: a config not found says where it looked, and what -dir is for", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // A relative name that is under -dir but not in the current directory.
    const name = `${dir.split("/").at(-1)}.json`;
    await Deno.writeTextFile(`${dir}/${name}`, "{}");
    const res = await cli(["add", "-no-add", "-dir", dir, name, "img:1", "svc"]);
    assert.equal(res.code, 1, res.stderr);
    assert.ok(res.stderr.startsWith(`registry-cli: add svc failed: cannot read config ${name}: `));
    assert.ok(
      res.stderr.trimEnd().endsWith(
        `(looked for ${Deno.cwd()}/${name}: <config> is relative to the current directory; ` +
          `-dir ${dir} is where the config's Copy sources are; did you mean ${dir}/${name}?)`,
      ),
      res.stderr,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
