import assert from "node:assert/strict";
import { parseGoFlags } from "../../src/cli/flags.ts";
import { UsageError } from "../../src/cli/errors.ts";

const SPECS = {
  psk: { type: "string" as const, description: "" },
  bootstrap: { type: "string" as const, multiple: true, description: "" },
  local: { type: "boolean" as const, description: "" },
};

Deno.test("Go-style flags: -f v, -f=v, --f v, --f=v", () => {
  for (const args of [["-psk", "s"], ["-psk=s"], ["--psk", "s"], ["--psk=s"]]) {
    assert.equal(parseGoFlags(args, SPECS).values.psk, "s", args.join(" "));
  }
});

Deno.test("Go-style flags: repeatable, booleans, values starting with a dash", () => {
  const { values, positionals } = parseGoFlags(
    ["-bootstrap", "/a", "--bootstrap=/b", "-local", "-psk", "-x", "cmd", "arg"],
    SPECS,
  );
  assert.deepEqual(values.bootstrap, ["/a", "/b"]);
  assert.equal(values.local, true);
  assert.equal(values.psk, "-x");
  assert.deepEqual(positionals, ["cmd", "arg"]);
  assert.equal(parseGoFlags(["-local=false"], SPECS).values.local, undefined);
});

Deno.test("Go-style flags: stop at the command", () => {
  const { values, positionals } = parseGoFlags(["-psk", "s", "get", "-json", "x"], SPECS, {
    stopAtPositional: true,
  });
  assert.equal(values.psk, "s");
  assert.deepEqual(positionals, ["get", "-json", "x"]);
});

Deno.test("Go-style flags: unknown flag and missing value are usage errors", () => {
  assert.throws(
    () => parseGoFlags(["-nope"], SPECS, { command: "get" }),
    (err: Error) =>
      err instanceof UsageError && err.command === "get" && /unknown flag: -nope/.test(err.message),
  );
  assert.throws(() => parseGoFlags(["-psk"], SPECS), /flag needs a value: -psk/);
  assert.throws(() => parseGoFlags(["-local=maybe"], SPECS), /invalid boolean value/);
});
