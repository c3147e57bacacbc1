/**
 * The `registry-cli add` config file: a service's requirements and how to
 * build its image (SPEC §5).
 *
 * @module
 */
import { isAbsolute, join, normalize, relative, sep } from "node:path";
import type { NetworkRequirements } from "../protocol/service_info.ts";
import { jsonErrorPosition } from "./_json_error_position.ts";

/** How to build the service's image (`DockerConf` in the config). */
export interface DockerConf {
  /** Base image (default `ubuntu:16.04`). */
  From: string;
  /** `[source, destination]` pairs: source relative to `-dir`, destination relative to `/app`. */
  Copy: [string, string][];
  /** Shell commands, one `RUN` each. */
  Run: string[];
  /** The service's command (shell form); empty when not given. */
  Cmd: string;
  /** Run the proxy in client mode (no service name / service address arguments). */
  ProxyClientMode: boolean;
}

/** A parsed `add` config. */
export interface AddConfig {
  /** Preferred network requirements. */
  NetworkSoftReq: NetworkRequirements;
  /** Required network requirements. */
  NetworkHardReq: NetworkRequirements;
  /** CPU requirement. */
  CpuReq: number;
  /** Memory requirement. */
  MemoryReq: number;
  /** Image build settings (defaults filled in). */
  DockerConf: DockerConf;
}

/** What {@linkcode parseAddConfig} returns. */
export interface ParsedAddConfig {
  /** The config with defaults filled in. */
  config: AddConfig;
  /** Things worth telling the user that do not stop the command (unknown fields, defaults used). */
  warnings: string[];
}

/** A config file that cannot be used: bad JSON, a wrong type, a bad Copy source. */
export class AddConfigError extends Error {
  /**
   * @param message What is wrong and where.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AddConfigError";
  }
}

/** Default base image, as in the original tool. */
export const DEFAULT_FROM = "ubuntu:16.04";

/** Names the build context needs for itself; a Copy source may not take them. */
const RESERVED_CONTEXT_NAMES = new Set(["Dockerfile", "conf.json", "proxy", ".dockerignore"]);

const TOP_FIELDS = ["NetworkSoftReq", "NetworkHardReq", "CpuReq", "MemoryReq", "DockerConf"];
const DOCKER_FIELDS = ["From", "Copy", "Run", "Cmd", "ProxyClientMode"];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function syntaxError(text: string, source: string, cause: unknown): AddConfigError {
  const found = jsonErrorPosition(text);
  const position = found < 0 ? text.length : found;
  const before = text.slice(0, position).split("\n");
  const line = before.length;
  const column = before[before.length - 1].length + 1;
  const lineText = text.split("\n")[line - 1] ?? "";
  return new AddConfigError(
    `${source}: JSON syntax error at line ${line}, column ${column}:\n` +
      `  ${lineText}\n  ${" ".repeat(column - 1)}^`,
    { cause },
  );
}

function warnUnknown(
  value: Record<string, unknown>,
  known: string[],
  prefix: string,
  warnings: string[],
) {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) warnings.push(`unknown config field ${prefix}${key} is ignored`);
  }
}

function integer(value: unknown, field: string, warnings: string[]): number {
  if (value === undefined) {
    warnings.push(`config field ${field} is missing; using 0`);
    return 0;
  }
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new AddConfigError(
      `config field ${field} must be an integer, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function network(value: unknown, field: string, warnings: string[]): NetworkRequirements {
  if (value === undefined) {
    warnings.push(`config field ${field} is missing; using {"RTT": 0}`);
    return { RTT: 0 };
  }
  if (!isObject(value)) {
    throw new AddConfigError(`config field ${field} must be an object like {"RTT": 100}`);
  }
  warnUnknown(value, ["RTT"], `${field}.`, warnings);
  return { RTT: integer(value.RTT, `${field}.RTT`, warnings) };
}

function optionalString(value: unknown, field: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== "string") {
    throw new AddConfigError(
      `config field ${field} must be a string, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function dockerConf(value: unknown, warnings: string[]): DockerConf {
  if (value === undefined) value = {};
  if (!isObject(value)) throw new AddConfigError("config field DockerConf must be an object");
  warnUnknown(value, DOCKER_FIELDS, "DockerConf.", warnings);
  const copy = value.Copy ?? [];
  if (
    !Array.isArray(copy) ||
    !copy.every((pair) =>
      Array.isArray(pair) && pair.length === 2 && pair.every((p) => typeof p === "string")
    )
  ) {
    throw new AddConfigError(
      'config field DockerConf.Copy must be a list of ["source", "destination"] string pairs',
    );
  }
  const run = value.Run ?? [];
  if (!Array.isArray(run) || !run.every((cmd) => typeof cmd === "string")) {
    throw new AddConfigError("config field DockerConf.Run must be a list of strings");
  }
  const clientMode = value.ProxyClientMode ?? false;
  if (typeof clientMode !== "boolean") {
    throw new AddConfigError("config field DockerConf.ProxyClientMode must be true or false");
  }
  return {
    From: optionalString(value.From, "DockerConf.From", DEFAULT_FROM),
    Copy: copy as [string, string][],
    Run: run as string[],
    Cmd: optionalString(value.Cmd, "DockerConf.Cmd", ""),
    ProxyClientMode: clientMode,
  };
}

/**
 * Parses the text of an `add` config file. A JSON syntax error names the line
 * and shows it; a wrong type names the field; unknown fields and missing
 * requirements become warnings.
 *
 * @param text The file's contents.
 * @param source How to name the file in messages (its path).
 * @returns The config with defaults filled in, and warnings for the user.
 * @throws {AddConfigError} When the text is not valid JSON or a field has the wrong type.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseAddConfig } from "./add_config.ts";
 * const { config, warnings } = parseAddConfig(
 *   '{"NetworkSoftReq": {"RTT": 100}, "NetworkHardReq": {"RTT": 200}, "CpuReq": 20,' +
 *     ' "MemoryReq": 1000, "DockerConf": {"Cmd": "./svc"}, "Extra": 1}',
 * );
 * assert.ok(config.DockerConf.From === "ubuntu:16.04" && warnings.length === 1);
 * ```
 */
export function parseAddConfig(text: string, source = "config"): ParsedAddConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw syntaxError(text, source, cause);
  }
  if (!isObject(value)) throw new AddConfigError(`${source}: the config must be a JSON object`);
  const warnings: string[] = [];
  warnUnknown(value, TOP_FIELDS, "", warnings);
  const config: AddConfig = {
    NetworkSoftReq: network(value.NetworkSoftReq, "NetworkSoftReq", warnings),
    NetworkHardReq: network(value.NetworkHardReq, "NetworkHardReq", warnings),
    CpuReq: integer(value.CpuReq, "CpuReq", warnings),
    MemoryReq: integer(value.MemoryReq, "MemoryReq", warnings),
    DockerConf: dockerConf(value.DockerConf, warnings),
  };
  return { config, warnings };
}

/** One Copy entry, checked and resolved. */
export interface CopySource {
  /** The source as a normalized path relative to `-dir` (its path in the build context). */
  source: string;
  /** The source's real absolute path on disk. */
  path: string;
  /** The destination, as written in the config. */
  destination: string;
}

/**
 * Checks the config's Copy sources against `dir`: each must be a relative path
 * that stays inside `dir` (also after following symlinks), must exist, and
 * must not take a name the build context needs (`Dockerfile`, `conf.json`,
 * `proxy`, `.dockerignore`). All problems are reported together.
 *
 * @param copy The `DockerConf.Copy` pairs.
 * @param dir The `-dir` the sources are relative to.
 * @returns The resolved sources, in config order.
 * @throws {AddConfigError} Naming every source that is refused or missing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveCopySources } from "./add_config.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/svc.sh`, "echo hi");
 * const [entry] = await resolveCopySources([["./svc.sh", "bin/svc.sh"]], dir);
 * assert.ok(entry.source === "svc.sh");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function resolveCopySources(
  copy: readonly [string, string][],
  dir: string,
): Promise<CopySource[]> {
  let realDir: string;
  try {
    realDir = await Deno.realPath(dir);
  } catch (cause) {
    throw new AddConfigError(`-dir ${dir} cannot be read: ${(cause as Error).message}`, { cause });
  }
  const problems: string[] = [];
  const resolved: CopySource[] = [];
  for (const [raw, destination] of copy) {
    if (raw === "" || destination === "") {
      problems.push(`Copy entry ["${raw}", "${destination}"] has an empty path`);
      continue;
    }
    if (isAbsolute(raw)) {
      problems.push(`Copy source "${raw}" is an absolute path; give it relative to -dir ${dir}`);
      continue;
    }
    const source = normalize(raw).replace(/\/+$/, "");
    if (source === ".." || source.startsWith(`..${sep}`)) {
      problems.push(`Copy source "${raw}" is outside -dir ${dir}`);
      continue;
    }
    if (source === "." || RESERVED_CONTEXT_NAMES.has(source.split(sep)[0])) {
      problems.push(
        `Copy source "${raw}" would replace the build context's own ` +
          `${source === "." ? "files" : source.split(sep)[0]}; list the files to copy by name ` +
          `(not ${[...RESERVED_CONTEXT_NAMES].join(", ")} or the whole -dir)`,
      );
      continue;
    }
    let path: string;
    try {
      path = await Deno.realPath(join(realDir, source));
    } catch (error) {
      problems.push(
        error instanceof Deno.errors.NotFound
          ? `Copy source "${raw}" does not exist in -dir ${dir}`
          : `Copy source "${raw}" cannot be read: ${(error as Error).message}`,
      );
      continue;
    }
    const inside = relative(realDir, path);
    if (inside === "" || inside === ".." || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
      problems.push(`Copy source "${raw}" leads outside -dir ${dir} (through a symlink)`);
      continue;
    }
    resolved.push({ source, path, destination });
  }
  if (problems.length > 0) throw new AddConfigError(problems.join("\n"));
  return resolved;
}
