/**
 * `registry-cli version`: print the version.
 *
 * @module
 */
import type { Command } from "../command.ts";
import { VERSION } from "../../version.ts";

/** The `version` command (also `-version` / `--version` before any command). */
export const versionCommand: Command = {
  name: "version",
  args: [],
  summary: "print the version",
  description: 'Prints "registry-cli <version>" (with -json, {"version": <version>}).',
  flags: {},
  run(_args, _flags, ctx) {
    ctx.io.stdout(ctx.json ? JSON.stringify({ version: VERSION }) : `registry-cli ${VERSION}`);
    return Promise.resolve(0);
  },
};
