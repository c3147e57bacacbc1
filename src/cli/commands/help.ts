/**
 * `registry-cli help [command]`: print the tool's or a command's help.
 *
 * @module
 */
import type { Command } from "../command.ts";

/** The `help` command (also `-h` / `-help` before or after any command). */
export const helpCommand: Command = {
  name: "help",
  args: ["[command]"],
  summary: "show this help, or a command's",
  description: "",
  flags: {},
  run([name], _flags, ctx) {
    // usage() refuses an unknown name with a usage error.
    ctx.io.stdout(ctx.usage(name));
    return Promise.resolve(0);
  },
};
