/**
 * Progress for long commands (`add`): child output re-assembled into whole
 * lines, carriage-return progress kept on one line on a terminal and turned
 * into plain lines otherwise, and status updates (bytes hashed) that rewrite
 * their line on a terminal and are printed now and then elsewhere.
 *
 * @module
 */

/** Where progress goes: raw text (no newline added), and whether it is a terminal. */
export interface ProgressSink {
  /** Writes `text` as is. */
  write(text: string): void;
  /** Whether the sink is a terminal (then `\r` rewrites the current line). */
  isTerminal: boolean;
}

/** Options for {@linkcode createProgress}. */
export interface ProgressOptions {
  /** Drop all progress (`-q`). */
  quiet?: boolean;
  /** Off a terminal, the least time between two printed status lines (ms, default 2,000). */
  statusIntervalMs?: number;
  /** The clock (for tests). */
  now?: () => number;
}

/** A progress reporter; see {@linkcode createProgress}. */
export interface Progress {
  /** Writes whole lines (a trailing newline is added). */
  line(text: string): void;
  /** Takes a child's output in any chunking; prints it as whole lines. */
  output(chunk: string): void;
  /** A passing state, e.g. `Hashing: 12.0 MB of 300.0 MB`. */
  status(text: string): void;
  /** Ends any pending partial output or status line. */
  done(): void;
}

const CLEAR_LINE = "\r\x1b[K";
const TERMINAL_INTERVAL_MS = 100;

/**
 * Creates a progress reporter writing to `sink`.
 *
 * @example Plain lines off a terminal
 * ```ts
 * import assert from "node:assert/strict";
 * import { createProgress } from "./progress.ts";
 * let text = "";
 * const progress = createProgress({ write: (t) => (text += t), isTerminal: false });
 * progress.output("Step 1/2 : FR");
 * progress.output("OM busybox\nPushing 10%\rPushing 100%\n");
 * assert.equal(text, "Step 1/2 : FROM busybox\nPushing 100%\n");
 * ```
 *
 * @example One rewritten line on a terminal
 * ```ts
 * import assert from "node:assert/strict";
 * import { createProgress } from "./progress.ts";
 * let text = "";
 * const progress = createProgress({ write: (t) => (text += t), isTerminal: true });
 * progress.status("Hashing: 1 MB");
 * progress.status("Hashing: 2 MB"); // shown by done(): too soon after the first
 * progress.done();
 * progress.line("Hashed");
 * assert.equal(text, "\r\x1b[KHashing: 1 MB\r\x1b[KHashing: 2 MB\nHashed\n");
 * ```
 */
export function createProgress(sink: ProgressSink, options: ProgressOptions = {}): Progress {
  const now = options.now ?? Date.now;
  const interval = options.statusIntervalMs ?? 2_000;
  let pending = ""; // output after the last newline
  let statusShown = false; // a terminal status line is on screen (no newline after it)
  let lastStatusAt = -Infinity;
  let unprinted: string | undefined; // the latest status not yet shown (too soon after the last)

  const writeLine = (text: string) => {
    sink.write(`${statusShown ? CLEAR_LINE : ""}${text}\n`);
    statusShown = false;
    unprinted = undefined;
  };
  const show = (text: string) => {
    if (sink.isTerminal) {
      sink.write(`${CLEAR_LINE}${text}`);
      statusShown = true;
    } else {
      sink.write(`${text}\n`);
    }
    lastStatusAt = now();
    unprinted = undefined;
  };
  const status = (text: string) => {
    // Updates can come per chunk read: a terminal is redrawn 10 times a second at most.
    if (now() - lastStatusAt >= (sink.isTerminal ? TERMINAL_INTERVAL_MS : interval)) show(text);
    else unprinted = text;
  };
  /** The text a line of `\r`-separated updates ends showing. */
  const finalSegment = (line: string) => {
    const segments = line.split("\r");
    return segments.findLast((s) => s.trim() !== "") ?? "";
  };

  if (options.quiet) return { line() {}, output() {}, status() {}, done() {} };
  return {
    line(text) {
      writeLine(text);
    },
    output(chunk) {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) writeLine(finalSegment(line));
      // A `\r` ends an update of the current line: show the last complete one.
      const cr = pending.lastIndexOf("\r");
      if (cr >= 0) {
        const update = finalSegment(pending.slice(0, cr));
        pending = pending.slice(cr + 1);
        if (update !== "") status(update);
      }
    },
    status,
    done() {
      if (pending !== "") {
        const rest = pending;
        pending = "";
        writeLine(finalSegment(rest));
        return;
      }
      if (unprinted !== undefined) show(unprinted);
      if (statusShown) {
        sink.write("\n");
        statusShown = false;
      }
    },
  };
}

/**
 * Bytes as a short human-readable size (`1.5 MB`; powers of 1,000).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatBytes } from "./progress.ts";
 * assert.equal(formatBytes(999), "999 B");
 * assert.equal(formatBytes(1_500_000), "1.5 MB");
 * ```
 */
export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
