/**
 * A bound on the bytes that requests still arriving may hold, so that many
 * large requests sent slowly cannot exhaust the service's memory.
 *
 * @module
 */

/** Thrown when a message would take more bytes than a {@linkcode ByteBudget} has left. */
export class BudgetExceededError extends Error {
  /**
   * @param budget The budget that had too little left.
   */
  constructor(budget: ByteBudget) {
    super(
      `${budget.what} already hold ${budget.used} bytes (limit ${budget.limit}); try again later`,
    );
    this.name = "BudgetExceededError";
  }
}

/**
 * Bytes held against a limit, inside an optional parent budget (a budget per
 * connection inside one for the whole service, say): taking from a budget
 * takes from its parents too.
 *
 * @example
 * ```ts
 * import { ByteBudget } from "./byte_budget.ts";
 * const service = new ByteBudget(100, "incomplete requests");
 * const connection = new ByteBudget(60, "this connection's incomplete requests", service);
 * console.assert(connection.take(50) === undefined);
 * console.assert(connection.take(20) === connection); // over the connection's 60
 * connection.give(50);
 * console.assert(service.used === 0);
 * ```
 */
export class ByteBudget {
  /** Most bytes that may be held at once. */
  readonly limit: number;
  /** What holds the bytes, for messages ("incomplete requests"). */
  readonly what: string;
  readonly #parent: ByteBudget | undefined;
  #used = 0;

  /**
   * @param limit Most bytes that may be held at once.
   * @param what What holds the bytes, for messages.
   * @param parent A budget this one also takes from.
   */
  constructor(limit: number, what: string, parent?: ByteBudget) {
    if (!(limit >= 0)) throw new RangeError(`budget limit must be a number >= 0, got ${limit}`);
    this.limit = limit;
    this.what = what;
    this.#parent = parent;
  }

  /** Bytes held now. */
  get used(): number {
    return this.#used;
  }

  /**
   * Takes `bytes` from this budget and its parents. Returns `undefined` when
   * taken, else the budget that had too little left (nothing is taken then).
   */
  take(bytes: number): ByteBudget | undefined {
    if (this.#used + bytes > this.limit) return this;
    const exceeded = this.#parent?.take(bytes);
    if (exceeded) return exceeded;
    this.#used += bytes;
    return undefined;
  }

  /** Gives back `bytes` taken earlier, to this budget and its parents. */
  give(bytes: number): void {
    this.#used -= bytes;
    this.#parent?.give(bytes);
  }
}
