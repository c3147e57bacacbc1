/**
 * Bounds on what the requests of many peers may hold together: bytes of
 * requests still arriving, requests in flight.
 *
 * @module
 */

/** Thrown when something would take more than a {@linkcode Budget} has left. */
export class BudgetExceededError extends Error {
  /**
   * @param budget The budget that had too little left.
   */
  constructor(budget: Budget) {
    super(`${budget.what}: ${budget.used} of ${budget.limit} in use; try again later`);
    this.name = "BudgetExceededError";
  }
}

/**
 * An amount in use against a limit, inside an optional parent budget (one
 * per connection inside one for the whole service, say): taking from a
 * budget takes from its parents too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Budget } from "./budget.ts";
 * const service = new Budget(100, "bytes of requests still arriving");
 * const connection = new Budget(60, "bytes of requests still arriving on this connection", service);
 * assert.ok(connection.take(50) === undefined);
 * assert.ok(connection.take(20) === connection); // over the connection's 60
 * connection.give(50);
 * assert.ok(service.used === 0);
 * ```
 */
export class Budget {
  /** Most that may be in use at once. */
  readonly limit: number;
  /** What is counted, for messages ("requests in flight"). */
  readonly what: string;
  readonly #parent: Budget | undefined;
  #used = 0;

  /**
   * @param limit Most that may be in use at once.
   * @param what What is counted, for messages.
   * @param parent A budget this one also takes from.
   */
  constructor(limit: number, what: string, parent?: Budget) {
    if (!(limit >= 0)) throw new RangeError(`budget limit must be a number >= 0, got ${limit}`);
    this.limit = limit;
    this.what = what;
    this.#parent = parent;
  }

  /** Amount in use now. */
  get used(): number {
    return this.#used;
  }

  /**
   * Takes `amount` from this budget and its parents. Returns `undefined` when
   * taken, else the budget that had too little left (nothing is taken then).
   */
  take(amount: number): Budget | undefined {
    if (this.#used + amount > this.limit) return this;
    const exceeded = this.#parent?.take(amount);
    if (exceeded) return exceeded;
    this.#used += amount;
    return undefined;
  }

  /** Gives back `amount` taken earlier, to this budget and its parents. */
  give(amount: number): void {
    this.#used -= amount;
    this.#parent?.give(amount);
  }
}
