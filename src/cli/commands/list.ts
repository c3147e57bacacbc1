/**
 * `registry-cli list`: print every service.
 *
 * @module
 */
import type { Command } from "../command.ts";
import { escapeInvisible, quoteName } from "../quote.ts";

/** The `list` command. */
export const listCommand: Command = {
  name: "list",
  args: [],
  summary: "show every service",
  description: 'Prints "Response:" and one line per service:\n' +
    "Service Name: <name>, Info: <json>\n" +
    'A name with a space, ", \\, "," or an invisible character is quoted, with \\", \\\\ and\n' +
    "\\uXXXX escapes (as git quotes paths): no name passes for two entries or another.\n" +
    'With -json, {"services": {<name>: <info>, …}, "invalid": {<name>: <reason>, …}}.\n' +
    "Entries that are not a valid ServiceInfo (written by an older or foreign\n" +
    "instance) are skipped with a warning on stderr naming each one (with -json, they\n" +
    'are in "invalid"); they do not make the command fail. With no service to print,\n' +
    'stdout has just "Response:" and stderr says "no services registered".',
  flags: {},
  async run(_args, _flags, ctx) {
    const signal = AbortSignal.timeout(ctx.timeoutMs);
    const { services, invalid } = await (await ctx.client(signal)).listDetailed(signal);
    for (const [name, reason] of Object.entries(invalid)) {
      ctx.io.stderr(
        escapeInvisible(
          `registry-cli: warning: skipped invalid entry ${JSON.stringify(name)}: ${reason}`,
        ),
      );
    }
    if (ctx.json) {
      ctx.io.stdout(JSON.stringify({ services, invalid }));
      return 0;
    }
    const lines = Object.entries(services).map(([name, info]) =>
      `Service Name: ${quoteName(name)}, Info: ${escapeInvisible(JSON.stringify(info))}`
    );
    ctx.io.stdout(["Response:", ...lines].join("\n"));
    // Stdout keeps its format (no line is no service); the person reading is told on stderr.
    if (lines.length === 0) {
      const skipped = Object.keys(invalid).length;
      ctx.io.stderr(
        skipped === 0
          ? "registry-cli: no services registered"
          : `registry-cli: no valid services registered (${skipped} invalid skipped)`,
      );
    }
    return 0;
  },
};
