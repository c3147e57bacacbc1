/**
 * The record the registry keeps for each microservice.
 *
 * @module
 */
import { isImageReference, parseImageReference } from "../image/image_ref.ts";

/** Network requirements of a service (RTT in milliseconds). */
export interface NetworkRequirements {
  /** Round-trip time, an integer carried through as given (milliseconds). */
  RTT: number;
}

/**
 * What the registry stores for one microservice. JSON field names are exact
 * (they are the wire format shared with the original Go implementation).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ServiceInfo } from "./service_info.ts";
 * const info: ServiceInfo = {
 *   ContentHash: "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
 *   DockerHash: "localhost:5000/team/svc@sha256:" + "ab".repeat(32),
 *   NetworkSoftReq: { RTT: 100 },
 *   NetworkHardReq: { RTT: 200 },
 *   CpuReq: 20,
 *   MemoryReq: 1000,
 * };
 * assert.ok(JSON.stringify(info).startsWith('{"ContentHash"'));
 * ```
 */
export interface ServiceInfo {
  /** IPFS CID v0 of the image's `docker save` tar. */
  ContentHash: string;
  /** `repo@sha256:<digest>` of the pushed image. */
  DockerHash: string;
  /** Preferred network requirements. */
  NetworkSoftReq: NetworkRequirements;
  /** Required network requirements. */
  NetworkHardReq: NetworkRequirements;
  /** CPU requirement. */
  CpuReq: number;
  /** Memory requirement. */
  MemoryReq: number;
}

/**
 * Thrown when a ServiceInfo JSON string is not a valid ServiceInfo.
 *
 * @example
 * ```ts ignore
 * import { InvalidServiceInfoError, parseServiceInfo } from "@physarum/registry";
 * try {
 *   parseServiceInfo("{}");
 * } catch (err) {
 *   if (err instanceof InvalidServiceInfoError) console.log(err.message);
 * }
 * ```
 */
export class InvalidServiceInfoError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong with the record.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InvalidServiceInfoError";
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function requireInteger(value: unknown, field: string): number {
  // The original's fields are Go ints; a value beyond 2^53 would not survive a JSON round trip.
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidServiceInfoError(
      `${field} must be an integer >= 0, got ${JSON.stringify(value)?.slice(0, 80)}`,
    );
  }
  return value;
}

function requireContentHash(value: unknown): string {
  if (typeof value !== "string") throw new InvalidServiceInfoError("ContentHash must be a string");
  if (value === "") throw new InvalidServiceInfoError("ContentHash must not be empty");
  // Any id is allowed (-content-id), but it is shown and logged: no control characters.
  if (/[\p{Cc}\p{Cf}]/u.test(value) || !value.isWellFormed()) {
    throw new InvalidServiceInfoError("ContentHash contains control or format characters");
  }
  return value;
}

function requireDockerHash(value: unknown): string {
  if (typeof value !== "string") throw new InvalidServiceInfoError("DockerHash must be a string");
  if (isImageReference(value)) return value;
  try {
    // Not valid: the full parse says why.
    parseImageReference(value);
  } catch (cause) {
    throw new InvalidServiceInfoError(
      `DockerHash must be an image reference by digest or tag: ${(cause as Error).message}`,
      { cause },
    );
  }
  return value;
}

/** The characters outside ASCII that Go's JSON key matching folds onto ASCII letters. */
const GO_FOLDS_TO_ASCII: Record<string, string> = {
  "\u017F": "s", // LATIN SMALL LETTER LONG S
  "\u212A": "k", // KELVIN SIGN
  "\u0130": "i", // LATIN CAPITAL LETTER I WITH DOT ABOVE (ToUpper(ToLower) since Go 1.21)
  "\u0131": "i", // LATIN SMALL LETTER DOTLESS I
};

function goFold(key: string): string {
  return key.replace(/[\u017F\u212A\u0130\u0131]/g, (c) => GO_FOLDS_TO_ASCII[c]).toLowerCase();
}

/**
 * Go nodes decode an InfoStr with encoding/json, which matches keys to fields
 * case-insensitively and lets the last match win: a second `dockerhash` would
 * be what they run, unvalidated. Such keys are refused, not dropped, so the
 * stored InfoStr stays the bytes that were sent.
 */
function refuseFoldedKeys(value: Record<string, unknown>, fields: FoldedFields): void {
  for (const key of Object.keys(value)) {
    // Known fields, the common case, need no folding (it tripled the parse of a list).
    if (fields.exact.has(key)) continue;
    const field = fields.folded.get(goFold(key));
    if (field !== undefined) {
      throw new InvalidServiceInfoError(
        `key ${JSON.stringify(key)} is not ${field} but Go nodes would read it as ${field}`,
      );
    }
  }
}

const SERVICE_INFO_FIELDS = [
  "ContentHash",
  "DockerHash",
  "NetworkSoftReq",
  "NetworkHardReq",
  "CpuReq",
  "MemoryReq",
] as const;

/** A field list, and its fields by folded name (built once per list). */
interface FoldedFields {
  exact: ReadonlySet<string>;
  folded: ReadonlyMap<string, string>;
}

function foldedFields(fields: readonly string[]): FoldedFields {
  return { exact: new Set(fields), folded: new Map(fields.map((f) => [goFold(f), f])) };
}

const INFO_FOLDED = foldedFields(SERVICE_INFO_FIELDS);
const NETWORK_FOLDED = foldedFields(["RTT"]);

function requireNetwork(value: unknown, field: string): NetworkRequirements {
  if (!isObject(value)) {
    throw new InvalidServiceInfoError(`${field} must be an object like {"RTT": 100}`);
  }
  refuseFoldedKeys(value, NETWORK_FOLDED);
  return { ...value, RTT: requireInteger(value.RTT, `${field}.RTT`) };
}

/**
 * Checks that `value` is a valid {@linkcode ServiceInfo} and returns it
 * typed: field types; integers >= 0 where the original has ints (RTT,
 * CpuReq, MemoryReq); ContentHash a non-empty string without control or
 * format characters; DockerHash a well-formed image reference by digest or
 * tag. Unknown fields are kept (newer clients may add fields), except keys
 * that only differ from a known field in case (Go nodes would read them as
 * that field).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateServiceInfo } from "./service_info.ts";
 * const valid = {
 *   ContentHash: "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
 *   DockerHash: "registry.local:5000/team/svc:1.2",
 *   NetworkSoftReq: { RTT: 100 },
 *   NetworkHardReq: { RTT: 200 },
 *   CpuReq: 20,
 *   MemoryReq: 1000,
 * };
 * assert.equal(validateServiceInfo(valid).CpuReq, 20);
 * assert.throws(() => validateServiceInfo({ ...valid, CpuReq: "lots" }), /CpuReq must be an integer/);
 * assert.throws(() => validateServiceInfo({ ...valid, DockerHash: ["x"] }), /DockerHash/);
 * assert.throws(() => validateServiceInfo({ ...valid, ContentHash: "" }), /ContentHash/);
 * assert.throws(() => validateServiceInfo({ ...valid, dockerhash: "x:1" }), /"dockerhash"/);
 * ```
 */
export function validateServiceInfo(value: unknown): ServiceInfo {
  if (!isObject(value)) throw new InvalidServiceInfoError("ServiceInfo must be a JSON object");
  refuseFoldedKeys(value, INFO_FOLDED);
  return {
    ...value,
    ContentHash: requireContentHash(value.ContentHash),
    DockerHash: requireDockerHash(value.DockerHash),
    NetworkSoftReq: requireNetwork(value.NetworkSoftReq, "NetworkSoftReq"),
    NetworkHardReq: requireNetwork(value.NetworkHardReq, "NetworkHardReq"),
    CpuReq: requireInteger(value.CpuReq, "CpuReq"),
    MemoryReq: requireInteger(value.MemoryReq, "MemoryReq"),
  };
}

/**
 * Parses an InfoStr (the JSON string the registry stores) into a
 * {@linkcode ServiceInfo}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseServiceInfo } from "./service_info.ts";
 * const info = parseServiceInfo(
 *   '{"ContentHash":"Qm","DockerHash":"a:1","NetworkSoftReq":{"RTT":1},' +
 *     '"NetworkHardReq":{"RTT":2},"CpuReq":3,"MemoryReq":4}',
 * );
 * assert.equal(info.NetworkHardReq.RTT, 2);
 * assert.throws(() => parseServiceInfo("{}"), /ContentHash must be a string/);
 * ```
 */
export function parseServiceInfo(infoStr: string): ServiceInfo {
  let value: unknown;
  try {
    value = JSON.parse(infoStr);
  } catch (cause) {
    throw new InvalidServiceInfoError(`ServiceInfo is not valid JSON: ${infoStr.slice(0, 80)}`, {
      cause,
    });
  }
  return validateServiceInfo(value);
}
