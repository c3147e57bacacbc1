/**
 * `registry-cli rollback <service-name> [-to <revision>]`: write an earlier
 * version of a service again.
 *
 * @module
 */
import { type Command, serviceNameArg } from "../command.ts";
import { UsageError } from "../errors.ts";

/** The `rollback` command. */
export const rollbackCommand: Command = {
  name: "rollback",
  args: ["<service-name>"],
  summary: "restore an earlier version of a service",
  description: 'Writes the version at -to <revision> (a revision from "registry-cli history")\n' +
    "again; without -to, the version before the current one. A rollback is a write:\n" +
    "only the owner or an admin may, and it is recorded in the history itself.\n" +
    'Prints "Response:" and the registry-service\'s answer (with -json,\n' +
    '{"name": <name>, "response": <answer>}). Exits 1 when refused.',
  flags: {
    to: { type: "string", description: "the revision to restore", valueName: "revision" },
  },
  async run([name], flags, ctx) {
    serviceNameArg(name, "rollback");
    const to = flags.to as string | undefined;
    const revision = to === undefined ? undefined : Number(to);
    if (revision !== undefined && (!/^[1-9]\d*$/.test(to!) || !Number.isSafeInteger(revision))) {
      throw new UsageError(`-to: "${to}" is not a revision (a positive integer)`, "rollback");
    }
    const signal = AbortSignal.timeout(ctx.timeoutMs);
    const answer = await (await ctx.client(signal)).rollback(name, revision, signal);
    ctx.io.stdout(ctx.json ? JSON.stringify({ name, response: answer }) : `Response:\n${answer}`);
    return 0;
  },
};
