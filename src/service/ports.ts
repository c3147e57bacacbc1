/**
 * Checking, before anything starts, that the ports the service will listen
 * on are free, so that a clash is one clear error naming the address and
 * the flag, not a failure halfway through start-up.
 *
 * @module
 */

/** Thrown when a port the service needs is taken or cannot be bound. */
export class PortUnavailableError extends Error {
  /**
   * @param message The address, what it is for and the flag that sets it.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PortUnavailableError";
  }
}

/** One address the service will listen on. */
export interface PlannedListener {
  /** Host to bind. */
  hostname: string;
  /** Port (0, an OS-chosen port, is never checked). */
  port: number;
  /** What listens there, e.g. "etcd client port". */
  what: string;
  /** The flag that sets it, without the dash. */
  flag: string;
}

/**
 * Throws {@linkcode PortUnavailableError} for the first listener whose
 * address is in use (or not an address of this machine). The check binds
 * and releases each address, so it can still lose a race with another
 * process; the listener's own error then follows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { assertPortsFree, PortUnavailableError } from "./ports.ts";
 * const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const port = (taken.addr as Deno.NetAddr).port;
 * assert.throws(
 *   () => assertPortsFree([{ hostname: "127.0.0.1", port, what: "metrics", flag: "prom-listen-addr" }]),
 *   (err: Error) => err instanceof PortUnavailableError && /-prom-listen-addr/.test(err.message),
 * );
 * taken.close();
 * ```
 */
export function assertPortsFree(listeners: readonly PlannedListener[]): void {
  for (const { hostname, port, what, flag } of listeners) {
    if (port === 0) continue;
    const address = `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
    try {
      Deno.listen({ hostname, port }).close();
    } catch (err) {
      const reason = err instanceof Deno.errors.AddrInUse
        ? "is already in use"
        : err instanceof Deno.errors.AddrNotAvailable
        ? "is not an address of this machine"
        : `cannot be listened on (${(err as Error).message})`;
      throw new PortUnavailableError(`${what} ${address} ${reason}: change it with -${flag}`, {
        cause: err,
      });
    }
  }
}

/**
 * The TCP listeners of libp2p listen multiaddrs (`/ip4|ip6/<ip>/tcp/<port>`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listenersOfMultiaddrs } from "./ports.ts";
 * assert.deepEqual(listenersOfMultiaddrs(["/ip4/127.0.0.1/tcp/4001"]), [
 *   { hostname: "127.0.0.1", port: 4001, what: "libp2p listen address", flag: "listen" },
 * ]);
 * ```
 */
export function listenersOfMultiaddrs(addrs: readonly string[]): PlannedListener[] {
  return addrs.flatMap((addr) => {
    const match = /^\/ip[46]\/([^/]+)\/tcp\/(\d+)(\/|$)/.exec(addr);
    return match
      ? [{
        hostname: match[1],
        port: Number(match[2]),
        what: "libp2p listen address",
        flag: "listen",
      }]
      : [];
  });
}
