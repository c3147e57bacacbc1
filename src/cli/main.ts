/**
 * `registry-cli`: arguments in, exit code out (SPEC §5). Commands come from
 * the table in `commands.ts`.
 *
 * @module
 */
import { CommandError, UsageError } from "./errors.ts";
import { parseGoFlags } from "./flags.ts";
import type { CliIo, CommandContext } from "./command.ts";
import { parseCommandArgs } from "./command.ts";
import { findCommand, GLOBAL_FLAGS, usageHint, usageOf } from "./commands.ts";
import { parseDuration } from "./duration.ts";
import type { ConnectedRegistryClient } from "../client/registry_client.ts";
import type { LoadedIdentity } from "../p2p/identity.ts";
import type { PrivateKey } from "../p2p/libp2p_types.ts";
import { createLogger } from "../log/logger.ts";
import { libp2pDebugLogger } from "../log/libp2p_debug.ts";

// libp2p, docker and hashing code load only when a command needs them: start-up stays short.

/** The time limit when neither `-timeout` nor `P2P_TIMEOUT` is given (ms). */
export const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Runs `registry-cli` with `args`; returns the exit code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cliMain } from "./main.ts";
 * const out: string[] = [];
 * const code = await cliMain(["--help"], { env: {}, stdout: (t) => out.push(t), stderr: () => {} });
 * assert.equal(code, 0);
 * assert.match(out[0], /^Usage: registry-cli/);
 * ```
 */
export async function cliMain(args: readonly string[], io: CliIo): Promise<number> {
  try {
    return await run(args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`registry-cli: ${err.message}\n${usageHint(err.command)}`);
      return err.exitCode;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.stderr(`registry-cli: ${message}`);
    return err instanceof CommandError ? err.exitCode : 1;
  }
}

/** Global options, as the commands need them. */
interface Globals {
  /** -bootstrap values. */
  bootstrapFlags: string[];
  /** -psk. */
  psk: string | undefined;
  /** -psk-file. */
  pskFile: string | undefined;
  /** -keyfile. */
  keyFile: string | undefined;
  /** -verbose: retries are printed too. */
  verbose: boolean;
}

async function run(args: readonly string[], io: CliIo): Promise<number> {
  const global = parseGoFlags(args, GLOBAL_FLAGS, { stopAtPositional: true });
  if (global.values.help) {
    io.stdout(usageOf());
    return 0;
  }
  const [name, ...rest] = global.values.version ? ["version"] : global.positionals;
  if (name === undefined) throw new UsageError("no command given");
  const command = findCommand(name);
  const parsed = parseCommandArgs(command, rest);
  if (parsed === undefined) {
    io.stdout(usageOf(command.name));
    return 0;
  }
  const psk = global.values.psk as string | undefined;
  const pskFile = global.values["psk-file"] as string | undefined;
  if (psk !== undefined && pskFile !== undefined) {
    throw new UsageError("-psk and -psk-file cannot be combined");
  }
  const keyFile = global.values.keyfile as string | undefined;
  if (keyFile === "") throw new UsageError("-keyfile needs a file name");
  const identity = lazyIdentity(keyFile, io.env);
  const connection = lazyConnection(
    {
      bootstrapFlags: (global.values.bootstrap as string[] | undefined) ?? [],
      psk,
      pskFile,
      keyFile,
      verbose: global.values.verbose === true,
    },
    io,
    identity,
  );
  const ctx: CommandContext = {
    io,
    json: global.values.json === true || parsed.flags.json === true,
    timeoutMs: timeoutOf(global.values.timeout as string | undefined, io.env.P2P_TIMEOUT),
    checkRegistry: () => connection.check(),
    client: (signal) => connection.get(signal).then((c) => c.client),
    identity,
    usage: usageOf,
  };
  try {
    return await command.run(parsed.args, parsed.flags, ctx);
  } finally {
    await connection.close();
  }
}

/** The command's time limit from -timeout, else P2P_TIMEOUT, else the default. */
function timeoutOf(flag: string | undefined, env: string | undefined): number {
  const [source, text] = flag !== undefined
    ? ["-timeout", flag]
    : env !== undefined && env !== ""
    ? ["P2P_TIMEOUT", env]
    : [undefined, undefined];
  if (source === undefined) return DEFAULT_TIMEOUT_MS;
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    throw new UsageError(`invalid ${source}: ${(err as Error).message}`);
  }
  if (ms <= 0) throw new UsageError(`invalid ${source}: "${text}" is not positive`);
  return ms;
}

/** The CLI's key (-keyfile, else the default file), loaded or created on first use only. */
function lazyIdentity(
  keyFile: string | undefined,
  env: CliIo["env"],
): () => Promise<LoadedIdentity> {
  let loaded: Promise<LoadedIdentity> | undefined;
  return () =>
    loaded ??= import("./identity.ts").then(({ loadCliIdentity }) => loadCliIdentity(keyFile, env));
}

/** Connects on first use only, so usage errors and `add`'s build never wait for the network. */
function lazyConnection(globals: Globals, io: CliIo, identity: () => Promise<LoadedIdentity>) {
  let settings: Promise<{ bootstraps: string[]; psk: string | undefined }> | undefined;
  let connection: Promise<ConnectedRegistryClient> | undefined;
  /** The bootstraps (checked) and the passphrase: usage errors come out here. */
  const resolve = async () => {
    const { bootstrapAddresses, parseBootstraps, InvalidBootstrapError } = await import(
      "../p2p/bootstrap.ts"
    );
    const fromEnv = globals.bootstrapFlags.length === 0;
    const bootstraps = bootstrapAddresses(globals.bootstrapFlags, io.env.P2P_BOOTSTRAPS);
    if (bootstraps.length === 0) {
      throw new UsageError("no bootstrap given: use -bootstrap <multiaddr> or set P2P_BOOTSTRAPS");
    }
    try {
      parseBootstraps(bootstraps);
    } catch (err) {
      if (!(err instanceof InvalidBootstrapError)) throw err;
      throw new UsageError(`${fromEnv ? "P2P_BOOTSTRAPS" : "-bootstrap"}: ${err.message}`);
    }
    let psk = globals.psk;
    if (globals.pskFile !== undefined) {
      const { readPassphraseFile } = await import("../p2p/psk.ts");
      psk = await readPassphraseFile(globals.pskFile);
    }
    return { bootstraps, psk: psk ?? io.env.P2P_PSK };
  };
  const connect = async (signal: AbortSignal) => {
    const { bootstraps, psk } = await (settings ??= resolve());
    const { defaultKeyFile } = await import("./identity.ts");
    let privateKey: PrivateKey | undefined;
    if (globals.keyFile === undefined && defaultKeyFile(io.env) === undefined) {
      // Reads work as well with any key; writes are then owned by a key nobody keeps.
      io.stderr(
        "registry-cli: warning: neither HOME nor XDG_CONFIG_HOME is set: signing in with a " +
          "one-off key (give -keyfile <path> to keep one)",
      );
    } else {
      privateKey = (await identity()).key;
    }
    const { connectRegistry } = await import("../client/registry_client.ts");
    return await connectRegistry({
      bootstraps,
      psk,
      privateKey,
      // One clear error by default; the retries before it (info) with -verbose.
      logger: createLogger({ write: io.stderr }, { level: globals.verbose ? "info" : "warn" }),
      libp2pLogger: await libp2pDebugLogger(io.env),
      signal,
    });
  };
  return {
    async check(): Promise<void> {
      await (settings ??= resolve());
    },
    get(signal: AbortSignal): Promise<ConnectedRegistryClient> {
      connection ??= connect(signal);
      return connection;
    },
    async close(): Promise<void> {
      const conn = await connection?.catch(() => undefined);
      await conn?.close();
    },
  };
}
