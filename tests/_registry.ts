/**
 * Test helpers: registry-service processes (shared with the benchmarks in
 * `scripts/`, which do not import from `tests/`).
 */
export * from "../scripts/_registry.ts";
