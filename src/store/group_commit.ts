/**
 * Group commit: items that arrive while a commit is in flight wait and are
 * committed together by the next one. The first item of an idle queue goes at
 * the end of the event loop's turn it arrived in, with the items that arrived
 * in that turn (no timer: a lone write pays no wait); under load, one round
 * trip carries many.
 *
 * @module
 */
import { setImmediate } from "node:timers";

/** Settings of a {@linkcode GroupCommit}. */
export interface GroupCommitInit<T> {
  /**
   * Commits `batch` (in arrival order) and settles each item's own outcome.
   * Returns the items that must run again (at the front of the queue, in
   * order, e.g. after a conflict); a throw fails every item of the batch.
   */
  commit(batch: T[]): Promise<T[]>;
  /** Most items in one batch. */
  maxItems: number;
  /** Most bytes in one batch (an item larger than this goes alone). */
  maxBytes: number;
  /** An item's size in bytes. */
  bytes(item: T): number;
  /**
   * Items with the same key never share a batch: the later one waits for the
   * next, so each commit sees them one by one, in order.
   */
  key(item: T): string;
  /** Told of a batch whose commit threw (the error is also what each item is failed with). */
  fail(item: T, error: unknown): void;
}

/**
 * A queue that commits its items in batches, one commit in flight at a time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GroupCommit } from "./group_commit.ts";
 * const batches: number[][] = [];
 * const done: number[] = [];
 * const group = new GroupCommit<number>({
 *   commit: async (batch) => {
 *     batches.push(batch);
 *     await new Promise((r) => setTimeout(r, 1));
 *     done.push(...batch);
 *     return [];
 *   },
 *   maxItems: 3,
 *   maxBytes: 1_000,
 *   bytes: () => 1,
 *   key: String,
 *   fail: () => {},
 * });
 * for (let i = 0; i < 5; i++) group.submit(i);
 * await group.idle();
 * // Submitted in one turn: they go together, within the bounds.
 * assert.deepEqual(batches, [[0, 1, 2], [3, 4]]);
 * assert.deepEqual(done, [0, 1, 2, 3, 4]);
 * ```
 */
export class GroupCommit<T> {
  readonly #init: GroupCommitInit<T>;
  #queue: T[] = [];
  #running: Promise<void> | undefined;
  /** Whether a run is going (it ends in the turn it finds the queue empty). */
  #active = false;

  /** @param init How to commit and how large a batch may be. */
  constructor(init: GroupCommitInit<T>) {
    if (!(init.maxItems >= 1 && init.maxBytes >= 1)) {
      throw new RangeError("maxItems and maxBytes must be at least 1");
    }
    this.#init = init;
  }

  /** Items waiting for a commit. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Queues `item`; it is committed at the end of this turn when nothing is in flight. */
  submit(item: T): void {
    this.#queue.push(item);
    if (this.#active) return;
    this.#active = true;
    this.#running = this.#run();
  }

  /** Resolves once the queue is empty and no commit is in flight. */
  async idle(): Promise<void> {
    while (this.#active) await this.#running;
  }

  async #run(): Promise<void> {
    // The first batch is taken once this turn of the event loop has run: requests that
    // arrived together (a client's next wave) go together, a lone one waits for no timer.
    await new Promise((resolve) => setImmediate(resolve));
    // The queue is checked and the flag cleared in one turn: an item submitted
    // after that starts a new run, none is left waiting for this one.
    while (this.#queue.length > 0) {
      const batch = this.#take();
      let again: T[];
      try {
        again = await this.#init.commit(batch);
      } catch (err) {
        for (const item of batch) this.#init.fail(item, err);
        continue;
      }
      this.#queue.unshift(...again);
    }
    this.#active = false;
  }

  /** The next batch: queue order, within the bounds, one item per key. */
  #take(): T[] {
    const { maxItems, maxBytes, bytes, key } = this.#init;
    const batch: T[] = [];
    const rest: T[] = [];
    const keys = new Set<string>();
    let size = 0;
    for (const item of this.#queue) {
      const itemBytes = bytes(item);
      const k = key(item);
      if (
        batch.length >= maxItems || keys.has(k) ||
        (batch.length > 0 && size + itemBytes > maxBytes)
      ) {
        rest.push(item);
        // A later write of this key must not overtake the one left for the next batch.
        keys.add(k);
        continue;
      }
      batch.push(item);
      keys.add(k);
      size += itemBytes;
    }
    this.#queue = rest;
    return batch;
  }
}
