/**
 * Encoders and decoders for the registry's request and response payloads
 * (SPEC §3). Payloads are UTF-8 text; JSON field names are exact.
 *
 * @module
 */
import { peerIdFromString } from "@libp2p/peer-id";
import { parseServiceInfo } from "./service_info.ts";

/**
 * Thrown when a payload does not have the form its protocol requires.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MalformedMessageError } from "./messages.ts";
 * assert.ok(new MalformedMessageError("bad") instanceof Error);
 * ```
 */
export class MalformedMessageError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong with the payload.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MalformedMessageError";
  }
}

function parseJsonObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new MalformedMessageError(`${what} is not valid JSON`, { cause });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new MalformedMessageError(`${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

/**
 * Thrown for a request that is well-formed but carries a value the service
 * refuses (a service name, a ServiceInfo). A write refused so is answered
 * `Error: <message>`, not reset.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InvalidValueError, MalformedMessageError, validateServiceName } from "./messages.ts";
 * assert.throws(() => validateServiceName("a/b"), InvalidValueError);
 * assert.ok(new InvalidValueError("x") instanceof MalformedMessageError);
 * ```
 */
export class InvalidValueError extends MalformedMessageError {
  /** The service name the refused request was about, as sent (for audit logs). */
  readonly serviceName: string | undefined;

  /**
   * Creates the error.
   *
   * @param message What is refused, e.g. `invalid service name: contains "/"`.
   * @param options Standard error options (`cause`), and the service name as sent.
   */
  constructor(message: string, options?: ErrorOptions & { serviceName?: string }) {
    super(message, options);
    this.name = "InvalidValueError";
    this.serviceName = options?.serviceName;
  }
}

/** Longest service name, in characters (code points), as for a DNS name. */
export const MAX_SERVICE_NAME_LENGTH = 253;

/**
 * Largest InfoStr a registry-service stores (UTF-8 bytes). A ServiceInfo is a few hundred bytes;
 * the bound keeps one write (the entry and its history record) far under etcd's request limit and
 * bounds what a writer can make etcd keep until compaction.
 */
export const MAX_INFO_STR_BYTES = 64 * 1024;

function invalidName(name: string, reason: string): InvalidValueError {
  return new InvalidValueError(`invalid service name: ${reason}`, { serviceName: name });
}

/**
 * Checks a service name and returns it NFC-normalized, the form under which
 * it is stored. Refused: empty; longer than 253 characters; control or
 * format characters (bidi overrides, zero-width ones included) and other
 * invisible ones (Unicode's default-ignorable code points: Hangul fillers,
 * variation selectors, the combining grapheme joiner); line and
 * paragraph separators (U+2028, U+2029: they break lines in output); `/`; lone
 * surrogates (they cannot be stored as UTF-8); leading or trailing white
 * space (the service trims requests, so such a name could never be read back).
 *
 * @throws {InvalidValueError} When the name is refused.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateServiceName } from "./messages.ts";
 * assert.equal(validateServiceName("my-service"), "my-service");
 * assert.equal(validateServiceName("cafe\u0301"), "caf\u00e9"); // NFC
 * assert.throws(() => validateServiceName(""), /invalid service name: empty/);
 * assert.throws(() => validateServiceName("pay\u202Ements"), /format character U\+202E/);
 * assert.throws(() => validateServiceName("a\u200Bb"), /format character U\+200B/);
 * assert.throws(() => validateServiceName("a\u2028b"), /separator U\+2028/);
 * // Invisible characters are refused only in new names (see invisibleCharacterIn).
 * assert.equal(validateServiceName("\u2764\ufe0f-status"), "\u2764\ufe0f-status");
 * assert.throws(() => validateServiceName("sur\ud800x"), /lone surrogate/);
 * assert.throws(() => validateServiceName("team/svc"), /"\/"/);
 * assert.throws(() => validateServiceName("x".repeat(254)), /longer than 253/);
 * ```
 */
export function validateServiceName(name: string): string {
  if (name === "") throw invalidName(name, "empty");
  if (!name.isWellFormed()) {
    throw invalidName(name, "contains a lone surrogate (not valid Unicode)");
  }
  const normalized = name.normalize("NFC");
  let length = 0;
  for (const char of normalized) {
    if (++length > MAX_SERVICE_NAME_LENGTH) {
      throw invalidName(name, `longer than ${MAX_SERVICE_NAME_LENGTH} characters`);
    }
    if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(char)) {
      const kind = /\p{Z}/u.test(char)
        ? "line or paragraph separator"
        : "control or format character";
      throw invalidName(name, `contains the ${kind} ${codePoint(char)}`);
    }
    if (char === "/") throw invalidName(name, 'contains "/"');
  }
  if (normalized.trim() !== normalized) throw invalidName(name, "leading or trailing white space");
  return normalized;
}

/**
 * Why `name` may not be a new name: it holds an invisible character (Unicode's
 * default-ignorable code points, say a Hangul filler or a variation selector)
 * that could make it pass for another name. `undefined` when it may. A name
 * stored before this rule stays valid for reads, writes and deletes
 * ({@linkcode validateServiceName}); an emoji typed with its variation
 * selector (U+FE0F) is one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { invisibleCharacterIn } from "./messages.ts";
 * assert.equal(invisibleCharacterIn("payments"), undefined);
 * assert.match(invisibleCharacterIn("pay\u3164ments")!, /invisible character U\+3164/);
 * ```
 */
export function invisibleCharacterIn(name: string): string | undefined {
  const char = /\p{Default_Ignorable_Code_Point}/u.exec(name)?.[0];
  if (char === undefined) return undefined;
  return `invalid service name: contains the invisible character ${codePoint(char)}`;
}

function codePoint(char: string): string {
  return `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** The `/add/0.1` request. */
export interface AddRequest {
  /** Service name. */
  Name: string;
  /** ServiceInfo as a JSON string, stored verbatim. */
  InfoStr: string;
}

/**
 * Encodes an `/add/0.1` request.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeAddRequest } from "./messages.ts";
 * assert.equal(encodeAddRequest({ Name: "a", InfoStr: "{}" }), '{"Name":"a","InfoStr":"{}"}');
 * ```
 */
export function encodeAddRequest(request: AddRequest): string {
  return JSON.stringify({ Name: request.Name, InfoStr: request.InfoStr });
}

/**
 * Decodes an `/add/0.1` request: the name is checked and NFC-normalized,
 * InfoStr must be a valid ServiceInfo (it is stored verbatim).
 *
 * @throws {MalformedMessageError} When the payload is not an add request.
 * @throws {InvalidValueError} When the name or the ServiceInfo is refused.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeAddRequest, InvalidValueError } from "./messages.ts";
 * const info = JSON.stringify({
 *   ContentHash: "Qm", DockerHash: "svc:1", NetworkSoftReq: { RTT: 1 }, NetworkHardReq: { RTT: 2 },
 *   CpuReq: 3, MemoryReq: 4,
 * });
 * assert.equal(decodeAddRequest(JSON.stringify({ Name: "a", InfoStr: info })).InfoStr, info);
 * assert.throws(
 *   () => decodeAddRequest('{"Name":"a","InfoStr":"{}"}'),
 *   (err) => err instanceof InvalidValueError && /^invalid service info: /.test(err.message),
 * );
 * const huge = JSON.stringify({ ...JSON.parse(info), Notes: "x".repeat(70_000) });
 * assert.throws(() => decodeAddRequest(JSON.stringify({ Name: "a", InfoStr: huge })), /bytes, more than/);
 * ```
 */
export function decodeAddRequest(text: string): AddRequest {
  const value = parseJsonObject(text, "add request");
  if (typeof value.Name !== "string") throw new MalformedMessageError("add request needs Name");
  if (typeof value.InfoStr !== "string") {
    throw new MalformedMessageError("add request needs InfoStr (a JSON string)");
  }
  const name = validateServiceName(value.Name);
  const bytes = new TextEncoder().encode(value.InfoStr).length;
  if (bytes > MAX_INFO_STR_BYTES) {
    throw new InvalidValueError(
      `invalid service info: ${bytes} bytes, more than the ${MAX_INFO_STR_BYTES} a service info may have`,
      { serviceName: name },
    );
  }
  try {
    parseServiceInfo(value.InfoStr);
  } catch (cause) {
    throw new InvalidValueError(`invalid service info: ${(cause as Error).message}`, {
      cause,
      serviceName: name,
    });
  }
  return { Name: name, InfoStr: value.InfoStr };
}

/**
 * The `/add/0.1` answer: `Added {<name>: <InfoStr>}`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeAddResponse } from "./messages.ts";
 * assert.equal(encodeAddResponse({ Name: "a", InfoStr: "{}" }), "Added {a: {}}");
 * ```
 */
export function encodeAddResponse(request: AddRequest): string {
  return `Added {${request.Name}: ${request.InfoStr}}`;
}

/** The `/get/0.1` response. */
export interface GetResponse {
  /** The stored InfoStr, or `""` when not found. */
  InfoStr: string;
  /** Whether the name was found. */
  LookupOk: boolean;
}

/**
 * Encodes a `/get/0.1` response.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeGetResponse } from "./messages.ts";
 * assert.equal(encodeGetResponse(undefined), '{"InfoStr":"","LookupOk":false}');
 * ```
 */
export function encodeGetResponse(infoStr: string | undefined): string {
  return JSON.stringify({ InfoStr: infoStr ?? "", LookupOk: infoStr !== undefined });
}

/**
 * Decodes a `/get/0.1` response.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeGetResponse } from "./messages.ts";
 * assert.ok(decodeGetResponse('{"InfoStr":"{}","LookupOk":true}').LookupOk);
 * ```
 */
export function decodeGetResponse(text: string): GetResponse {
  const value = parseJsonObject(text, "get response");
  if (typeof value.InfoStr !== "string" || typeof value.LookupOk !== "boolean") {
    throw new MalformedMessageError("get response needs InfoStr (string) and LookupOk (bool)");
  }
  return { InfoStr: value.InfoStr, LookupOk: value.LookupOk };
}

/** The `/list/0.1` response. */
export interface ListResponse {
  /** InfoStr by service name. */
  NameToInfoStr: Record<string, string>;
  /** False when there are no entries. */
  LookupOk: boolean;
}

/**
 * Encodes a `/list/0.1` response from name/InfoStr pairs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeListResponse } from "./messages.ts";
 * assert.equal(encodeListResponse([]), '{"NameToInfoStr":{},"LookupOk":false}');
 * assert.equal(
 *   encodeListResponse([["__proto__", "{}"], ["b", '"x"']]),
 *   '{"NameToInfoStr":{"__proto__":"{}","b":"\\"x\\""},"LookupOk":true}',
 * );
 * ```
 */
export function encodeListResponse(entries: Iterable<readonly [string, string]>): string {
  // Written out directly: an object of 100,000 keys built first took twice as long (dictionary
  // mode), and a name `__proto__` would have set its prototype instead of being listed.
  const members: string[] = [];
  for (const [name, info] of entries) {
    members.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
  }
  return `{"NameToInfoStr":{${members.join(",")}},"LookupOk":${members.length > 0}}`;
}

/**
 * Decodes a `/list/0.1` response.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeListResponse } from "./messages.ts";
 * const res = decodeListResponse('{"NameToInfoStr":{"a":"{}"},"LookupOk":true}');
 * assert.equal(res.NameToInfoStr.a, "{}");
 * ```
 */
export function decodeListResponse(text: string): ListResponse {
  const value = parseJsonObject(text, "list response");
  const map = value.NameToInfoStr;
  if (typeof value.LookupOk !== "boolean") {
    throw new MalformedMessageError("list response needs LookupOk (bool)");
  }
  // Go encodes a nil map as null.
  if (map === null || map === undefined) return { NameToInfoStr: {}, LookupOk: value.LookupOk };
  if (typeof map !== "object" || Array.isArray(map)) {
    throw new MalformedMessageError("list response needs NameToInfoStr (object)");
  }
  for (const [name, info] of Object.entries(map)) {
    if (typeof info !== "string") {
      throw new MalformedMessageError(`list response: InfoStr of ${name} is not a string`);
    }
  }
  return { NameToInfoStr: map as Record<string, string>, LookupOk: value.LookupOk };
}

/**
 * The `/delete/0.1` answer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeDeleteResponse } from "./messages.ts";
 * assert.equal(encodeDeleteResponse(1), "Deleted 1 entry from hash lookup");
 * ```
 */
export function encodeDeleteResponse(deleted: number): string {
  return deleted > 0
    ? `Deleted ${deleted} entry from hash lookup`
    : "Error: Failed to delete any entries from hash lookup";
}

/**
 * How many entries a `/delete/0.1` answer says were deleted (0 for the error answer).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeDeleteResponse } from "./messages.ts";
 * assert.equal(decodeDeleteResponse("Deleted 1 entry from hash lookup"), 1);
 * ```
 */
export function decodeDeleteResponse(text: string): number {
  const match = /^Deleted (\d+) entry from hash lookup$/.exec(text.trim());
  if (match) return Number(match[1]);
  if (text.trim() === "Error: Failed to delete any entries from hash lookup") return 0;
  throw new MalformedMessageError(`unexpected delete response: ${text.slice(0, 120)}`);
}

/** The `/memberadd/0.1` request. */
export interface MemberAddRequest {
  /** etcd member name, `<ip>-<client port>-<peer port>`. */
  MemberName: string;
  /** The member's peer URL, `http://<ip>:<peer port>`. */
  MemberPeerUrl: string;
}

/**
 * Encodes a `/memberadd/0.1` request.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeMemberAddRequest } from "./messages.ts";
 * const text = encodeMemberAddRequest({ MemberName: "n", MemberPeerUrl: "http://1.2.3.4:2380" });
 * assert.ok(text.includes('"MemberPeerUrl"'));
 * ```
 */
export function encodeMemberAddRequest(request: MemberAddRequest): string {
  return JSON.stringify({ MemberName: request.MemberName, MemberPeerUrl: request.MemberPeerUrl });
}

/**
 * Decodes a `/memberadd/0.1` request; the peer URL must be an `http(s)://host:port` URL.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeMemberAddRequest } from "./messages.ts";
 * const req = decodeMemberAddRequest('{"MemberName":"n","MemberPeerUrl":"http://127.0.0.1:2380"}');
 * assert.equal(req.MemberName, "n");
 * ```
 */
export function decodeMemberAddRequest(text: string): MemberAddRequest {
  const value = parseJsonObject(text, "memberadd request");
  if (typeof value.MemberName !== "string" || !/^[\w.:-]{1,200}$/.test(value.MemberName)) {
    throw new MalformedMessageError("memberadd request needs MemberName (letters, digits, .-:_)");
  }
  if (typeof value.MemberPeerUrl !== "string") {
    throw new MalformedMessageError("memberadd request needs MemberPeerUrl");
  }
  let url: URL;
  try {
    url = new URL(value.MemberPeerUrl);
  } catch (cause) {
    throw new MalformedMessageError("MemberPeerUrl is not a URL", { cause });
  }
  if (!/^https?:$/.test(url.protocol) || url.port === "") {
    throw new MalformedMessageError("MemberPeerUrl must be http(s)://<host>:<port>");
  }
  return { MemberName: value.MemberName, MemberPeerUrl: value.MemberPeerUrl };
}

/** The `/join/0.2` request: `/memberadd/0.1`'s, and whether the joiner may be a voter. */
export interface JoinRequest extends MemberAddRequest {
  /** Whether the joiner may run an etcd member (`-voter-eligible`). */
  VoterEligible: boolean;
  /** Whether the joiner's data directory already holds an etcd member (a restart). */
  HasMember: boolean;
}

/** The `/join/0.2` answer: the role the cluster gives the joiner and what it needs for it. */
export type JoinResponse =
  | {
    /** Run an etcd member. */
    Role: "member";
    /** `--initial-cluster` for a new learner; `""`: restart the member from its data directory. */
    InitialCluster: string;
  }
  | {
    /** Run without an etcd member, on the members' client URLs. */
    Role: "client";
    /** The started voters' client URLs. */
    ClientUrls: string[];
    /** The joiner's old member is no longer in the cluster (its data directory is stale). */
    Removed: boolean;
  };

/**
 * Encodes a `/join/0.2` request.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeJoinRequest, encodeJoinRequest } from "./messages.ts";
 * const request = {
 *   MemberName: "n", MemberPeerUrl: "https://127.0.0.1:2380", VoterEligible: true, HasMember: false,
 * };
 * assert.deepEqual(decodeJoinRequest(encodeJoinRequest(request)), request);
 * ```
 */
export function encodeJoinRequest(request: JoinRequest): string {
  return JSON.stringify({
    MemberName: request.MemberName,
    MemberPeerUrl: request.MemberPeerUrl,
    VoterEligible: request.VoterEligible,
    HasMember: request.HasMember,
  });
}

/**
 * Decodes a `/join/0.2` request (the member fields checked as `/memberadd/0.1`'s).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeJoinRequest } from "./messages.ts";
 * assert.throws(() => decodeJoinRequest('{"MemberName":"n","MemberPeerUrl":"https://h:1"}'));
 * ```
 */
export function decodeJoinRequest(text: string): JoinRequest {
  const member = decodeMemberAddRequest(text);
  const value = parseJsonObject(text, "join request");
  if (typeof value.VoterEligible !== "boolean" || typeof value.HasMember !== "boolean") {
    throw new MalformedMessageError("join request needs VoterEligible and HasMember (booleans)");
  }
  return { ...member, VoterEligible: value.VoterEligible, HasMember: value.HasMember };
}

/**
 * Encodes a `/join/0.2` answer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeJoinResponse, encodeJoinResponse } from "./messages.ts";
 * const answer = { Role: "client" as const, ClientUrls: ["https://127.0.0.1:2379"], Removed: false };
 * assert.deepEqual(decodeJoinResponse(encodeJoinResponse(answer)), answer);
 * ```
 */
export function encodeJoinResponse(response: JoinResponse): string {
  return JSON.stringify(response);
}

/**
 * Decodes a `/join/0.2` answer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeJoinResponse } from "./messages.ts";
 * assert.equal(decodeJoinResponse('{"Role":"member","InitialCluster":""}').Role, "member");
 * ```
 */
export function decodeJoinResponse(text: string): JoinResponse {
  const value = parseJsonObject(text, "join answer");
  if (value.Role === "member" && typeof value.InitialCluster === "string") {
    return { Role: "member", InitialCluster: value.InitialCluster };
  }
  if (
    value.Role === "client" && Array.isArray(value.ClientUrls) && value.ClientUrls.length > 0 &&
    value.ClientUrls.every((u) => typeof u === "string" && /^https?:\/\/[^\s,]+$/.test(u)) &&
    typeof value.Removed === "boolean"
  ) {
    return { Role: "client", ClientUrls: value.ClientUrls as string[], Removed: value.Removed };
  }
  throw new MalformedMessageError(`unexpected join answer: ${text.slice(0, 120)}`);
}

/** An instance's role: a voting etcd member, a learner catching up, or a client instance. */
export type InstanceRole = "voter" | "learner" | "client";

/** One registry-service instance, as it registers itself (the `/members/0.1` answer's rows). */
export interface InstanceRecord {
  /** Its libp2p peer id. */
  PeerId: string;
  /** Its role. */
  Role: InstanceRole;
  /** The etcd member it runs (`""` for a client instance). */
  Member: string;
  /** The name of the member it runs or would run (`<ip>-<client port>-<peer port>`). */
  MemberName: string;
  /** Its listen multiaddrs. */
  Addrs: string[];
  /** Whether it may run an etcd member. */
  VoterEligible: boolean;
  /** The peer URL it would run a member on (what the steward adds as a learner). */
  PeerUrl: string;
}

/**
 * Decodes one instance record (from etcd or a `/members/0.1` answer).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeInstanceRecord } from "./messages.ts";
 * const r = decodeInstanceRecord(JSON.stringify({
 *   PeerId: "12D3KooW", Role: "client", Member: "", MemberName: "127.0.0.1-2379-2380", Addrs: [],
 *   VoterEligible: true,
 *   PeerUrl: "https://127.0.0.1:2380",
 * }));
 * assert.equal(r.Role, "client");
 * ```
 */
export function decodeInstanceRecord(text: string): InstanceRecord {
  const v = parseJsonObject(text, "instance record");
  if (
    typeof v.PeerId !== "string" || !["voter", "learner", "client"].includes(v.Role as string) ||
    typeof v.Member !== "string" || typeof v.MemberName !== "string" || !Array.isArray(v.Addrs) ||
    !v.Addrs.every((a) => typeof a === "string") || typeof v.VoterEligible !== "boolean" ||
    typeof v.PeerUrl !== "string"
  ) {
    throw new MalformedMessageError(`malformed instance record: ${text.slice(0, 120)}`);
  }
  return {
    PeerId: v.PeerId,
    Role: v.Role as InstanceRole,
    Member: v.Member,
    MemberName: v.MemberName,
    Addrs: v.Addrs as string[],
    VoterEligible: v.VoterEligible,
    PeerUrl: v.PeerUrl,
  };
}

/**
 * Decodes a `/members/0.1` answer: a JSON array of instance records.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeMembersResponse } from "./messages.ts";
 * assert.deepEqual(decodeMembersResponse("[]"), []);
 * ```
 */
export function decodeMembersResponse(text: string): InstanceRecord[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new MalformedMessageError("members answer is not JSON", { cause });
  }
  if (!Array.isArray(value)) throw new MalformedMessageError("members answer is not an array");
  return value.map((row) => decodeInstanceRecord(JSON.stringify(row)));
}

/**
 * A write refused by the service is answered with text starting so.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ERROR_ANSWER_PREFIX } from "./messages.ts";
 * assert.equal(ERROR_ANSWER_PREFIX, "Error: ");
 * ```
 */
export const ERROR_ANSWER_PREFIX = "Error: ";

/**
 * The answer to a refused write: `Error: <reason>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeErrorAnswer } from "./messages.ts";
 * assert.equal(encodeErrorAnswer("no such service \"svc\""), 'Error: no such service "svc"');
 * ```
 */
export function encodeErrorAnswer(reason: string): string {
  return `${ERROR_ANSWER_PREFIX}${reason}`;
}

/**
 * Whether an answer is an error answer (`Error: …`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isErrorAnswer } from "./messages.ts";
 * assert.ok(isErrorAnswer("Error: not authorized: ..."));
 * assert.ok(!isErrorAnswer("Added {a: {}}"));
 * ```
 */
export function isErrorAnswer(answer: string): boolean {
  return answer.startsWith(ERROR_ANSWER_PREFIX);
}

/** The `/history/0.1` request is the service name as raw text, like `/get/0.1`'s. */
export type HistoryRequest = string;

/** What a recorded version did to its name. */
export type HistoryOp = "put" | "delete";

/** One recorded version of a service, as `/history/0.1` answers it. */
export interface HistoryVersion {
  /** etcd revision of the write (the same for the entry and its record). */
  Revision: number;
  /** `put` (add, or a rollback to a put) or `delete`. */
  Op: HistoryOp;
  /** The InfoStr written; `""` for a delete. */
  InfoStr: string;
  /** Peer id of the writer. */
  Peer: string;
  /** When the service accepted the write, RFC 3339. */
  Time: string;
}

/** The `/history/0.1` response. */
export interface HistoryResponse {
  /** Versions, newest first; empty for a name never written. */
  Versions: HistoryVersion[];
}

/**
 * Encodes a `/history/0.1` response (versions newest first).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeHistoryResponse } from "./messages.ts";
 * assert.equal(encodeHistoryResponse([]), '{"Versions":[]}');
 * const version = {
 *   Revision: 7, Op: "delete" as const, InfoStr: "", Peer: "12D3KooW", Time: "2026-01-02T03:04:05Z",
 * };
 * assert.equal(
 *   encodeHistoryResponse([version]),
 *   '{"Versions":[{"Revision":7,"Op":"delete","InfoStr":"","Peer":"12D3KooW","Time":"2026-01-02T03:04:05Z"}]}',
 * );
 * ```
 */
export function encodeHistoryResponse(versions: readonly HistoryVersion[]): string {
  return JSON.stringify({
    Versions: versions.map((v) => ({
      Revision: v.Revision,
      Op: v.Op,
      InfoStr: v.InfoStr,
      Peer: v.Peer,
      Time: v.Time,
    })),
  });
}

function decodeHistoryVersion(value: unknown, index: number): HistoryVersion {
  const what = `history response: version ${index}`;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new MalformedMessageError(`${what} is not an object`);
  }
  const v = value as Record<string, unknown>;
  if (typeof v.Revision !== "number" || !Number.isSafeInteger(v.Revision) || v.Revision < 1) {
    throw new MalformedMessageError(`${what} needs Revision (a positive integer)`);
  }
  if (v.Op !== "put" && v.Op !== "delete") {
    throw new MalformedMessageError(`${what} needs Op ("put" or "delete")`);
  }
  for (const field of ["InfoStr", "Peer", "Time"]) {
    if (typeof v[field] !== "string") {
      throw new MalformedMessageError(`${what} needs ${field} (a string)`);
    }
  }
  return {
    Revision: v.Revision,
    Op: v.Op,
    InfoStr: v.InfoStr as string,
    Peer: v.Peer as string,
    Time: v.Time as string,
  };
}

/**
 * Decodes a `/history/0.1` response.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeHistoryResponse } from "./messages.ts";
 * const text = '{"Versions":[{"Revision":5,"Op":"put","InfoStr":"{}","Peer":"12D3KooWA",' +
 *   '"Time":"2026-01-02T03:04:05.000Z"}]}';
 * assert.equal(decodeHistoryResponse(text).Versions[0].Revision, 5);
 * assert.deepEqual(decodeHistoryResponse('{"Versions":[]}'), { Versions: [] });
 * assert.throws(() => decodeHistoryResponse('{"Versions":[{"Revision":"5"}]}'), /Revision/);
 * ```
 */
export function decodeHistoryResponse(text: string): HistoryResponse {
  const value = parseJsonObject(text, "history response");
  if (!Array.isArray(value.Versions)) {
    throw new MalformedMessageError("history response needs Versions (an array)");
  }
  return { Versions: value.Versions.map(decodeHistoryVersion) };
}

/** The `/rollback/0.1` request. */
export interface RollbackRequest {
  /** Service name. */
  Name: string;
  /** Revision to restore; omitted or 0: the version before the current one. */
  Revision?: number;
}

/**
 * Encodes a `/rollback/0.1` request (`Revision` left out when not given).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeRollbackRequest } from "./messages.ts";
 * assert.equal(encodeRollbackRequest({ Name: "svc" }), '{"Name":"svc"}');
 * assert.equal(encodeRollbackRequest({ Name: "svc", Revision: 12 }), '{"Name":"svc","Revision":12}');
 * ```
 */
export function encodeRollbackRequest(request: RollbackRequest): string {
  return JSON.stringify(
    request.Revision ? { Name: request.Name, Revision: request.Revision } : { Name: request.Name },
  );
}

/**
 * Decodes a `/rollback/0.1` request; the name is checked and NFC-normalized,
 * a missing Revision becomes 0 (the version before the current one).
 *
 * @throws {MalformedMessageError} When the payload is not a rollback request.
 * @throws {InvalidValueError} When the name is refused.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeRollbackRequest } from "./messages.ts";
 * assert.deepEqual(decodeRollbackRequest('{"Name":"svc"}'), { Name: "svc", Revision: 0 });
 * assert.deepEqual(decodeRollbackRequest('{"Name":"svc","Revision":9}'), { Name: "svc", Revision: 9 });
 * assert.throws(() => decodeRollbackRequest('{"Name":"svc","Revision":-1}'), /Revision/);
 * ```
 */
export function decodeRollbackRequest(text: string): Required<RollbackRequest> {
  const value = parseJsonObject(text, "rollback request");
  if (typeof value.Name !== "string") {
    throw new MalformedMessageError("rollback request needs Name");
  }
  const revision = value.Revision ?? 0;
  if (typeof revision !== "number" || !Number.isSafeInteger(revision) || revision < 0) {
    throw new MalformedMessageError("rollback request: Revision must be an integer >= 0");
  }
  return { Name: validateServiceName(value.Name), Revision: revision };
}

/**
 * The `/rollback/0.1` answer: `Rolled back <name> to revision <n>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeRollbackResponse } from "./messages.ts";
 * assert.equal(encodeRollbackResponse("svc", 12), "Rolled back svc to revision 12");
 * ```
 */
export function encodeRollbackResponse(name: string, revision: number): string {
  return `Rolled back ${name} to revision ${revision}`;
}

/**
 * Decodes a `/rollback/0.1` success answer.
 *
 * @throws {MalformedMessageError} For any other answer (an `Error: …` one included).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeRollbackResponse } from "./messages.ts";
 * assert.deepEqual(decodeRollbackResponse("Rolled back my svc to revision 12"), {
 *   Name: "my svc",
 *   Revision: 12,
 * });
 * assert.throws(() => decodeRollbackResponse('Error: no such service "x"'));
 * ```
 */
export function decodeRollbackResponse(text: string): { Name: string; Revision: number } {
  const match = /^Rolled back (.+) to revision (\d+)$/s.exec(text);
  if (!match) {
    throw new MalformedMessageError(`unexpected rollback response: ${text.slice(0, 120)}`);
  }
  return { Name: match[1], Revision: Number(match[2]) };
}

/** The `/chown/0.1` request. */
export interface ChownRequest {
  /** Service name. */
  Name: string;
  /** Peer id of the new owner. */
  Owner: string;
}

/**
 * Encodes a `/chown/0.1` request.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeChownRequest } from "./messages.ts";
 * assert.equal(encodeChownRequest({ Name: "s", Owner: "12D3KooW" }), '{"Name":"s","Owner":"12D3KooW"}');
 * ```
 */
export function encodeChownRequest(request: ChownRequest): string {
  return JSON.stringify({ Name: request.Name, Owner: request.Owner });
}

/**
 * Decodes a `/chown/0.1` request: the name is checked and NFC-normalized,
 * the owner must be a peer id (returned in its canonical text form).
 *
 * @throws {MalformedMessageError} When the payload is not a chown request.
 * @throws {InvalidValueError} When the name or the owner is refused.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeChownRequest } from "./messages.ts";
 * const owner = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
 * assert.deepEqual(decodeChownRequest(JSON.stringify({ Name: "s", Owner: owner })), {
 *   Name: "s",
 *   Owner: owner,
 * });
 * assert.throws(() => decodeChownRequest('{"Name":"s","Owner":"me"}'), /not a peer id/);
 * ```
 */
export function decodeChownRequest(text: string): ChownRequest {
  const value = parseJsonObject(text, "chown request");
  if (typeof value.Name !== "string" || typeof value.Owner !== "string") {
    throw new MalformedMessageError("chown request needs Name and Owner (strings)");
  }
  return { Name: validateServiceName(value.Name), Owner: validatePeerId(value.Owner) };
}

/**
 * Checks a peer id given as text and returns its canonical form.
 *
 * @throws {InvalidValueError} When it is not a peer id.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validatePeerId } from "./messages.ts";
 * const id = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
 * assert.equal(validatePeerId(id), id);
 * assert.throws(() => validatePeerId("12D3KooWFAKE"), /not a peer id/);
 * ```
 */
export function validatePeerId(text: string): string {
  try {
    return peerIdFromString(text).toString();
  } catch (cause) {
    throw new InvalidValueError(`not a peer id: ${JSON.stringify(text.slice(0, 100))}`, {
      cause,
    });
  }
}

/**
 * The `/chown/0.1` answer: `Owner of <name> is now <peer id>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeChownResponse } from "./messages.ts";
 * assert.equal(encodeChownResponse("svc", "12D3KooWB"), "Owner of svc is now 12D3KooWB");
 * ```
 */
export function encodeChownResponse(name: string, owner: string): string {
  return `Owner of ${name} is now ${owner}`;
}

/**
 * Decodes a `/chown/0.1` success answer.
 *
 * @throws {MalformedMessageError} For any other answer (an `Error: …` one included).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeChownResponse } from "./messages.ts";
 * assert.deepEqual(decodeChownResponse("Owner of svc is now 12D3KooWB"), {
 *   Name: "svc",
 *   Owner: "12D3KooWB",
 * });
 * ```
 */
export function decodeChownResponse(text: string): ChownRequest {
  const match = /^Owner of (.+) is now (\S+)$/s.exec(text);
  if (!match) throw new MalformedMessageError(`unexpected chown response: ${text.slice(0, 120)}`);
  return { Name: match[1], Owner: match[2] };
}

/** The `/watch/0.1` request: one service or all, from a revision or from a snapshot. */
export interface WatchRequest {
  /** Watch only this service; every service when omitted. */
  Name?: string;
  /** Send every change after this revision instead of a snapshot first. */
  FromRevision?: number;
}

/** One line of a `/watch/0.1` answer. */
export type WatchEvent =
  | { Type: "put"; Name: string; InfoStr: string; Revision: number }
  | { Type: "delete"; Name: string; Revision: number }
  | { Type: "synced"; Revision: number }
  | { Type: "ping"; Revision: number }
  | { Type: "reset" }
  | { Type: "error"; Message: string };

/**
 * Encodes a `/watch/0.1` request (fields left out when not given).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeWatchRequest } from "./messages.ts";
 * assert.equal(encodeWatchRequest({}), "{}");
 * assert.equal(encodeWatchRequest({ Name: "svc", FromRevision: 7 }), '{"Name":"svc","FromRevision":7}');
 * ```
 */
export function encodeWatchRequest(request: WatchRequest): string {
  return JSON.stringify({
    ...(request.Name !== undefined ? { Name: request.Name } : {}),
    ...(request.FromRevision !== undefined ? { FromRevision: request.FromRevision } : {}),
  });
}

/**
 * Decodes a `/watch/0.1` request: the name is checked and NFC-normalized,
 * `FromRevision` must be an integer >= 0.
 *
 * @throws {MalformedMessageError} When the payload is not a watch request.
 * @throws {InvalidValueError} When the name is refused.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeWatchRequest } from "./messages.ts";
 * assert.deepEqual(decodeWatchRequest("{}"), {});
 * assert.deepEqual(decodeWatchRequest('{"Name":"cafe\u0301"}'), { Name: "caf\u00e9" });
 * assert.deepEqual(decodeWatchRequest('{"FromRevision":12}'), { FromRevision: 12 });
 * assert.throws(() => decodeWatchRequest('{"FromRevision":-1}'), /FromRevision/);
 * assert.throws(() => decodeWatchRequest('{"Name":"a/b"}'), /invalid service name/);
 * ```
 */
export function decodeWatchRequest(text: string): WatchRequest {
  const value = parseJsonObject(text === "" ? "{}" : text, "watch request");
  const request: WatchRequest = {};
  if (value.Name !== undefined) {
    if (typeof value.Name !== "string") {
      throw new MalformedMessageError("watch request: Name must be a string");
    }
    request.Name = validateServiceName(value.Name);
  }
  if (value.FromRevision !== undefined) {
    const from = value.FromRevision;
    if (typeof from !== "number" || !Number.isSafeInteger(from) || from < 0) {
      throw new MalformedMessageError("watch request: FromRevision must be an integer >= 0");
    }
    request.FromRevision = from;
  }
  return request;
}

/**
 * One line of a `/watch/0.1` answer, newline included.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeWatchEvent } from "./messages.ts";
 * assert.equal(encodeWatchEvent({ Type: "synced", Revision: 9 }), '{"Type":"synced","Revision":9}\n');
 * ```
 */
export function encodeWatchEvent(event: WatchEvent): string {
  return JSON.stringify(event) + "\n";
}

/**
 * Decodes one line of a `/watch/0.1` answer.
 *
 * @throws {MalformedMessageError} When the line is not a watch event.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeWatchEvent } from "./messages.ts";
 * assert.deepEqual(decodeWatchEvent('{"Type":"delete","Name":"s","Revision":4}'), {
 *   Type: "delete",
 *   Name: "s",
 *   Revision: 4,
 * });
 * assert.throws(() => decodeWatchEvent('{"Type":"put","Name":"s","Revision":4}'), /InfoStr/);
 * ```
 */
export function decodeWatchEvent(line: string): WatchEvent {
  const value = parseJsonObject(line, "watch event");
  const revision = () => {
    if (typeof value.Revision !== "number" || !Number.isSafeInteger(value.Revision)) {
      throw new MalformedMessageError(`watch event ${value.Type} needs Revision (an integer)`);
    }
    return value.Revision;
  };
  const name = () => {
    if (typeof value.Name !== "string") {
      throw new MalformedMessageError(`watch event ${value.Type} needs Name (a string)`);
    }
    return value.Name;
  };
  switch (value.Type) {
    case "put":
      if (typeof value.InfoStr !== "string") {
        throw new MalformedMessageError("watch event put needs InfoStr (a string)");
      }
      return { Type: "put", Name: name(), InfoStr: value.InfoStr, Revision: revision() };
    case "delete":
      return { Type: "delete", Name: name(), Revision: revision() };
    case "synced":
    case "ping":
      return { Type: value.Type, Revision: revision() };
    case "reset":
      return { Type: "reset" };
    case "error":
      return { Type: "error", Message: String(value.Message ?? "") };
    default:
      throw new MalformedMessageError(`unknown watch event type ${JSON.stringify(value.Type)}`);
  }
}
