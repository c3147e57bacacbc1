/**
 * The one retry helper: exponential backoff with jitter, a deadline, a
 * caller's signal and an `isRetriable` test. Every retry loop in the project
 * uses it, so schedules are declared, not hand-written.
 *
 * @module
 */
import { abortableSleep } from "./_sleep.ts";

/** How {@linkcode retry} schedules its attempts. */
export interface BackoffOptions {
  /** Most attempts in all (default: no limit, so the deadline or signal must end it). */
  attempts?: number;
  /** Pause after the first failure (ms, default 250). */
  initialDelayMs?: number;
  /** Longest pause (ms, default 8,000). */
  maxDelayMs?: number;
  /** Factor between consecutive pauses (default 2). */
  multiplier?: number;
  /**
   * Fraction of each pause that is random (default 0.2: a 1 s pause lasts
   * 0.8–1 s), so that clients failing together do not retry together.
   */
  jitter?: number;
  /**
   * Time (epoch ms) after which no attempt starts: a pause that would end
   * past it is not taken and the last error is thrown instead.
   */
  deadline?: number;
  /** Stops at once, rejecting with the signal's reason. */
  signal?: AbortSignal;
  /** Whether a failure is worth another attempt (default: every failure is). */
  isRetriable?: (error: unknown) => boolean;
  /** Called before each pause, e.g. to log it. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * The pause before attempt `attempt + 1` (1-based `attempt`), jitter applied.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { backoffDelay } from "./_retry.ts";
 * assert.equal(backoffDelay(1, { initialDelayMs: 100, jitter: 0 }), 100);
 * assert.equal(backoffDelay(3, { initialDelayMs: 100, jitter: 0 }), 400);
 * assert.equal(backoffDelay(30, { initialDelayMs: 100, maxDelayMs: 500, jitter: 0 }), 500);
 * ```
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const initial = options.initialDelayMs ?? 250;
  const max = options.maxDelayMs ?? 8_000;
  const base = Math.min(initial * (options.multiplier ?? 2) ** (attempt - 1), max);
  const jitter = Math.min(Math.max(options.jitter ?? 0.2, 0), 1);
  return Math.round(base * (1 - jitter * Math.random()));
}

/**
 * Runs `fn` until it succeeds, a failure is not retriable, the attempts are
 * used up or the deadline has come; then throws the last failure. `fn` gets
 * the attempt number, from 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { retry } from "./_retry.ts";
 * let calls = 0;
 * const value = await retry(() => {
 *   if (++calls < 3) throw new Error("not yet");
 *   return Promise.resolve("done");
 * }, { initialDelayMs: 1 });
 * assert.equal(value, "done");
 * assert.equal(calls, 3);
 * await assert.rejects(
 *   retry(() => Promise.reject(new Error("fatal")), { isRetriable: () => false }),
 *   /fatal/,
 * );
 * ```
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  options: BackoffOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? Infinity;
  for (let attempt = 1;; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      options.signal?.throwIfAborted();
      if (attempt >= attempts || !(options.isRetriable?.(error) ?? true)) throw error;
      const delay = backoffDelay(attempt, options);
      if (options.deadline !== undefined && Date.now() + delay > options.deadline) throw error;
      options.onRetry?.(error, attempt, delay);
      await abortableSleep(delay, options.signal);
    }
  }
}
