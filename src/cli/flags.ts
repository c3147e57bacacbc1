/**
 * Go-style flag parsing on top of `node:util` `parseArgs`: `-flag value`,
 * `-flag=value`, `--flag value` and `--flag=value` all mean the same.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { UsageError } from "./errors.ts";

/** How one flag is declared. */
export interface FlagSpec {
  /** `string` flags take a value; `boolean` flags do not. */
  type: "string" | "boolean";
  /** Whether the flag may be given more than once (values are collected). */
  multiple?: boolean;
  /** One line for the usage text. */
  description: string;
  /** Shown in usage as the value's name, e.g. `<multiaddr>`. */
  valueName?: string;
  /** Default shown in usage (the caller applies defaults itself). */
  defaultText?: string;
  /** Other names of the flag, e.g. `h` for `help`; parsed as the flag itself. */
  aliases?: readonly string[];
}

/** Flag declarations by name (without dashes). */
export type FlagSpecs = Record<string, FlagSpec>;

/** What {@linkcode parseGoFlags} returns. */
export interface ParsedFlags {
  /** Flag values by name: `string`, `boolean`, or `string[]` for `multiple`. */
  values: Record<string, string | boolean | string[] | undefined>;
  /** Arguments that are not flags, in order. */
  positionals: string[];
}

/** Options for {@linkcode parseGoFlags}. */
export interface ParseGoFlagsOptions {
  /** Stop at the first positional and return the rest untouched (for subcommands). */
  stopAtPositional?: boolean;
  /** Command name carried by any {@linkcode UsageError}, for its usage text. */
  command?: string;
}

/**
 * Parses Go-style flags. Unknown flags are a {@linkcode UsageError}; `--`
 * ends the flags.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseGoFlags } from "./flags.ts";
 * const { values, positionals } = parseGoFlags(
 *   ["-psk", "secret", "--bootstrap=/ip4/1.2.3.4/tcp/1", "get", "svc"],
 *   {
 *     psk: { type: "string", description: "passphrase" },
 *     bootstrap: { type: "string", multiple: true, description: "peer" },
 *   },
 * );
 * assert.ok(values.psk === "secret" && positionals[1] === "svc");
 * ```
 */
export function parseGoFlags(
  args: readonly string[],
  specs: FlagSpecs,
  options: ParseGoFlagsOptions = {},
): ParsedFlags {
  const flagArgs: string[] = [];
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      if (options.stopAtPositional) {
        positionals.push(...args.slice(i));
        break;
      }
      positionals.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, "");
    const given = body.split("=", 1)[0];
    const name = canonicalName(specs, given);
    if (name === undefined) {
      throw new UsageError(`unknown flag: -${given}`, options.command);
    }
    const spec = specs[name];
    const rest = body.slice(given.length);
    if (spec.type === "boolean") {
      const value = rest.startsWith("=") ? rest.slice(1) : "true";
      if (!/^(true|false|1|0)$/i.test(value)) {
        throw new UsageError(
          `invalid boolean value "${value}" for -${name}`,
          options.command,
        );
      }
      if (/^(true|1)$/i.test(value)) flagArgs.push(`--${name}`);
    } else if (rest.startsWith("=")) {
      flagArgs.push(`--${name}${rest}`);
    } else {
      if (i + 1 >= args.length) {
        throw new UsageError(`flag needs a value: -${name}`, options.command);
      }
      // Like Go's flag package, the next argument is the value even if it starts with "-".
      flagArgs.push(`--${name}=${args[++i]}`);
    }
  }
  const parseOptions: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    parseOptions[name] = { type: spec.type, multiple: spec.multiple ?? false };
  }
  const parsed = parseArgs({
    args: flagArgs,
    options: parseOptions,
    strict: true,
  });
  return { values: parsed.values as ParsedFlags["values"], positionals };
}

/** The declared name `given` stands for (itself or an alias), if any; own properties only. */
function canonicalName(specs: FlagSpecs, given: string): string | undefined {
  if (Object.hasOwn(specs, given)) return given;
  return Object.keys(specs).find((name) => specs[name].aliases?.includes(given));
}

/**
 * Renders flag declarations as usage lines, Go style (`  -name <value>`
 * then the indented description).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatFlags } from "./flags.ts";
 * const text = formatFlags({ psk: { type: "string", description: "passphrase", valueName: "string" } });
 * assert.ok(text.includes("-psk <string>"));
 * ```
 */
export function formatFlags(specs: FlagSpecs): string {
  return Object.entries(specs).map(([name, spec]) => {
    const value = spec.type === "string" ? ` <${spec.valueName ?? "value"}>` : "";
    const def = spec.defaultText !== undefined ? ` (default ${spec.defaultText})` : "";
    const repeat = spec.multiple ? " (may repeat)" : "";
    const names = [...(spec.aliases ?? []), name].map((n) => `-${n}`).join(", ");
    return `  ${names}${value}\n      ${spec.description}${def}${repeat}`;
  }).join("\n");
}
