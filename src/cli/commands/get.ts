/**
 * `registry-cli get <service-name>`: print a service's entry.
 *
 * @module
 */
import { type Command, serviceNameArg } from "../command.ts";

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
    ctx.io.stdout(ctx.json ? JSON.stringify(info) : `Response:\n${JSON.stringify(info)}`);
    return 0;
  },
};
