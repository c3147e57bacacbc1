/**
 * `registry-cli get <service-name>`: print a service's entry.
 *
 * @module
 */
import { type Command, serviceNameArg } from "../command.ts";
import { escapeInvisible } from "../quote.ts";

/** The `get` command. */
export const getCommand: Command = {
  name: "get",
  args: ["<service-name>"],
  summary: "show a service's entry",
  description:
    'Prints "Response:" and the service\'s ServiceInfo JSON (with -json, the JSON only).\n' +
    "Exits 1 when the service is not registered.",
  flags: {},
  async run([name], _flags, ctx) {
    serviceNameArg(name, "get");
    const signal = AbortSignal.timeout(ctx.timeoutMs);
    const info = await (await ctx.client(signal)).get(name, signal);
    // Extra keys of an entry may hold bidi or invisible characters: escaped, as list does.
    ctx.io.stdout(
      ctx.json ? JSON.stringify(info) : `Response:\n${escapeInvisible(JSON.stringify(info))}`,
    );
    return 0;
  },
};
