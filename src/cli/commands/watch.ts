/**
 * `registry-cli watch [<service-name>] [-from <revision>]`: print each change
 * as it commits until interrupted.
 *
 * @module
 */
import type { Command } from "../command.ts";
import { serviceNameArg } from "../command.ts";
import { UsageError } from "../errors.ts";
import { escapeInvisible, quoteName } from "../quote.ts";
import type { ServiceChange } from "../../client/watch.ts";

/** The `watch` command. */
export const watchCommand: Command = {
  name: "watch",
  args: ["[service-name]"],
  summary: "print changes of every service, or of one, as they happen",
  description: "Prints the current entries, a synced line, then one line per change until\n" +
    "interrupted (Ctrl-C exits 0): put <name> <revision> <InfoStr>, delete <name> <revision>,\n" +
    "synced <revision>; reset when -from is older than the registry keeps (the current\n" +
    "entries follow). With -from, every change after that revision comes first instead of\n" +
    'the entries. A name with a space, ", \\, "," or an invisible character is quoted,\n' +
    'with \\", \\\\ and \\uXXXX escapes (as git quotes paths), so that it reads as one name.\n' +
    'With -json, one object per line: {"Type", "Name", "InfoStr", "Revision"}.\n' +
    "It reconnects by itself (through another registry-service if needed) without missing\n" +
    "or repeating a change.",
  flags: {
    from: {
      type: "string",
      description: "print every change after this revision first",
      valueName: "revision",
    },
  },
  async run([name], flags, ctx) {
    if (name !== undefined) serviceNameArg(name, "watch");
    const from = flags.from as string | undefined;
    if (from !== undefined && !/^\d+$/.test(from)) {
      throw new UsageError(`-from must be a revision (an integer >= 0), got "${from}"`, "watch");
    }
    const stop = new AbortController();
    const removeListener = ctx.io.onInterrupt?.(() => stop.abort()) ?? (() => {});
    try {
      const client = await ctx.client(
        AbortSignal.any([AbortSignal.timeout(ctx.timeoutMs), stop.signal]),
      );
      const changes = client.watch({
        name,
        fromRevision: from === undefined ? undefined : Number(from),
        signal: stop.signal,
      });
      for await (const change of changes) {
        ctx.io.stdout(ctx.json ? changeJson(change) : changeLine(change));
      }
    } catch (err) {
      if (!stop.signal.aborted) throw err;
    } finally {
      removeListener();
    }
    return 0;
  },
};

/** A change as the protocol's JSON line. */
function changeJson(change: ServiceChange): string {
  switch (change.type) {
    case "put":
      return JSON.stringify({
        Type: "put",
        Name: change.name,
        InfoStr: change.infoStr,
        Revision: change.revision,
      });
    case "delete":
      return JSON.stringify({ Type: "delete", Name: change.name, Revision: change.revision });
    case "synced":
      return JSON.stringify({ Type: "synced", Revision: change.revision });
    case "reset":
      return JSON.stringify({ Type: "reset" });
  }
}

/** A change as one line of text (names quoted, entries escaped: a service could send anything). */
function changeLine(change: ServiceChange): string {
  switch (change.type) {
    case "put":
      return `put ${quoteName(change.name)} ${change.revision} ${escapeInvisible(change.infoStr)}`;
    case "delete":
      return `delete ${quoteName(change.name)} ${change.revision}`;
    case "synced":
      return `synced ${change.revision}`;
    case "reset":
      return "reset";
  }
}
