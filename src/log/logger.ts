/**
 * The small logging interface the registry's parts take. Pass one in; there
 * is no global logger.
 *
 * @module
 */

/** Where the registry's parts report what they do. */
export interface Logger {
  /** Routine events (requests served, connections made). */
  info(message: string): void;
  /** Something went wrong but the part carries on. */
  warn(message: string): void;
  /** Something failed. */
  error(message: string): void;
}

/**
 * A logger writing timestamped lines to a text sink (stderr by default).
 *
 * @example
 * ```ts
 * import { createLogger } from "./logger.ts";
 * const lines: string[] = [];
 * const log = createLogger({ write: (line) => lines.push(line) });
 * log.info("hello");
 * console.assert(lines[0].endsWith("INFO hello"));
 * ```
 */
export function createLogger(
  sink: { write(line: string): void } = { write: (line) => console.error(line) },
): Logger {
  const emit = (level: string, message: string) =>
    sink.write(`${new Date().toISOString()} ${level} ${message}`);
  return {
    info: (message) => emit("INFO", message),
    warn: (message) => emit("WARN", message),
    error: (message) => emit("ERROR", message),
  };
}

/**
 * A logger that drops everything (for library calls that have no place to report).
 *
 * @example
 * ```ts
 * import { silentLogger } from "./logger.ts";
 * silentLogger.info("ignored");
 * ```
 */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
