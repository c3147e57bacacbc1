/**
 * The operator endpoint: Prometheus `/metrics` and `/health` on one listener.
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
 * import { parseListenAddress } from "./http_server.ts";
 * const addr = parseListenAddress(":9102");
 * console.assert(addr.hostname === "0.0.0.0" && addr.port === 9102);
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
  /** Health to serve at `/health` (200 when healthy, else 503). */
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
 * Serves `/metrics` and `/health`.
 *
 * @example
 * ```ts
 * import { Registry } from "prom-client";
 * import { startHttpServer } from "./http_server.ts";
 * const server = startHttpServer({
 *   address: { hostname: "127.0.0.1", port: 0 },
 *   registry: new Registry(),
 *   health: () => ({ healthy: true }),
 * });
 * const res = await fetch(`http://127.0.0.1:${server.address.port}/health`);
 * console.assert(res.status === 200);
 * await res.body?.cancel();
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
    return new Response("not found: try /metrics or /health\n", { status: 404 });
  });
  const addr = server.addr as Deno.NetAddr;
  return {
    address: { hostname: addr.hostname, port: addr.port },
    stop: () => server.shutdown(),
  };
}
