import assert from "node:assert/strict";
import { parseServiceArgs } from "../../src/service/options.ts";
import { UsageError } from "../../src/cli/errors.ts";
import { parseAdmins, readAdminsFile, WritePolicy } from "../../src/service/policy.ts";

const A = "12D3KooWSAfKFruCemBoFUZ1D8MqLY9ikMPcQ9RuAwHCKcJg5Tij";
const B = "12D3KooWJbtXzDZKLruaNjroQ5cAJQL6QDofLLkERixdhTmNzYu7";
const BASE = ["-local", "-new-etcd-cluster", "-ephemeral"];

function config(args: string[]) {
  const cmd = parseServiceArgs([...BASE, ...args], {});
  assert.ok(!cmd.help);
  return cmd.config;
}

Deno.test("service flags: write policy, admins, history, per-peer share", () => {
  assert.deepEqual(config([]).writePolicy, { mode: "open", admins: [] });
  assert.equal(config([]).historyLimit, undefined);
  const c = config([
    "-write-policy",
    "owner",
    "-admin",
    A,
    "-admin",
    B,
    "-admins-file",
    "/etc/admins",
    "-history",
    "5",
    "-max-in-flight-per-peer",
    "64",
    "-max-host-share",
    "25",
  ]);
  assert.deepEqual(c.writePolicy, { mode: "owner", admins: [A, B], adminsFile: "/etc/admins" });
  assert.equal(c.historyLimit, 5);
  assert.equal(c.maxInFlightPerPeer, 64);
  assert.equal(c.hostSharePercent, 25);
});

Deno.test("service flags: bad policy values are usage errors naming the flag", () => {
  for (
    const [args, message] of [
      [["-write-policy", "closed"], /-write-policy must be open or owner/],
      [["-admin", "alice"], /-admin: not a peer id: "alice"/],
      [["-history", "0"], /-history must be a positive integer/],
      [["-history", "many"], /-history must be a positive integer/],
      [["-max-in-flight-per-peer", "-1"], /-max-in-flight-per-peer must be a positive integer/],
      [["-admins-file", ""], /-admins-file needs a file name/],
      [["-max-host-share", "0"], /-max-host-share must be a positive integer/],
      [["-max-host-share", "101"], /-max-host-share must be 1 to 100/],
    ] as const
  ) {
    assert.throws(
      () => config([...args]),
      (err) => err instanceof UsageError && message.test(err.message),
    );
  }
});

Deno.test("admins file: one peer id a line, comments, errors name the line", async () => {
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(path, `# operators\n${A}\n\n  ${B} # bob\n`);
    const admins = await readAdminsFile(path);
    assert.deepEqual(admins, [A, B]);
    const policy = new WritePolicy({ mode: "owner", admins });
    assert.ok(policy.isAdmin(B));
    assert.equal(policy.refusal(B, { op: "delete", name: "x", owner: A }), undefined);
    assert.throws(() => parseAdmins(`${A}\nnot-an-id\n`, "f"), /^TypeError: f:2: not a peer id/);
    await assert.rejects(() => readAdminsFile(`${path}.missing`), /cannot read the admins file/);
  } finally {
    await Deno.remove(path);
  }
});
