import assert from "node:assert/strict";
import { pskFromPassphrase, swarmKey } from "../../src/p2p/psk.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("PSK is SHA3-256 of the passphrase (NIST known answer for 'abc')", () => {
  assert.equal(
    hex(pskFromPassphrase("abc")),
    "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532",
  );
});

Deno.test("PSK is not SHA-256", () => {
  // SHA-256("abc") would be ba7816bf...
  assert.notEqual(hex(pskFromPassphrase("abc")).slice(0, 8), "ba7816bf");
});

Deno.test("empty passphrase gives a random 32-byte key", () => {
  const a = pskFromPassphrase("");
  const b = pskFromPassphrase("");
  assert.equal(a.length, 32);
  assert.notDeepEqual(a, b);
});

Deno.test("swarm key text has the pnet header and 64 lowercase hex chars", () => {
  const key = pskFromPassphrase("abc");
  assert.equal(
    new TextDecoder().decode(swarmKey(key)),
    "/key/swarm/psk/1.0.0/\n/base16/\n" +
      "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532",
  );
  assert.throws(() => swarmKey(new Uint8Array(16)), RangeError);
});
