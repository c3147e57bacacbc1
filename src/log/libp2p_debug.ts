/**
 * libp2p's own debug output, on request only.
 *
 * @module
 */
import type { ComponentLogger } from "@libp2p/interface";

/**
 * libp2p's default (debug-style) logger when `DEBUG` is set, for example
 * `DEBUG=libp2p:*`; `undefined` otherwise, which leaves libp2p silent and
 * spares it a logger per stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { libp2pDebugLogger } from "./libp2p_debug.ts";
 * assert.ok(await libp2pDebugLogger({}) === undefined);
 * ```
 */
export async function libp2pDebugLogger(
  env: Record<string, string | undefined>,
): Promise<ComponentLogger | undefined> {
  if (!env.DEBUG) return undefined;
  const { defaultLogger } = await import("@libp2p/logger");
  return defaultLogger();
}
