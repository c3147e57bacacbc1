/**
 * Pre-shared keys for the private libp2p network.
 *
 * @module
 */
import { createHash, randomBytes } from "node:crypto";

/**
 * Turns a passphrase into the network's 32-byte pre-shared key: SHA3-256 of
 * its UTF-8 bytes (as the original Go implementation does; not SHA-256). An
 * empty passphrase gives a random key, which joins nobody.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pskFromPassphrase } from "./psk.ts";
 * assert.ok(pskFromPassphrase("secret").length === 32);
 * ```
 */
export function pskFromPassphrase(passphrase: string): Uint8Array {
  if (passphrase === "") return new Uint8Array(randomBytes(32));
  return new Uint8Array(createHash("sha3-256").update(passphrase, "utf8").digest());
}

/**
 * Renders a 32-byte key in the swarm-key form libp2p's pnet reads:
 * `/key/swarm/psk/1.0.0/\n/base16/\n<64 lowercase hex chars>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { swarmKey } from "./psk.ts";
 * const text = new TextDecoder().decode(swarmKey(new Uint8Array(32)));
 * assert.ok(text === "/key/swarm/psk/1.0.0/\n/base16/\n" + "0".repeat(64));
 * ```
 */
export function swarmKey(key: Uint8Array): Uint8Array {
  if (key.length !== 32) {
    throw new RangeError(`a pre-shared key has 32 bytes, got ${key.length}`);
  }
  const hex = Array.from(key, (b) => b.toString(16).padStart(2, "0")).join("");
  return new TextEncoder().encode(`/key/swarm/psk/1.0.0/\n/base16/\n${hex}`);
}

/**
 * Reads a network passphrase from a file (`-psk-file`), so that it never
 * appears on a command line (`ps`, `/proc/<pid>/cmdline`). One trailing line
 * break is dropped; an empty file is an error, as it would silently mean a
 * random key.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readPassphraseFile } from "./psk.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "secret\n");
 * assert.equal(await readPassphraseFile(path), "secret");
 * await Deno.remove(path);
 * ```
 */
export async function readPassphraseFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new Error(`cannot read the PSK file ${path}: ${(err as Error).message}`, { cause: err });
  }
  const passphrase = text.replace(/\r?\n$/, "");
  if (passphrase === "") throw new Error(`the PSK file ${path} is empty`);
  return passphrase;
}
