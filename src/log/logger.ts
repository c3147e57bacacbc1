/**
 * The small logging interface the registry's parts take. Pass one in; there
 * is no global logger.
 *
 * @module
 */

/** Where the registry's parts report what they do. */
export interface Logger {
  /** Detail for debugging (request payloads, start-up chatter); off by default. */
  debug(message: string): void;
  /** Routine events (requests served, connections made). */
  info(message: string): void;
  /** Something went wrong but the part carries on. */
  warn(message: string): void;
  /** Something failed. */
  error(message: string): void;
}

/** How much a logger writes: each level includes those after it. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** The levels in order of severity. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** How a logger renders a line: `text` (`<time> <LEVEL> <message>`) or `json`. */
export type LogFormat = "text" | "json";

/** The line formats. */
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Lines below this level are dropped (default `info`). */
  level?: LogLevel;
  /**
   * `text` (default) or `json`: one object per line,
   * `{"time":"<ISO 8601>","level":"info","msg":"<message>"}`.
   */
  format?: LogFormat;
}

/** `\uXXXX` for each UTF-16 code unit of `c`. */
function unicodeEscape(c: string): string {
  let escaped = "";
  for (let i = 0; i < c.length; i++) {
    escaped += `\\u${c.charCodeAt(i).toString(16).padStart(4, "0")}`;
  }
  return escaped;
}

/**
 * Makes text safe for one log line: every control character (C0, DEL and
 * C1, such as NEL U+0085, which some log readers take as a line break),
 * format character (bidi overrides, zero-width ones), line and paragraph
 * separator (U+2028, U+2029) and lone surrogate becomes an escape, so no
 * input can start a line of its own (forged log lines) or reorder one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeLogText } from "./logger.ts";
 * assert.equal(escapeLogText("a\nINFO forged"), "a\\nINFO forged");
 * assert.equal(escapeLogText("a\u0085b\u202ec\u2028"), "a\\u0085b\\u202ec\\u2028");
 * ```
 */
export function escapeLogText(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}\p{Cs}\u2028\u2029]/gu, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    return unicodeEscape(c);
  });
}

/**
 * A logger writing timestamped lines to a text sink (stderr by default).
 * Each message is one line: control and format characters in it are escaped
 * (in the `json` format, C0 by JSON itself, and the same others as
 * {@linkcode escapeLogText} as `\uXXXX`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createLogger } from "./logger.ts";
 * const lines: string[] = [];
 * const log = createLogger({ write: (line) => lines.push(line) });
 * log.info("hello");
 * log.debug("dropped at the default level");
 * log.warn("two\nlines");
 * assert.equal(lines.length, 2);
 * assert.ok(lines[0].endsWith("INFO hello"));
 * assert.ok(lines[1].endsWith("WARN two\\nlines"));
 *
 * const json: string[] = [];
 * createLogger({ write: (line) => json.push(line) }, { format: "json" }).error("a\nb\u0085");
 * assert.ok(json[0].endsWith('"msg":"a\\nb\\u0085"}'));
 * assert.deepEqual({ ...JSON.parse(json[0]), time: "" }, {
 *   time: "",
 *   level: "error",
 *   msg: "a\nb\u0085",
 * });
 * ```
 */
export function createLogger(
  sink: { write(line: string): void } = { write: (line) => console.error(line) },
  options: LoggerOptions = {},
): Logger {
  const threshold = LOG_LEVELS.indexOf(options.level ?? "info");
  const emitter = (level: LogLevel) => {
    if (LOG_LEVELS.indexOf(level) < threshold) return () => {};
    if (options.format === "json") {
      return (message: string) =>
        sink.write(
          // JSON.stringify escapes C0 and lone surrogates only.
          JSON.stringify({ time: new Date().toISOString(), level, msg: message })
            .replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, unicodeEscape),
        );
    }
    const label = level.toUpperCase();
    return (message: string) =>
      sink.write(`${new Date().toISOString()} ${label} ${escapeLogText(message)}`);
  };
  return {
    debug: emitter("debug"),
    info: emitter("info"),
    warn: emitter("warn"),
    error: emitter("error"),
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
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

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
 * import assert from "node:assert/strict";
 * import { batchedSink } from "./logger.ts";
 * const out: string[] = [];
 * const sink = batchedSink((text) => out.push(text));
 * sink.write("a");
 * sink.write("b");
 * sink.flush();
 * assert.ok(out.length === 1 && out[0] === "a\nb");
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
