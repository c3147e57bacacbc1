/**
 * The change feed of the registry: what a `/watch/0.1` stream sends, built
 * from the store's one etcd watch (the same events that keep the in-memory
 * view and the history index) plus, for a watcher resuming from an earlier
 * revision, a bounded catch-up from etcd's own history.
 *
 * Order and exactness: every event is sent once, in revision order, only
 * after the view holds it. A watcher subscribes to the live events first and
 * holds them while the catch-up runs; the catch-up ends at the last change
 * the view had seen when it subscribed, so the two meet without a gap or an
 * overlap.
 *
 * @module
 */
import type { WatchEvent } from "../protocol/messages.ts";

/** One change of a service entry, as etcd committed it. */
export type Change =
  | { type: "put"; name: string; value: string; revision: number }
  | { type: "delete"; name: string; revision: number };

/** Receives the live changes of a {@linkcode ChangeSource}. */
export interface ChangeListener {
  /** Changes the view now holds, in revision order, and the view's revision after them. */
  changes(changes: readonly Change[], revision: number): void;
  /** The view was rebuilt from a fresh read: changes may have been skipped. */
  gap(): void;
}

/** Where a subscription starts. */
export interface Subscription {
  /** The view's revision: every later change goes to the listener, no earlier one. */
  readonly revision: number;
  /**
   * Revision of the last change under the registry's prefix that the view
   * had seen (at most `revision`): a catch-up that reaches it has everything.
   */
  readonly lastChange: number;
  /** The entries at `revision` (only when asked for), with each one's revision. */
  readonly entries: readonly Extract<Change, { type: "put" }>[];
  /**
   * Every change after the `after` asked for, up to `revision`, when the
   * store still holds them in memory; `undefined` when it does not.
   */
  readonly recent: readonly Change[] | undefined;
  /** Stops the live changes. */
  close(): void;
}

/** Thrown when the revision to resume from is older than etcd's last compaction. */
export class CompactedError extends Error {
  /** @param revision The revision asked for. */
  constructor(revision: number) {
    super(`revision ${revision} has been compacted`);
    this.name = "CompactedError";
  }
}

/**
 * Thrown (or given to `fail`) when a watcher takes its answer too slowly:
 * more changes wait for it than it may hold, or it stopped reading.
 */
export class WatcherTooSlowError extends Error {
  /** @param message What was too much. */
  constructor(message: string) {
    super(`too slow: ${message}; resume from the last revision received`);
    this.name = "WatcherTooSlowError";
  }
}

/** A running catch-up from etcd's history. */
export interface Replay {
  /** Stops it. */
  cancel(): Promise<void>;
}

/** What {@linkcode openChanges} needs of the store (implemented by `RegistryStore`). */
export interface ChangeSource {
  /**
   * Registers `listener` at a linearizable point (after every write
   * acknowledged before the call); `entries` holds the view there when
   * `withEntries` (only `name`'s when given), and `recent` the changes after
   * `after` when it is given and they are still in memory.
   */
  subscribe(
    listener: ChangeListener,
    options: { withEntries: boolean; name?: string; after?: number },
  ): Promise<Subscription>;
  /**
   * Sends every change after `revision` from etcd's history, in order, with
   * the revision of the last change of any kind under the prefix each batch
   * reaches (`through`), until cancelled.
   * @throws {CompactedError} When `revision` is compacted away.
   */
  replay(
    revision: number,
    onChanges: (changes: readonly Change[], through: number) => void,
    onError: (err: Error) => void,
  ): Promise<Replay>;
}

/** What {@linkcode openChanges} streams. */
export interface ChangesRequest {
  /** Only this service's changes. */
  name?: string;
  /** Every change after this revision first, instead of a snapshot. */
  fromRevision?: number;
  /**
   * Resolves when the watcher can take more: a snapshot (every entry) is
   * sent no faster than this allows, while live changes wait.
   */
  ready?: () => Promise<void>;
  /**
   * Most bytes of live changes held while the snapshot or catch-up is sent;
   * past it the feed fails with {@linkcode WatcherTooSlowError}. No limit when
   * omitted.
   */
  maxHeldBytes?: number;
}

/** A change feed opened by {@linkcode openChanges}. */
export interface ChangeStream {
  /** How far the watcher is known to be up to date (for pings). */
  readonly revision: number;
  /** Stops it. */
  close(): Promise<void>;
}

/** Each change's event, made once for every watcher that gets it (so its encoding can be shared). */
const events = new WeakMap<Change, WatchEvent>();

function eventOf(change: Change): WatchEvent {
  let event = events.get(change);
  if (!event) {
    event = change.type === "put"
      ? { Type: "put", Name: change.name, InfoStr: change.value, Revision: change.revision }
      : { Type: "delete", Name: change.name, Revision: change.revision };
    events.set(change, event);
  }
  return event;
}

/**
 * Opens the feed of `request` on `source`: `emit` gets the events of the
 * `/watch/0.1` answer in order (snapshot or catch-up, `synced`, live ones),
 * and `fail` the reason the feed cannot go on (the view was rebuilt, etcd
 * failed): the watcher then resumes from the last revision it got.
 *
 * @example
 * ```ts ignore
 * const feed = await openChanges(store, { name: "svc" }, (e) => send(e), (err) => close(err));
 * ```
 */
export async function openChanges(
  source: ChangeSource,
  request: ChangesRequest,
  emit: (event: WatchEvent) => void,
  fail: (err: Error) => void,
): Promise<ChangeStream> {
  const { name, fromRevision } = request;
  let live = false;
  let closed = false;
  let sent = 0;
  /** The view's revision once live: every change up to it has been sent. */
  let position = 0;
  let held: Change[] = [];
  let heldBytes = 0;
  let replay: Replay | undefined;
  const send = (change: Change) => {
    // One transaction may change several names at one revision: only older ones are skipped.
    if (change.revision < sent || (name !== undefined && change.name !== name)) return;
    sent = change.revision;
    emit(eventOf(change));
  };
  const stop = (err?: Error) => {
    if (closed) return;
    closed = true;
    subscription.close();
    void replay?.cancel();
    if (err) fail(err);
  };
  const listener: ChangeListener = {
    changes(changes, revision) {
      if (closed) return;
      if (!live) {
        held.push(...changes);
        // About what each will take as a line (its UTF-16 length, not the exact bytes).
        for (const change of changes) {
          heldBytes += 64 + change.name.length + (change.type === "put" ? change.value.length : 0);
        }
        if (heldBytes > (request.maxHeldBytes ?? Infinity)) {
          stop(
            new WatcherTooSlowError(
              `${heldBytes} bytes of changes held while the watcher took its snapshot, ` +
                `limit ${request.maxHeldBytes}`,
            ),
          );
        }
        return;
      }
      for (const change of changes) send(change);
      position = Math.max(position, revision);
    },
    gap() {
      stop(
        new Error("this instance rebuilt its view of the registry; resume from the last revision"),
      );
    },
  };
  const goLive = (revision: number) => {
    sent = position = Math.max(sent, revision);
    emit({ Type: "synced", Revision: revision });
    live = true;
    for (const change of held) send(change);
    held = [];
    heldBytes = 0;
  };
  /** Sends `changes` as the watcher takes them (live ones wait), then `synced`. */
  const catchUp = async (changes: readonly Change[], revision: number) => {
    for (const change of changes) {
      if (closed) return;
      send(change);
      await request.ready?.();
    }
    if (!closed) goLive(revision);
  };
  const snapshot = (entries: Subscription["entries"], revision: number) =>
    catchUp([...entries].sort((a, b) => a.revision - b.revision), revision);

  let subscription = await source.subscribe(listener, {
    withEntries: fromRevision === undefined,
    name,
    after: fromRevision,
  });
  const reset = async () => {
    // The client's revision cannot be resumed from: it gets the entries and rebuilds.
    subscription.close();
    held = [];
    heldBytes = 0;
    emit({ Type: "reset" });
    subscription = await source.subscribe(listener, { withEntries: true, name });
    await snapshot(subscription.entries, subscription.revision);
  };
  if (fromRevision === undefined) {
    await snapshot(subscription.entries, subscription.revision);
  } else if (fromRevision > subscription.revision) {
    // A revision etcd has not reached comes from another cluster's history.
    await reset();
  } else if (fromRevision >= subscription.lastChange) {
    goLive(subscription.revision);
  } else if (subscription.recent) {
    // Recent enough for the store's memory: no etcd watch of its own (many resume at once).
    sent = fromRevision;
    await catchUp(subscription.recent, subscription.revision);
  } else {
    const target = subscription.lastChange;
    sent = fromRevision;
    try {
      replay = await source.replay(fromRevision, (changes, through) => {
        if (closed || live) return;
        for (const change of changes) if (change.revision <= target) send(change);
        if (through >= target) {
          void replay?.cancel();
          goLive(subscription.revision);
        }
      }, (err) => {
        if (!live) stop(err);
      });
    } catch (err) {
      if (!(err instanceof CompactedError)) {
        stop();
        throw err;
      }
      await reset();
    }
    if (closed) await replay?.cancel();
  }
  return {
    get revision() {
      return live ? Math.max(sent, position) : sent;
    },
    close() {
      stop();
      return replay?.cancel() ?? Promise.resolve();
    },
  };
}
