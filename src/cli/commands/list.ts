/**
 * `registry-cli list`: print every service.
 *
 * @module
 */
import type { Command } from "../command.ts";

/** The `list` command. */
export const listCommand: Command = {
  name: "list",
  args: [],
  summary: "show every service",
  description: 'Prints "Response:" and one line per service:\n' +
    "Service Name: <name>, Info: <json>\n" +
    "With -json, one JSON object of every entry by name.",
  flags: {},
  async run(_args, _flags, ctx) {
    const signal = AbortSignal.timeout(ctx.timeoutMs);
    const services = await (await ctx.client(signal)).list(signal);
    if (ctx.json) {
      ctx.io.stdout(JSON.stringify(services));
      return 0;
    }
    const lines = Object.entries(services).map(([name, info]) =>
      `Service Name: ${name}, Info: ${JSON.stringify(info)}`
    );
    ctx.io.stdout(["Response:", ...lines].join("\n"));
    return 0;
  },
};
