/**
 * `registry-cli delete <service-name>`: remove a service.
 *
 * @module
 */
import { type Command, serviceNameArg } from "../command.ts";

/** The `delete` command. */
export const deleteCommand: Command = {
  name: "delete",
  args: ["<service-name>"],
  summary: "remove a service",
  description: 'Prints "Response:" and the registry-service\'s answer (with -json,\n' +
    '{"deleted": <name>, "response": <answer>}). Exits 1 when nothing was deleted.',
  flags: {},
  async run([name], _flags, ctx) {
    serviceNameArg(name, "delete");
    const signal = AbortSignal.timeout(ctx.timeoutMs);
    const answer = await (await ctx.client(signal)).delete(name, signal);
    ctx.io.stdout(
      ctx.json ? JSON.stringify({ deleted: name, response: answer }) : `Response:\n${answer}`,
    );
    return 0;
  },
};
