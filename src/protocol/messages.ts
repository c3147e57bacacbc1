/**
 * Encoders and decoders for the registry's request and response payloads
 * (SPEC §3). Payloads are UTF-8 text; JSON field names are exact.
 *
 * @module
 */

/**
 * Thrown when a payload does not have the form its protocol requires.
 *
 * @example
 * ```ts ignore
 * import { MalformedMessageError } from "@physarum/registry";
 * console.assert(new MalformedMessageError("bad") instanceof Error);
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
 * Checks a service name: non-empty, at most 1,024 characters, no control
 * characters and no surrounding white space (the server trims requests, so
 * such a name could never be read back).
 *
 * @example
 * ```ts
 * import { validateServiceName } from "./messages.ts";
 * console.assert(validateServiceName("my-service") === "my-service");
 * ```
 */
export function validateServiceName(name: string): string {
  if (name === "") throw new MalformedMessageError("service name is empty");
  if (name.length > 1024) throw new MalformedMessageError("service name is over 1024 characters");
  if (name.trim() !== name) {
    throw new MalformedMessageError("service name has leading or trailing white space");
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) {
    throw new MalformedMessageError("service name contains control characters");
  }
  return name;
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
 * import { encodeAddRequest } from "./messages.ts";
 * console.assert(encodeAddRequest({ Name: "a", InfoStr: "{}" }) === '{"Name":"a","InfoStr":"{}"}');
 * ```
 */
export function encodeAddRequest(request: AddRequest): string {
  return JSON.stringify({ Name: request.Name, InfoStr: request.InfoStr });
}

/**
 * Decodes an `/add/0.1` request. `InfoStr` must itself be a JSON object
 * (it is stored verbatim, but garbage is refused).
 *
 * @example
 * ```ts
 * import { decodeAddRequest } from "./messages.ts";
 * console.assert(decodeAddRequest('{"Name":"a","InfoStr":"{}"}').Name === "a");
 * ```
 */
export function decodeAddRequest(text: string): AddRequest {
  const value = parseJsonObject(text, "add request");
  if (typeof value.Name !== "string") throw new MalformedMessageError("add request needs Name");
  if (typeof value.InfoStr !== "string") {
    throw new MalformedMessageError("add request needs InfoStr (a JSON string)");
  }
  validateServiceName(value.Name);
  parseJsonObject(value.InfoStr, "InfoStr");
  return { Name: value.Name, InfoStr: value.InfoStr };
}

/**
 * The `/add/0.1` answer: `Added {<name>: <InfoStr>}`.
 *
 * @example
 * ```ts
 * import { encodeAddResponse } from "./messages.ts";
 * console.assert(encodeAddResponse({ Name: "a", InfoStr: "{}" }) === "Added {a: {}}");
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
 * import { encodeGetResponse } from "./messages.ts";
 * console.assert(encodeGetResponse(undefined) === '{"InfoStr":"","LookupOk":false}');
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
 * import { decodeGetResponse } from "./messages.ts";
 * console.assert(decodeGetResponse('{"InfoStr":"{}","LookupOk":true}').LookupOk);
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
 * import { encodeListResponse } from "./messages.ts";
 * console.assert(encodeListResponse([]) === '{"NameToInfoStr":{},"LookupOk":false}');
 * ```
 */
export function encodeListResponse(entries: Iterable<readonly [string, string]>): string {
  const map: Record<string, string> = {};
  let count = 0;
  for (const [name, info] of entries) {
    map[name] = info;
    count++;
  }
  return JSON.stringify({ NameToInfoStr: map, LookupOk: count > 0 });
}

/**
 * Decodes a `/list/0.1` response.
 *
 * @example
 * ```ts
 * import { decodeListResponse } from "./messages.ts";
 * const res = decodeListResponse('{"NameToInfoStr":{"a":"{}"},"LookupOk":true}');
 * console.assert(res.NameToInfoStr.a === "{}");
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
 * import { encodeDeleteResponse } from "./messages.ts";
 * console.assert(encodeDeleteResponse(1) === "Deleted 1 entry from hash lookup");
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
 * import { decodeDeleteResponse } from "./messages.ts";
 * console.assert(decodeDeleteResponse("Deleted 1 entry from hash lookup") === 1);
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
 * import { encodeMemberAddRequest } from "./messages.ts";
 * const text = encodeMemberAddRequest({ MemberName: "n", MemberPeerUrl: "http://1.2.3.4:2380" });
 * console.assert(text.includes('"MemberPeerUrl"'));
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
 * import { decodeMemberAddRequest } from "./messages.ts";
 * const req = decodeMemberAddRequest('{"MemberName":"n","MemberPeerUrl":"http://127.0.0.1:2380"}');
 * console.assert(req.MemberName === "n");
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
