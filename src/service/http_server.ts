/**
 * The operator endpoint: Prometheus `/metrics`, `/health` and the probes
 * `/livez` and `/readyz` on one listener.
 *
 * @module
 */
import type { Registry } from "prom-client";

/** A `host:port` address split for listening. */
export interface ListenAddress {
  /** Host to bind (`0.0.0.0` when the address starts with `:`). */
  hostname: string;
  /** Port (0 for an OS-chosen one). */
  port: number;
}

/**
 * Parses a Go-style listen address (`:9102`, `127.0.0.1:9102`, `[::1]:9102`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseListenAddress } from "./http_server.ts";
 * assert.deepEqual(parseListenAddress(":9102"), { hostname: "0.0.0.0", port: 9102 });
 * ```
 */
export function parseListenAddress(text: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    throw new RangeError(`invalid listen address "${text}": expected host:port, e.g. :9102`);
  }
  return { hostname: match[1] ?? (match[2] || "0.0.0.0"), port };
}

/** What `/health` reports. */
export interface HealthReport {
  /** Whether the service can answer requests. */
  healthy: boolean;
  /** Details shown to the operator. */
  [detail: string]: unknown;
}

/** Components for {@linkcode startHttpServer}. */
export interface HttpServerInit {
  /** Where to listen. */
  address: ListenAddress;
  /** Metrics to serve at `/metrics`. */
  registry: Registry;
  /**
   * Health to serve at `/health`, `/healthz` and `/readyz` (200 when
   * healthy, else 503). The server starts once the service serves, so
   * healthy means ready: serving with a committed view.
   */
  health: () => HealthReport | Promise<HealthReport>;
}

/** A running operator endpoint. */
export interface HttpServer {
  /** The bound address (with the OS-chosen port). */
  readonly address: ListenAddress;
  /** Stops listening. */
  stop(): Promise<void>;
}

/**
 * Serves `/metrics`; `/health` (and `/healthz`) with the health report as
 * JSON; `/readyz` with `ready` or the reason it is not; `/livez`, 200 while
 * the process serves at all.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Registry } from "prom-client";
 * import { startHttpServer } from "./http_server.ts";
 * const server = startHttpServer({
 *   address: { hostname: "127.0.0.1", port: 0 },
 *   registry: new Registry(),
 *   health: () => ({ healthy: true }),
 * });
 * const res = await fetch(`http://127.0.0.1:${server.address.port}/readyz`);
 * assert.equal(res.status, 200);
 * assert.equal(await res.text(), "ready\n");
 * await server.stop();
 * ```
 */
export function startHttpServer(init: HttpServerInit): HttpServer {
  const server = Deno.serve({
    hostname: init.address.hostname,
    port: init.address.port,
    onListen: () => {},
  }, async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/metrics") {
      return new Response(await init.registry.metrics(), {
        headers: { "content-type": init.registry.contentType },
      });
    }
    if (path === "/health" || path === "/healthz") {
      const report = await init.health();
      return Response.json(report, { status: report.healthy ? 200 : 503 });
    }
    if (path === "/readyz") {
      const report = await init.health();
      return report.healthy
        ? new Response("ready\n")
        : new Response(`not ready: ${report.reason ?? "unhealthy"}\n`, { status: 503 });
    }
    if (path === "/livez") return new Response("live\n");
    return new Response("not found: try /metrics, /health, /livez or /readyz\n", { status: 404 });
  });
  const addr = server.addr as Deno.NetAddr;
  return {
    address: { hostname: addr.hostname, port: addr.port },
    stop: () => server.shutdown(),
  };
}
