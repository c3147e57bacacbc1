/**
 * Test helper: the changes a watch delivers, collected in the background,
 * with a wait for the moment they satisfy a condition.
 */
import type { ServiceChange } from "../src/client/watch.ts";

/** Changes collected from a running watch. */
export interface Collected {
  /** Every change so far, in the order delivered. */
  readonly changes: ServiceChange[];
  /** Waits until `done(changes)` holds; throws after `ms` with what arrived. */
  until(what: string, done: (changes: ServiceChange[]) => boolean, ms?: number): Promise<void>;
  /** Stops the watch and waits for its loop to end. */
  stop(): Promise<void>;
}

/** Starts collecting the changes `open(signal)` delivers. */
export function collect(open: (signal: AbortSignal) => AsyncIterable<ServiceChange>): Collected {
  const stop = new AbortController();
  const changes: ServiceChange[] = [];
  let failure: unknown;
  const loop = (async () => {
    try {
      for await (const change of open(stop.signal)) changes.push(change);
    } catch (err) {
      if (!stop.signal.aborted) failure = err;
    }
  })();
  return {
    changes,
    async until(what, done, ms = 20_000) {
      const deadline = Date.now() + ms;
      while (!done(changes)) {
        if (failure) throw new Error(`watch failed while waiting for ${what}`, { cause: failure });
        if (Date.now() > deadline) {
          throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(changes)}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      stop.abort();
      await loop;
    },
  };
}

/** The changes after the first `synced`, as `type name` strings. */
export function afterSynced(changes: readonly ServiceChange[]): ServiceChange[] {
  const at = changes.findIndex((c) => c.type === "synced");
  return at < 0 ? [] : changes.slice(at + 1);
}

/** A change as `put name` / `delete name` / `synced` / `reset`. */
export function label(change: ServiceChange): string {
  return change.type === "put" || change.type === "delete"
    ? `${change.type} ${change.name}`
    : change.type;
}
