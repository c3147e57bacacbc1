/**
 * Statistics the benchmark scripts share.
 *
 * @module
 */

/**
 * The `p` quantile (0..1) of `samples`, by nearest rank; `samples` is not
 * modified.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { percentile } from "./_stats.ts";
 * assert.ok(percentile([3, 1, 2], 0.5) === 2);
 * ```
 */
export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}
