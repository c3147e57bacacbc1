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

/** A line sink that writes in batches; see {@linkcode batchedSink}. */
export interface BatchedSink {
  /** Queues one line. */
  write(line: string): void;
  /** Writes every queued line now. */
  flush(): void;
}

/**
 * Queues lines and hands them to `write` together, at most every `delayMs`,
 * so that logging every request costs one write per batch, not per line.
 *
 * @example
 * ```ts
 * import { batchedSink } from "./logger.ts";
 * const out: string[] = [];
 * const sink = batchedSink((text) => out.push(text));
 * sink.write("a");
 * sink.write("b");
 * sink.flush();
 * console.assert(out.length === 1 && out[0] === "a\nb");
 * ```
 */
export function batchedSink(write: (text: string) => void, delayMs = 10): BatchedSink {
  let lines: string[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (lines.length === 0) return;
    const text = lines.join("\n");
    lines = [];
    write(text);
  };
  return {
    write(line) {
      lines.push(line);
      timer ??= setTimeout(flush, delayMs);
    },
    flush,
  };
}
