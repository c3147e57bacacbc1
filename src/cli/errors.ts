/**
 * Errors the CLI turns into exit codes.
 *
 * @module
 */

/**
 * A mistake in how the command was called (unknown flag, missing argument).
 * The CLI prints the message and where the command's help is, then exits with
 * {@linkcode UsageError.exitCode} (2).
 *
 * @example Refuse a missing argument
 * ```ts
 * import assert from "node:assert/strict";
 * import { UsageError } from "./errors.ts";
 * const err = new UsageError("get needs <service-name>", "get");
 * assert.ok(err.exitCode === 2 && err.command === "get");
 * ```
 */
export class UsageError extends Error {
  /** Process exit code for usage errors. */
  readonly exitCode: 2 = 2;
  /** The command whose help the error points to, if any. */
  readonly command: string | undefined;

  /**
   * @param message What was wrong with the call.
   * @param command The command whose help to point to (omit for the tool's).
   */
  constructor(message: string, command?: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/**
 * An operation that was called correctly but failed (not found, unreachable,
 * a failing build step). The CLI prints the message and exits with
 * {@linkcode CommandError.exitCode} (1).
 *
 * @example Wrap a lower-level failure
 * ```ts
 * import assert from "node:assert/strict";
 * import { CommandError } from "./errors.ts";
 * const err = new CommandError("docker push failed", { cause: new Error("denied") });
 * assert.ok(err.exitCode === 1);
 * ```
 */
export class CommandError extends Error {
  /** Process exit code for failed operations. */
  readonly exitCode: 1 = 1;

  /**
   * @param message What failed and what to do about it.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CommandError";
  }
}
