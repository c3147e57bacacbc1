/**
 * Go-style durations for flags: `10s`, `500ms`, `1m30s`, `1.5h`.
 *
 * @module
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * Parses a Go-style duration into milliseconds: one or more `<number><unit>`
 * with units `ms`, `s`, `m` or `h` (a bare `0` is zero). Throws a
 * `RangeError` naming the expected form otherwise; the caller names the flag.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDuration } from "./duration.ts";
 * assert.equal(parseDuration("10s"), 10_000);
 * assert.equal(parseDuration("1m30s"), 90_000);
 * assert.equal(parseDuration("500ms"), 500);
 * assert.throws(() => parseDuration("10"), /not a duration/);
 * ```
 */
export function parseDuration(text: string): number {
  if (text === "0") return 0;
  const part = /(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h)/y;
  let total = 0;
  let index = 0;
  while (index < text.length) {
    part.lastIndex = index;
    const match = part.exec(text);
    if (!match) break;
    total += Number(match[1]) * UNIT_MS[match[2]];
    index = part.lastIndex;
  }
  if (text === "" || index !== text.length) {
    throw new RangeError(`"${text}" is not a duration (examples: 500ms, 10s, 1m30s)`);
  }
  return total;
}
