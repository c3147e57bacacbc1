import assert from "node:assert/strict";
import { parseServiceArgs } from "../../src/service/options.ts";
import { serviceMain } from "../../src/service/main.ts";
import { UsageError } from "../../src/cli/errors.ts";

const deno = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));

/** Runs serviceMain in process (only for runs that end by themselves) and records its output. */
async function service(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await serviceMain(args, {
    env: {},
    stdout: (line) => out.push(line),
    stderr: (line) => err.push(line),
    onShutdownSignal: () => {},
  });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

Deno.test("registry-service -h, -help, --help print the usage; -version, --version the version", async () => {
  for (const flag of ["-h", "-help", "--help"]) {
    const res = await service([flag]);
    assert.equal(res.code, 0);
    assert.match(res.stdout, /^Usage: registry-service \[options\]/);
    assert.match(res.stdout, /\n {2}-log-level <level>\n/);
    assert.match(res.stdout, /\n {2}-log-format <format>\n/);
  }
  for (const flag of ["-version", "--version"]) {
    const res = await service([flag]);
    assert.equal(res.code, 0);
    assert.equal(res.stdout, `registry-service ${deno.version}`);
  }
});

Deno.test("registry-service: every bad flag value is a usage error (exit 2) naming the flag", async () => {
  const cases: [string[], RegExp][] = [
    [["-listen", "garbage"], /-listen: "garbage" is not a listen multiaddr/],
    [["-listen", "/ip4/127.0.0.1/udp/1"], /-listen: .*\(no \/tcp\/<port> part\)/],
    [["-prom-listen-addr", "nonsense"], /-prom-listen-addr: invalid listen address "nonsense"/],
    [["-prom-listen-addr", "127.0.0.1:70000"], /-prom-listen-addr: /],
    [["-log-level", "loud"], /-log-level must be one of debug, info, warn, error, got "loud"/],
    [["-log-format", "xml"], /-log-format must be one of text, json, got "xml"/],
    [["-etcd-client-port", "99999"], /-etcd-client-port must be a port number/],
    [["-bootstrap", "garbage"], /-bootstrap: invalid bootstrap "garbage": not a multiaddr/],
    [["-bootstrap", "/ip4/127.0.0.1/tcp/1"], /-bootstrap: invalid bootstrap .* no \/p2p\//],
    [["-constructor"], /unknown flag: -constructor/],
    [["-__proto__"], /unknown flag: -__proto__/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseServiceArgs(args, {}), UsageError, args.join(" "));
    const res = await service(args);
    assert.equal(res.code, 2, args.join(" "));
    assert.match(res.stderr, message, args.join(" "));
    assert.match(res.stderr, /Usage: registry-service/);
  }
});

Deno.test("registry-service -log-level and -log-format: defaults, and the log follows them", async () => {
  const parsed = parseServiceArgs([], {});
  assert.ok(!parsed.help);
  assert.deepEqual(parsed.log, { level: "info", format: "text" });
  const dir = await Deno.makeTempDir();
  try {
    // A one-off task that fails at once (no member in the data directory) logs one error line.
    const args = ["-leave-cluster", "-etcd-data-dir", `${dir}/none`];
    const json = await service([...args, "-log-format", "json"]);
    assert.equal(json.code, 1);
    const lines = json.stderr.split("\n").map((line) => JSON.parse(line));
    const last = lines.at(-1);
    assert.equal(last.level, "error");
    assert.match(last.msg, /-leave-cluster failed/);
    assert.ok(!Number.isNaN(Date.parse(last.time)));
    const text = await service([...args, "-log-level", "error"]);
    assert.match(text.stderr, /^\S+ ERROR registry-service -leave-cluster failed/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("-max-voters, -dead-member-after, -hang-timeout, -voter-eligible: defaults, values and bounds", () => {
  const base = ["-local", "-new-etcd-cluster"];
  const plain = parseServiceArgs(base, {});
  assert.ok(!plain.help);
  assert.equal(plain.config.maxVoters, undefined);
  assert.equal(plain.config.deadMemberAfterMs, undefined);
  assert.equal(plain.config.hangTimeoutMs, undefined);
  assert.equal(plain.config.voterEligible, true);
  const set = parseServiceArgs(
    [
      ...base,
      ...["-max-voters", "3", "-dead-member-after", "2.5", "-hang-timeout", "12"],
      "-voter-eligible=false",
    ],
    {},
  );
  assert.ok(!set.help);
  assert.equal(set.config.maxVoters, 3);
  assert.equal(set.config.deadMemberAfterMs, 2_500);
  assert.equal(set.config.hangTimeoutMs, 12_000);
  assert.equal(set.config.voterEligible, false);
  for (
    const [args, message] of [
      [["-max-voters", "0"], /-max-voters must be a positive integer/],
      [["-max-voters", "8"], /-max-voters must be 1 to 7/],
      [["-dead-member-after", "0"], /-dead-member-after must be a positive number/],
      [["-hang-timeout", "soon"], /-hang-timeout must be a positive number/],
      [["-voter-eligible=maybe"], /-voter-eligible must be true or false/],
    ] as const
  ) {
    assert.throws(() => parseServiceArgs([...base, ...args], {}), message);
  }
});
