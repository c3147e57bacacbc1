/**
 * The record the registry keeps for each microservice.
 *
 * @module
 */

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
 * import type { ServiceInfo } from "./service_info.ts";
 * const info: ServiceInfo = {
 *   ContentHash: "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
 *   DockerHash: "localhost:5000/team/svc@sha256:00",
 *   NetworkSoftReq: { RTT: 100 },
 *   NetworkHardReq: { RTT: 200 },
 *   CpuReq: 20,
 *   MemoryReq: 1000,
 * };
 * console.assert(JSON.stringify(info).startsWith('{"ContentHash"'));
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
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new InvalidServiceInfoError(`${field} must be an integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function requireNetwork(value: unknown, field: string): NetworkRequirements {
  if (!isObject(value)) {
    throw new InvalidServiceInfoError(`${field} must be an object like {"RTT": 100}`);
  }
  return { ...value, RTT: requireInteger(value.RTT, `${field}.RTT`) };
}

/**
 * Checks that `value` has the shape of a {@linkcode ServiceInfo} and returns
 * it typed. Unknown fields are kept (newer clients may add fields).
 *
 * @example
 * ```ts
 * import { validateServiceInfo } from "./service_info.ts";
 * const info = validateServiceInfo({
 *   ContentHash: "Qm...", DockerHash: "r/s@sha256:00",
 *   NetworkSoftReq: { RTT: 100 }, NetworkHardReq: { RTT: 200 }, CpuReq: 20, MemoryReq: 1000,
 * });
 * console.assert(info.CpuReq === 20);
 * ```
 */
export function validateServiceInfo(value: unknown): ServiceInfo {
  if (!isObject(value)) throw new InvalidServiceInfoError("ServiceInfo must be a JSON object");
  for (const field of ["ContentHash", "DockerHash"]) {
    if (typeof value[field] !== "string") {
      throw new InvalidServiceInfoError(`${field} must be a string`);
    }
  }
  return {
    ...value,
    ContentHash: value.ContentHash as string,
    DockerHash: value.DockerHash as string,
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
 * import { parseServiceInfo } from "./service_info.ts";
 * const info = parseServiceInfo(
 *   '{"ContentHash":"Qm","DockerHash":"a@sha256:1","NetworkSoftReq":{"RTT":1},' +
 *     '"NetworkHardReq":{"RTT":2},"CpuReq":3,"MemoryReq":4}',
 * );
 * console.assert(info.NetworkHardReq.RTT === 2);
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
