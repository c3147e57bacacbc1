import assert from "node:assert/strict";
import {
  decodeKeyFile,
  encodeKeyFile,
  expandHome,
  generateIdentity,
  type KeyAlgorithm,
  KeyFileError,
  loadOrCreateIdentity,
  parseKeyAlgorithm,
} from "../../src/p2p/identity.ts";

const CASES: [KeyAlgorithm, number, number][] = [
  // algorithm, type number, raw length (RSA: PKCS#1 DER, ECDSA: SEC1 DER, around these sizes)
  ["RSA", 0, 0],
  ["Ed25519", 1, 64],
  ["Secp256k1", 2, 32],
  ["ECDSA", 3, 0],
];

for (const [algorithm, typeNumber, rawLength] of CASES) {
  Deno.test(`key file round trip: ${algorithm}`, async () => {
    const key = await generateIdentity(algorithm);
    const line = encodeKeyFile(key);
    assert.match(line, new RegExp(`^${typeNumber} [A-Za-z0-9+/]+=*\\n$`));
    const raw = Uint8Array.from(atob(line.slice(2).trim()), (c) => c.charCodeAt(0));
    if (rawLength > 0) assert.equal(raw.length, rawLength);
    // DER keys start with a SEQUENCE tag.
    if (algorithm === "RSA" || algorithm === "ECDSA") assert.equal(raw[0], 0x30);
    const decoded = decodeKeyFile(line);
    assert.ok(decoded.equals(key));
    assert.ok(decoded.publicKey.equals(key.publicKey));
  });
}

Deno.test("algorithm names are case-insensitive; unknown ones are refused", () => {
  assert.equal(parseKeyAlgorithm("rsa"), "RSA");
  assert.equal(parseKeyAlgorithm("SECP256K1"), "Secp256k1");
  assert.equal(parseKeyAlgorithm("ecdsa"), "ECDSA");
  assert.throws(() => parseKeyAlgorithm("dsa"), /unknown key algorithm "dsa"/);
});

Deno.test("RSA needs at least 2048 bits", async () => {
  await assert.rejects(() => generateIdentity("RSA", 1024), /at least 2048/);
});

Deno.test("corrupt key files are clear errors", () => {
  assert.throws(() => decodeKeyFile("garbage"), KeyFileError);
  assert.throws(() => decodeKeyFile("7 AAAA\n"), KeyFileError);
  assert.throws(() => decodeKeyFile("1 AAAA\n"), /no valid Ed25519 private key/);
});

Deno.test("loadOrCreateIdentity creates a 0600 file once and never overwrites it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/key`;
    const created = await loadOrCreateIdentity({ keyFile: path, algorithm: "Ed25519" });
    assert.equal(created.source, "created");
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const text = await Deno.readTextFile(path);
    const loaded = await loadOrCreateIdentity({ keyFile: path, algorithm: "Secp256k1" });
    assert.equal(loaded.source, "loaded");
    assert.ok(loaded.key.equals(created.key));
    assert.equal(await Deno.readTextFile(path), text);
    const ephemeral = await loadOrCreateIdentity({
      keyFile: `${dir}/other`,
      algorithm: "Ed25519",
      ephemeral: true,
    });
    assert.equal(ephemeral.source, "ephemeral");
    await assert.rejects(() => Deno.stat(`${dir}/other`), Deno.errors.NotFound);
    await Deno.writeTextFile(`${dir}/bad`, "0 !!!\n");
    await assert.rejects(
      () => loadOrCreateIdentity({ keyFile: `${dir}/bad`, algorithm: "RSA" }),
      (err: Error) => err instanceof KeyFileError && err.message.includes(`${dir}/bad`),
    );
    assert.equal(await Deno.readTextFile(`${dir}/bad`), "0 !!!\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("~ expands to the home directory", () => {
  assert.equal(expandHome("~/.privKeyHashLookup", "/home/a"), "/home/a/.privKeyHashLookup");
  assert.equal(expandHome("/abs/key", "/home/a"), "/abs/key");
});
