/**
 * Errors the client library throws for callers to catch.
 *
 * @module
 */

/**
 * The registry has no entry under the requested name.
 *
 * @example
 * ```ts ignore
 * import { getService, ServiceNotFoundError } from "@physarum/registry";
 * try {
 *   await getService("missing", { bootstraps: [addr], psk: "secret" });
 * } catch (err) {
 *   if (err instanceof ServiceNotFoundError) console.log(`${err.serviceName} is not registered`);
 * }
 * ```
 */
export class ServiceNotFoundError extends Error {
  /** The name that was looked up. */
  readonly serviceName: string;
  /**
   * Creates the error.
   *
   * @param serviceName The name that was looked up.
   */
  constructor(serviceName: string) {
    super(`service "${serviceName}" not found in the registry`);
    this.name = "ServiceNotFoundError";
    this.serviceName = serviceName;
  }
}

/**
 * No registry-service could be reached (after discovery and retries).
 *
 * @example
 * ```ts ignore
 * import { listServices, RegistryUnreachableError } from "@physarum/registry";
 * try {
 *   await listServices({ bootstraps: [addr], psk: "secret" });
 * } catch (err) {
 *   if (err instanceof RegistryUnreachableError) console.log("no registry-service answered");
 * }
 * ```
 */
export class RegistryUnreachableError extends Error {
  /**
   * Creates the error.
   *
   * @param message What was tried.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RegistryUnreachableError";
  }
}

/**
 * A registry-service received the request and refused it (reset the stream or answered an error).
 *
 * @example
 * ```ts ignore
 * import { addService, RequestRefusedError } from "@physarum/registry";
 * try {
 *   await addService("svc", info, { bootstraps: [addr], psk: "secret" });
 * } catch (err) {
 *   if (err instanceof RequestRefusedError) console.log(`refused: ${err.message}`);
 * }
 * ```
 */
export class RequestRefusedError extends Error {
  /**
   * Creates the error.
   *
   * @param message What was refused and by whom.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RequestRefusedError";
  }
}

/**
 * A registry-service answered a write (add, delete, rollback, chown) with
 * an `Error: …` text: not authorized (the name has another owner), an
 * invalid entry or name, an unknown name. Nothing was changed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RequestRefusedError, WriteRefusedError } from "./errors.ts";
 * const answer = 'Error: not authorized: "svc" is owned by 12D3KooWA; only its owner or an admin may change it';
 * const err = new WriteRefusedError("/add/0.1", answer);
 * assert.ok(err instanceof RequestRefusedError);
 * assert.equal(err.answer, answer);
 * assert.equal(err.message, answer);
 * ```
 */
export class WriteRefusedError extends RequestRefusedError {
  /** The protocol of the refused write (`/add/0.1`, ...). */
  readonly protocol: string;
  /** The service's whole answer, `Error: …`. */
  readonly answer: string;
  /**
   * Creates the error.
   *
   * @param protocol The protocol of the refused write.
   * @param answer The service's answer.
   */
  constructor(protocol: string, answer: string) {
    super(answer.trim());
    this.name = "WriteRefusedError";
    this.protocol = protocol;
    this.answer = answer;
  }
}
