/**
 * The registry-service's identity key: algorithms, generation and the key
 * file format shared with the original (`<type number> <base64 raw key>\n`).
 *
 * @module
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from "@libp2p/crypto/keys";
import type { PrivateKey } from "@libp2p/interface";
import { decodeBase64, encodeBase64 } from "./_base64.ts";

/** Key algorithms a registry-service identity can use. */
export type KeyAlgorithm = "RSA" | "Ed25519" | "Secp256k1" | "ECDSA";

/** Key type numbers used in the key file (libp2p's protobuf KeyType). */
const TYPE_NUMBERS: Record<KeyAlgorithm, number> = {
  RSA: 0,
  Ed25519: 1,
  Secp256k1: 2,
  ECDSA: 3,
};

/** Thrown when a key file cannot be read or parsed. */
export class KeyFileError extends Error {
  /**
   * @param message What is wrong with the key file and what to do.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KeyFileError";
  }
}

/**
 * Parses an algorithm name case-insensitively (`rsa`, `ed25519`, ...).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseKeyAlgorithm } from "./identity.ts";
 * assert.ok(parseKeyAlgorithm("ed25519") === "Ed25519");
 * ```
 */
export function parseKeyAlgorithm(name: string): KeyAlgorithm {
  const found = (Object.keys(TYPE_NUMBERS) as KeyAlgorithm[]).find((algo) =>
    algo.toLowerCase() === name.toLowerCase()
  );
  if (!found) {
    throw new RangeError(
      `unknown key algorithm "${name}": use RSA, Ed25519, Secp256k1 or ECDSA`,
    );
  }
  return found;
}

/**
 * Generates a new private key. `bits` applies to RSA only (minimum 2048).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateIdentity } from "./identity.ts";
 * const key = await generateIdentity("Ed25519");
 * assert.ok(key.type === "Ed25519");
 * ```
 */
export async function generateIdentity(
  algorithm: KeyAlgorithm,
  bits = 2048,
): Promise<PrivateKey> {
  switch (algorithm) {
    case "RSA":
      if (!Number.isInteger(bits) || bits < 2048) {
        throw new RangeError(`RSA keys need at least 2048 bits, got ${bits}`);
      }
      return await generateKeyPair("RSA", bits);
    case "Ed25519":
      return await generateKeyPair("Ed25519");
    case "Secp256k1":
      return await generateKeyPair("secp256k1");
    case "ECDSA":
      return await generateKeyPair("ECDSA", "P-256");
  }
}

/**
 * Encodes a key as one key file line: `<type number> <base64 of raw key>\n`
 * (raw = PKCS#1 DER for RSA, 64 bytes for Ed25519, 32 for Secp256k1, SEC1
 * DER for ECDSA).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeKeyFile, generateIdentity } from "./identity.ts";
 * const line = encodeKeyFile(await generateIdentity("Secp256k1"));
 * assert.ok(line.startsWith("2 ") && line.endsWith("\n"));
 * ```
 */
export function encodeKeyFile(key: PrivateKey): string {
  // The protobuf form is `08 <type> 12 <varint len> <raw>`; its type byte is the file's number.
  const typeNumber = privateKeyToProtobuf(key)[1];
  return `${typeNumber} ${encodeBase64(key.raw)}\n`;
}

/**
 * Decodes a key file's content (see {@linkcode encodeKeyFile}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeKeyFile, encodeKeyFile, generateIdentity } from "./identity.ts";
 * const key = await generateIdentity("Ed25519");
 * assert.ok(decodeKeyFile(encodeKeyFile(key)).equals(key));
 * ```
 */
export function decodeKeyFile(text: string): PrivateKey {
  const match = /^\s*([0-3])\s+([A-Za-z0-9+/=]+)\s*$/.exec(text);
  if (!match) {
    throw new KeyFileError(
      'key file is not "<type number 0-3> <base64 key>"; move it away to generate a new key',
    );
  }
  let raw: Uint8Array;
  try {
    raw = decodeBase64(match[2]);
  } catch (cause) {
    throw new KeyFileError("key file holds invalid base64", { cause });
  }
  const protobuf = new Uint8Array([0x08, Number(match[1]), 0x12, ...varint(raw.length), ...raw]);
  try {
    return privateKeyFromProtobuf(protobuf);
  } catch (cause) {
    throw new KeyFileError(
      `key file holds no valid ${
        Object.keys(TYPE_NUMBERS)[Number(match[1])]
      } private key; move it away to generate a new key`,
      { cause },
    );
  }
}

function varint(n: number): number[] {
  const bytes: number[] = [];
  while (n >= 0x80) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return bytes;
}

/** Options for {@linkcode loadOrCreateIdentity}. */
export interface IdentityOptions {
  /** Path of the key file; `~` at the start is the home directory. */
  keyFile: string;
  /** Algorithm for a newly generated key. */
  algorithm: KeyAlgorithm;
  /** RSA key size for a newly generated key. */
  bits?: number;
  /** Use a fresh key and store nothing. */
  ephemeral?: boolean;
  /** The home directory for `~` expansion. */
  home?: string;
}

/** What {@linkcode loadOrCreateIdentity} returns. */
export interface LoadedIdentity {
  /** The private key. */
  key: PrivateKey;
  /** How the key was obtained. */
  source: "loaded" | "created" | "ephemeral";
  /** The expanded key file path. */
  path: string;
  /** Whether a loaded key file is readable by its group or others (it should be mode 0600). */
  readableByOthers?: boolean;
}

/**
 * Loads the identity from its key file, or generates one and stores it
 * (mode 0600, never overwriting an existing file). With `ephemeral` it
 * generates a key and stores nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadOrCreateIdentity } from "./identity.ts";
 * const dir = await Deno.makeTempDir();
 * const first = await loadOrCreateIdentity({ keyFile: `${dir}/key`, algorithm: "Ed25519" });
 * const again = await loadOrCreateIdentity({ keyFile: `${dir}/key`, algorithm: "Ed25519" });
 * assert.ok(first.source === "created" && again.key.equals(first.key));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadOrCreateIdentity(options: IdentityOptions): Promise<LoadedIdentity> {
  const path = expandHome(options.keyFile, options.home);
  if (options.ephemeral) {
    return {
      key: await generateIdentity(options.algorithm, options.bits),
      source: "ephemeral",
      path,
    };
  }
  let text: string | undefined;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      throw new KeyFileError(`cannot read key file ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  if (text !== undefined) {
    const readableByOthers = ((await Deno.stat(path)).mode ?? 0) & 0o044 ? true : false;
    try {
      return { key: decodeKeyFile(text), source: "loaded", path, readableByOthers };
    } catch (err) {
      throw new KeyFileError(`key file ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
  const key = await generateIdentity(options.algorithm, options.bits);
  try {
    const dir = path.slice(0, path.lastIndexOf("/"));
    if (dir) await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    // createNew refuses to overwrite a file that appeared since we looked.
    await Deno.writeTextFile(path, encodeKeyFile(key), { createNew: true, mode: 0o600 });
  } catch (err) {
    throw new KeyFileError(`cannot create key file ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { key, source: "created", path };
}

/**
 * Expands a leading `~` to the home directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { expandHome } from "./identity.ts";
 * assert.ok(expandHome("~/k", "/home/me") === "/home/me/k");
 * ```
 */
export function expandHome(path: string, home?: string): string {
  if (path !== "~" && !path.startsWith("~/")) return path;
  const dir = home ?? Deno.env.get("HOME");
  if (!dir) throw new KeyFileError(`cannot expand "~" in ${path}: HOME is not set`);
  return dir + path.slice(1);
}
