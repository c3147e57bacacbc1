/**
 * Errors the client library throws for callers to catch.
 *
 * @module
 */

/** The registry has no entry under the requested name. */
export class ServiceNotFoundError extends Error {
  /** The name that was looked up. */
  readonly serviceName: string;
  /**
   * @param serviceName The name that was looked up.
   */
  constructor(serviceName: string) {
    super(`service "${serviceName}" not found in the registry`);
    this.name = "ServiceNotFoundError";
    this.serviceName = serviceName;
  }
}

/** No registry-service could be reached (after discovery and retries). */
export class RegistryUnreachableError extends Error {
  /**
   * @param message What was tried.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RegistryUnreachableError";
  }
}

/** A registry-service received the request and refused it (reset the stream or answered an error). */
export class RequestRefusedError extends Error {
  /**
   * @param message What was refused and by whom.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RequestRefusedError";
  }
}
