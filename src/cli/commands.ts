/**
 * The table of `registry-cli` commands and the tool's global options. Adding
 * a command is one file in `commands/` and one line here; dispatch, argument
 * checks and help come from the table.
 *
 * @module
 */
import { type Command, commandSynopsis, commandUsage } from "./command.ts";
import { UsageError } from "./errors.ts";
import { type FlagSpecs, formatFlags } from "./flags.ts";
import { addCommand } from "./commands/add.ts";
import { chownCommand } from "./commands/chown.ts";
import { deleteCommand } from "./commands/delete.ts";
import { getCommand } from "./commands/get.ts";
import { helpCommand } from "./commands/help.ts";
import { historyCommand } from "./commands/history.ts";
import { listCommand } from "./commands/list.ts";
import { membersCommand } from "./commands/members.ts";
import { rollbackCommand } from "./commands/rollback.ts";
import { versionCommand } from "./commands/version.ts";
import { watchCommand } from "./commands/watch.ts";
import { whoamiCommand } from "./commands/whoami.ts";

/** Every command by name, in the order help lists them. */
export const COMMANDS: Readonly<Record<string, Command>> = {
  add: addCommand,
  get: getCommand,
  list: listCommand,
  delete: deleteCommand,
  history: historyCommand,
  rollback: rollbackCommand,
  chown: chownCommand,
  watch: watchCommand,
  members: membersCommand,
  whoami: whoamiCommand,
  help: helpCommand,
  version: versionCommand,
};

/**
 * The command called `name`. Only the table's own entries count, so
 * `constructor`, `__proto__` or `toString` are unknown commands like any other.
 *
 * @throws {UsageError} When there is no such command.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findCommand } from "./commands.ts";
 * assert.equal(findCommand("get").name, "get");
 * assert.throws(() => findCommand("constructor"), /unknown command "constructor"/);
 * ```
 */
export function findCommand(name: string): Command {
  if (!Object.hasOwn(COMMANDS, name)) throw new UsageError(`unknown command "${name}"`);
  return COMMANDS[name];
}

/** Global options, before the command. */
export const GLOBAL_FLAGS: FlagSpecs = {
  bootstrap: {
    type: "string",
    multiple: true,
    description: "bootstrap peer /ip4/<ip>/tcp/<port>/p2p/<id> (else env P2P_BOOTSTRAPS)",
    valueName: "multiaddr",
  },
  psk: {
    type: "string",
    description: "network passphrase (else -psk-file, else env P2P_PSK)",
    valueName: "passphrase",
  },
  "psk-file": {
    type: "string",
    description: "read the network passphrase from this file (keeps it off the command line)",
    valueName: "path",
  },
  keyfile: {
    type: "string",
    description: "the CLI's identity key file, created (mode 0600) on first use",
    valueName: "path",
    defaultText: "$XDG_CONFIG_HOME/physarum/registry-cli.key or ~/.config/…",
  },
  timeout: {
    type: "string",
    description: "time limit for reaching the registry and getting its answer, e.g. 3s, 500ms, " +
      "1m (else env P2P_TIMEOUT)",
    valueName: "duration",
    defaultText: "10s",
  },
  json: { type: "boolean", description: "print machine-readable JSON" },
  verbose: {
    type: "boolean",
    aliases: ["v"],
    description: "also print each retry while reaching the registry, and what it found",
  },
  version: { type: "boolean", description: "print the version" },
  help: { type: "boolean", aliases: ["h"], description: "show this help" },
};

/** How the tool is called, in one line. */
const TOOL_SYNOPSIS = "registry-cli [OPTIONS] <command> [options] <args>";

/**
 * The help of the command called `name`, or of the tool when `name` is omitted.
 *
 * @throws {UsageError} When there is no such command.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { usageOf } from "./commands.ts";
 * assert.match(usageOf(), /^Usage: registry-cli \[OPTIONS\] <command>/);
 * assert.match(usageOf("list"), /^Usage: registry-cli \[OPTIONS\] list/);
 * ```
 */
export function usageOf(name?: string): string {
  if (name !== undefined) return commandUsage(findCommand(name));
  const commands = Object.values(COMMANDS).map((c) => [
    [c.name, ...c.args].join(" "),
    c.summary,
  ]);
  const width = Math.max(...commands.map(([synopsis]) => synopsis.length)) + 3;
  return `Usage: ${TOOL_SYNOPSIS}

Commands:
${commands.map(([synopsis, summary]) => `  ${synopsis.padEnd(width)}${summary}`).join("\n")}

Options:
${formatFlags(GLOBAL_FLAGS)}

Run "registry-cli help <command>" for a command's options.
Exit codes: 0 success, 1 operation failed, 2 usage error.`;
}

/**
 * The one line a usage error ends with: the short usage of the command called
 * `name` (or of the tool) and where its help is. The whole usage would scroll
 * the error away.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { usageHint } from "./commands.ts";
 * assert.equal(
 *   usageHint("get"),
 *   'Usage: registry-cli [OPTIONS] get [options] <service-name> (see "registry-cli help get")',
 * );
 * assert.equal(
 *   usageHint(),
 *   'Usage: registry-cli [OPTIONS] <command> [options] <args> (see "registry-cli help")',
 * );
 * ```
 */
export function usageHint(name?: string): string {
  return name === undefined
    ? `Usage: ${TOOL_SYNOPSIS} (see "registry-cli help")`
    : `Usage: ${commandSynopsis(findCommand(name))} (see "registry-cli help ${name}")`;
}
