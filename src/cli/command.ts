/**
 * What a `registry-cli` command is: one record (name, arguments, summary,
 * options, run) in the table of `commands.ts`. Help and argument checks are
 * generated from the record, so a command declares them once.
 *
 * @module
 */
import { type FlagSpecs, formatFlags, type ParsedFlags, parseGoFlags } from "./flags.ts";
import type { RegistryClient } from "../client/registry_client.ts";
import type { LoadedIdentity } from "../p2p/identity.ts";
import { UsageError } from "./errors.ts";

/** What the CLI needs from its process. */
export interface CliIo {
  /** Environment variables (P2P_BOOTSTRAPS, P2P_PSK, P2P_TIMEOUT, docker's). */
  env: Record<string, string | undefined>;
  /** Writes text to standard output (a newline is added). */
  stdout: (text: string) => void;
  /** Writes text to standard error (a newline is added). */
  stderr: (text: string) => void;
  /**
   * Writes text to standard error as is (no newline added), for progress
   * that rewrites its line with `\r`; falls back to {@linkcode CliIo.stderr}.
   */
  stderrRaw?: (text: string) => void;
  /** Whether standard error is a terminal (progress keeps to one line then). */
  stderrIsTerminal?: boolean;
  /**
   * Calls `listener` on an interrupt (Ctrl-C) instead of ending the process,
   * until the returned function is called; for commands that run until
   * interrupted (`watch`).
   */
  onInterrupt?: (listener: () => void) => () => void;
}

/** What a command's `run` gets besides its arguments. */
export interface CommandContext {
  /** The process's output and environment. */
  io: CliIo;
  /** Whether `-json` was given (before or after the command). */
  json: boolean;
  /** The `-timeout` (or `P2P_TIMEOUT`) for the network part of the command, in ms. */
  timeoutMs: number;
  /**
   * Checks the registry settings (bootstraps, PSK file) without connecting:
   * a missing or malformed bootstrap is a {@linkcode UsageError} here.
   */
  checkRegistry(): Promise<void>;
  /**
   * The registry client. The first call connects (bootstraps from the flags
   * or env), stopping when `signal` aborts; later calls share the connection,
   * which the CLI closes after the command.
   */
  client(signal: AbortSignal): Promise<RegistryClient>;
  /**
   * The CLI's identity (`-keyfile`, else the default key file), created on
   * first use; the connection signs in with it.
   */
  identity(): Promise<LoadedIdentity>;
  /** The help text of a command, or of the tool when `name` is omitted. */
  usage(name?: string): string;
}

/** One command of the table. */
export interface Command {
  /** The word that selects it: `registry-cli [OPTIONS] <name> …`. */
  name: string;
  /**
   * Its arguments in order, as shown in usage: `<name>` is required,
   * `[name]` optional (optional ones last). The CLI checks the count.
   */
  args: readonly string[];
  /** One line for the tool's command list. */
  summary: string;
  /** More text for the command's own help (output, exit codes); may be empty. */
  description: string;
  /** Options after the command (`-json` and `-help` are added to every command). */
  flags: FlagSpecs;
  /** Runs the command; returns the exit code. Throws {@linkcode UsageError} for bad input. */
  run(args: readonly string[], flags: ParsedFlags["values"], ctx: CommandContext): Promise<number>;
}

/**
 * Checks a service-name argument: an empty one is a usage error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serviceNameArg } from "./command.ts";
 * assert.equal(serviceNameArg("svc", "get"), "svc");
 * assert.throws(() => serviceNameArg(" ", "get"), /<service-name> is empty/);
 * ```
 */
export function serviceNameArg(value: string, command: string): string {
  if (value.trim() === "") throw new UsageError("<service-name> is empty", command);
  return value;
}

/** Options every command takes after its name. */
export const COMMON_FLAGS: FlagSpecs = {
  json: { type: "boolean", description: "print machine-readable JSON" },
  help: { type: "boolean", aliases: ["h"], description: "show this help" },
};

/**
 * A command's help: usage line, summary, description and options.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { commandUsage } from "./command.ts";
 * const text = commandUsage({
 *   name: "greet", args: ["<who>"], summary: "say hello", description: "", flags: {},
 *   run: () => Promise.resolve(0),
 * });
 * assert.match(text, /^Usage: registry-cli \[OPTIONS\] greet \[options\] <who>/);
 * assert.match(text, /-json/);
 * ```
 */
export function commandUsage(command: Command): string {
  const description = command.description ? `\n${command.description}\n` : "";
  return `Usage: ${commandSynopsis(command)}

${command.summary[0].toUpperCase()}${command.summary.slice(1)}.
${description}
Options:
${formatFlags({ ...command.flags, ...COMMON_FLAGS })}

Global [OPTIONS] are listed by "registry-cli help".`;
}

/**
 * How a command is called, in one line (its usage's first).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { commandSynopsis } from "./command.ts";
 * const greet = {
 *   name: "greet", args: ["<who>"], summary: "say hello", description: "", flags: {},
 *   run: () => Promise.resolve(0),
 * };
 * assert.equal(commandSynopsis(greet), "registry-cli [OPTIONS] greet [options] <who>");
 * ```
 */
export function commandSynopsis(command: Command): string {
  const args = command.args.length > 0 ? ` ${command.args.join(" ")}` : "";
  return `registry-cli [OPTIONS] ${command.name} [options]${args}`;
}

/** What {@linkcode parseCommandArgs} returns when the command is to run. */
export interface CommandArgs {
  /** Positional arguments, their count checked against `command.args`. */
  args: string[];
  /** Flag values by name. */
  flags: ParsedFlags["values"];
}

/**
 * Parses the arguments after a command's name with its flags (and
 * {@linkcode COMMON_FLAGS}), checking the count of positionals. Returns
 * `undefined` when `-help` was given.
 *
 * @throws {UsageError} For an unknown flag, a missing or an extra argument.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCommandArgs } from "./command.ts";
 * const greet = {
 *   name: "greet", args: ["<who>"], summary: "say hello", description: "", flags: {},
 *   run: () => Promise.resolve(0),
 * };
 * assert.deepEqual(parseCommandArgs(greet, ["-json", "you"])?.args, ["you"]);
 * assert.equal(parseCommandArgs(greet, ["-h"]), undefined);
 * assert.throws(() => parseCommandArgs(greet, []), /missing argument <who>/);
 * ```
 */
export function parseCommandArgs(
  command: Command,
  args: readonly string[],
): CommandArgs | undefined {
  const { values, positionals } = parseGoFlags(args, { ...command.flags, ...COMMON_FLAGS }, {
    command: command.name,
  });
  if (values.help) return undefined;
  const required = command.args.filter((a) => a.startsWith("<")).length;
  if (positionals.length < required) {
    throw new UsageError(`missing argument ${command.args[positionals.length]}`, command.name);
  }
  if (positionals.length > command.args.length) {
    throw new UsageError(
      `unexpected argument "${positionals[command.args.length]}"`,
      command.name,
    );
  }
  return { args: positionals, flags: values };
}
