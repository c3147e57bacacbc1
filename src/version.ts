/**
 * The package version, read from `deno.json` at build time: a JSON import is
 * inlined by `deno compile` and `deno bundle`, so the binaries need no file.
 *
 * @module
 */
import config from "../deno.json" with { type: "json" };

/**
 * The version of `@physarum/registry` (`deno.json`'s `version`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VERSION } from "./version.ts";
 * assert.match(VERSION, /^\d+\.\d+\.\d+/);
 * ```
 */
export const VERSION: string = config.version;
