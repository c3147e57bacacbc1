/**
 * `registry-cli chown <service-name> <peer-id>`: give a service to another owner.
 *
 * @module
 */
import { type Command, serviceNameArg } from "../command.ts";
import { UsageError } from "../errors.ts";
import { validatePeerId } from "../../protocol/messages.ts";

/** The `chown` command. */
export const chownCommand: Command = {
  name: "chown",
  args: ["<service-name>", "<peer-id>"],
  summary: "give a service to another owner",
  description: 'Prints "Response:" and the registry-service\'s answer (with -json,\n' +
    '{"name": <name>, "owner": <peer id>, "response": <answer>}). The new owner\'s peer\n' +
    'id is what "registry-cli whoami" prints on their side. Exits 1 when refused.',
  flags: {},
  async run([name, owner], _flags, ctx) {
    serviceNameArg(name, "chown");
    let peerId: string;
    try {
      peerId = validatePeerId(owner);
    } catch (err) {
      throw new UsageError(`<peer-id>: ${(err as Error).message}`, "chown");
    }
    const signal = AbortSignal.timeout(ctx.timeoutMs);
    const answer = await (await ctx.client(signal)).chown(name, peerId, signal);
    ctx.io.stdout(
      ctx.json ? JSON.stringify({ name, owner: peerId, response: answer }) : `Response:\n${answer}`,
    );
    return 0;
  },
};
