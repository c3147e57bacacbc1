/**
 * `registry-cli`: arguments in, exit code out (SPEC §5).
 *
 * @module
 */
import { CommandError, UsageError } from "./errors.ts";
import { type FlagSpecs, formatFlags, parseGoFlags } from "./flags.ts";
import type { ConnectedRegistryClient, RegistryClient } from "../client/registry_client.ts";
import type { ServiceInfo } from "../protocol/service_info.ts";
import { createLogger } from "../log/logger.ts";
import { libp2pDebugLogger } from "../log/libp2p_debug.ts";

// libp2p, docker and hashing code load only when a command needs them: start-up stays short.

/** What the CLI needs from its process. */
export interface CliIo {
  /** Environment variables (P2P_BOOTSTRAPS, P2P_PSK, docker's). */
  env: Record<string, string | undefined>;
  /** Writes text to standard output (a newline is added). */
  stdout: (text: string) => void;
  /** Writes text to standard error (a newline is added). */
  stderr: (text: string) => void;
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
    description: "network passphrase (else env P2P_PSK)",
    valueName: "passphrase",
  },
  json: { type: "boolean", description: "print machine-readable JSON" },
  help: { type: "boolean", description: "show this help" },
};

const COMMAND_FLAGS: FlagSpecs = {
  json: GLOBAL_FLAGS.json,
  help: GLOBAL_FLAGS.help,
};

/** Usage text of the tool. */
export const CLI_USAGE: string = `Usage: registry-cli [OPTIONS] <command> [command options] <args>

Commands:
  add <config> <image-name> <service-name>   build, push and register a service image
  get <service-name>                         show a service's entry
  list                                       show every service
  delete <service-name>                      remove a service

Options:
${formatFlags(GLOBAL_FLAGS)}

Run "registry-cli <command> --help" for a command's options.
Exit codes: 0 success, 1 operation failed, 2 usage error.
`;

const COMMAND_USAGE: Record<string, string | (() => Promise<string>)> = {
  get: `Usage: registry-cli [OPTIONS] get [--json] <service-name>

Prints "Response:" and the service's ServiceInfo JSON. Exits 1 when the
service is not registered.
`,
  list: `Usage: registry-cli [OPTIONS] list [--json]

Prints "Response:" and one line per service:
Service Name: <name>, Info: <json>
`,
  delete: `Usage: registry-cli [OPTIONS] delete [--json] <service-name>

Prints "Response:" and the registry-service's answer. Exits 1 when nothing
was deleted.
`,
  add: async () => (await import("./add.ts")).ADD_USAGE,
};

async function usageOf(command: string | undefined): Promise<string> {
  const usage = command ? COMMAND_USAGE[command] : CLI_USAGE;
  return typeof usage === "function" ? await usage() : usage;
}

interface Globals {
  /** -bootstrap values, else P2P_BOOTSTRAPS. */
  bootstrapFlags: string[];
  bootstrapEnv: string | undefined;
  psk: string | undefined;
  json: boolean;
}

/**
 * Runs `registry-cli` with `args`; returns the exit code.
 *
 * @example
 * ```ts
 * import { cliMain } from "./main.ts";
 * const out: string[] = [];
 * const code = await cliMain(["--help"], { env: {}, stdout: (t) => out.push(t), stderr: () => {} });
 * console.assert(code === 0 && out[0].startsWith("Usage: registry-cli"));
 * ```
 */
export async function cliMain(args: readonly string[], io: CliIo): Promise<number> {
  try {
    return await run(args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`registry-cli: ${err.message}\n\n${await usageOf(err.command)}`);
      return err.exitCode;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.stderr(`registry-cli: ${message}`);
    return err instanceof CommandError ? err.exitCode : 1;
  }
}

async function run(args: readonly string[], io: CliIo): Promise<number> {
  const global = parseGoFlags(args, GLOBAL_FLAGS, { stopAtPositional: true });
  if (global.values.help) {
    io.stdout(CLI_USAGE);
    return 0;
  }
  const [command, ...rest] = global.positionals;
  if (command === undefined) throw new UsageError("no command given");
  if (!(command in COMMAND_USAGE)) throw new UsageError(`unknown command "${command}"`);
  const globals: Globals = {
    bootstrapFlags: (global.values.bootstrap as string[] | undefined) ?? [],
    bootstrapEnv: io.env.P2P_BOOTSTRAPS,
    psk: (global.values.psk as string | undefined) ?? io.env.P2P_PSK,
    json: global.values.json === true,
  };
  const connection = lazyConnection(globals, io);
  try {
    if (command === "add") {
      const { runAdd } = await import("./add.ts");
      await runAdd(rest, {
        register: async (name: string, info: ServiceInfo) =>
          await (await connection.get()).client.add(name, info),
        stdout: io.stdout,
        stderr: io.stderr,
        env: io.env,
      });
      return 0;
    }
    const parsed = parseGoFlags(rest, COMMAND_FLAGS, { command });
    if (parsed.values.help) {
      io.stdout(await usageOf(command));
      return 0;
    }
    const json = globals.json || parsed.values.json === true;
    const client = () => connection.get().then((c) => c.client);
    switch (command) {
      case "get":
        return await get(
          expectArgs(parsed.positionals, ["service-name"], command)[0],
          json,
          io,
          client,
        );
      case "list":
        expectArgs(parsed.positionals, [], command);
        return await list(json, io, client);
      default:
        return await remove(
          expectArgs(parsed.positionals, ["service-name"], command)[0],
          json,
          io,
          client,
        );
    }
  } finally {
    await connection.close();
  }
}

function expectArgs(positionals: string[], names: string[], command: string): string[] {
  if (positionals.length < names.length) {
    throw new UsageError(`missing argument <${names[positionals.length]}>`, command);
  }
  if (positionals.length > names.length) {
    throw new UsageError(`unexpected argument "${positionals[names.length]}"`, command);
  }
  return positionals;
}

type ClientGetter = () => Promise<RegistryClient>;

async function get(name: string, json: boolean, io: CliIo, client: ClientGetter): Promise<number> {
  const info = await (await client()).get(name);
  io.stdout(json ? JSON.stringify(info) : `Response:\n${JSON.stringify(info)}`);
  return 0;
}

async function list(json: boolean, io: CliIo, client: ClientGetter): Promise<number> {
  const services = await (await client()).list();
  if (json) {
    io.stdout(JSON.stringify(services));
    return 0;
  }
  const lines = Object.entries(services).map(([name, info]) =>
    `Service Name: ${name}, Info: ${JSON.stringify(info)}`
  );
  io.stdout(["Response:", ...lines].join("\n"));
  return 0;
}

async function remove(
  name: string,
  json: boolean,
  io: CliIo,
  client: ClientGetter,
): Promise<number> {
  const answer = await (await client()).delete(name);
  io.stdout(json ? JSON.stringify({ deleted: name, response: answer }) : `Response:\n${answer}`);
  return 0;
}

/** Connects on first use only, so usage errors and `add`'s build never wait for the network. */
function lazyConnection(globals: Globals, io: CliIo) {
  let connection: Promise<ConnectedRegistryClient> | undefined;
  const connect = async () => {
    const { bootstrapAddresses } = await import("../p2p/bootstrap.ts");
    const bootstraps = bootstrapAddresses(globals.bootstrapFlags, globals.bootstrapEnv);
    if (bootstraps.length === 0) {
      throw new UsageError("no bootstrap given: use -bootstrap <multiaddr> or set P2P_BOOTSTRAPS");
    }
    const { connectRegistry } = await import("../client/registry_client.ts");
    return await connectRegistry({
      bootstraps,
      psk: globals.psk,
      logger: createLogger({ write: io.stderr }),
      libp2pLogger: await libp2pDebugLogger(io.env),
    });
  };
  return {
    get(): Promise<ConnectedRegistryClient> {
      connection ??= connect();
      return connection;
    },
    async close(): Promise<void> {
      const conn = await connection?.catch(() => undefined);
      await conn?.close();
    },
  };
}
