/**
 * The registry-service program: arguments in, exit code out.
 *
 * @module
 */
import { UsageError } from "../cli/errors.ts";
import { batchedSink, createLogger } from "../log/logger.ts";
import { libp2pDebugLogger } from "../log/libp2p_debug.ts";
import { type ClusterTask, parseServiceArgs, SERVICE_USAGE } from "./options.ts";
import { type RegistryServiceConfig, startRegistryService } from "./registry_service.ts";
import type { Logger } from "../log/logger.ts";
import { etcdctlFlags, leaveCluster, snapshotCluster } from "./cluster_tasks.ts";
import { VERSION } from "../version.ts";
import { readPassphraseFile } from "../p2p/psk.ts";

/** What the program needs from its process. */
export interface ServiceMainIo {
  /** Environment variables. */
  env: Record<string, string | undefined>;
  /** Writes a line to standard output. */
  stdout: (line: string) => void;
  /** Writes a line to standard error (the log). */
  stderr: (line: string) => void;
  /** Calls `handler` when the process is asked to stop (SIGINT, SIGTERM). */
  onShutdownSignal: (handler: () => void) => void;
  /**
   * Calls `handler` with an error nothing caught (thrown in an event listener,
   * a promise nobody awaited) instead of ending the process at once, so that
   * the service can say what happened and stop etcd before it exits.
   */
  onUncaughtError?: (handler: (error: unknown) => void) => void;
}

/**
 * Runs the registry-service until it is stopped; returns the exit code
 * (0 after a requested stop, 1 when etcd died, start-up failed or an error
 * went uncaught, 2 for usage errors).
 *
 * @example
 * ```ts ignore
 * const code = await serviceMain(Deno.args, io);
 * ```
 */
export async function serviceMain(args: readonly string[], io: ServiceMainIo): Promise<number> {
  let command;
  try {
    command = parseServiceArgs(args, io.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr(`registry-service: ${err.message}\n\n${SERVICE_USAGE}`);
    return err.exitCode;
  }
  if (command.help) {
    io.stdout(command.version ? `registry-service ${VERSION}` : SERVICE_USAGE);
    return 0;
  }
  const sink = batchedSink(io.stderr);
  const logger = createLogger(sink, command.log);
  // Lines are written in batches: flush before the caller exits the process.
  try {
    const config = command.config;
    if (command.pskFile !== undefined) {
      try {
        config.psk = await readPassphraseFile(command.pskFile);
      } catch (err) {
        logger.error(`registry-service: -psk-file: ${(err as Error).message}`);
        return 1;
      }
    }
    return await runService(config, command.task, logger, io);
  } finally {
    sink.flush();
  }
}

async function runService(
  config: RegistryServiceConfig,
  task: ClusterTask | undefined,
  logger: Logger,
  io: ServiceMainIo,
): Promise<number> {
  if (task) {
    try {
      const components = { logger, print: io.stdout };
      if (task.kind === "leave") await leaveCluster(config, components);
      else if (task.kind === "snapshot") await snapshotCluster(config, task.path, components);
      else await etcdctlFlags(config, components);
      return 0;
    } catch (err) {
      const flag = task.kind === "leave" ? "leave-cluster" : task.kind;
      logger.error(`registry-service -${flag} failed: ${(err as Error).message}`);
      return 1;
    }
  }
  let service;
  try {
    service = await startRegistryService(config, {
      logger,
      print: io.stdout,
      libp2pLogger: await libp2pDebugLogger(io.env),
    });
  } catch (err) {
    logger.error(`registry-service failed to start: ${(err as Error).message}`);
    return 1;
  }
  io.onShutdownSignal(() => {
    logger.info("stopping (signal received)");
    void service.stop();
  });
  io.onUncaughtError?.((error) => {
    logger.error(
      `stopping: an error nobody caught (a bug; please report it with this log): ${
        error instanceof Error ? error.stack ?? error.message : String(error)
      }`,
    );
    void service.stop(1);
  });
  const code = await service.done;
  logger.info(`registry-service stopped (exit code ${code})`);
  return code;
}
