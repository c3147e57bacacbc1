/**
 * The registry's data in etcd, served from an in-memory view that an etcd
 * watch keeps exact.
 *
 * Reads stay linearizable: each read first learns etcd's current revision
 * (one small request, shared by every read that arrived before it was sent)
 * and waits until the view has caught up to it. So a read after an
 * acknowledged add through any instance sees the add, and many concurrent
 * reads cost one etcd round trip between them.
 *
 * Every write this store makes enters the view as soon as etcd acknowledges
 * it (each key remembers the revision of its last change, so a late watch
 * event never undoes a newer write). So when this instance is the only writer
 * (its etcd member is the cluster's only member), reads are served from the
 * view with no etcd round trip at all.
 *
 * @module
 */
import type { Etcd3, Namespace, Watcher } from "etcd3";
import type { Logger } from "../log/logger.ts";
import { retry } from "../_retry.ts";

/** A consistent view of every entry, with a version that changes with the content. */
export interface RegistryView {
  /** InfoStr by service name. */
  readonly entries: ReadonlyMap<string, string>;
  /** Increases whenever `entries` changes (use it to cache encodings). */
  readonly version: number;
}

/** Thrown when etcd cannot be reached or refuses an operation. */
export class StoreUnavailableError extends Error {
  /**
   * @param message What failed.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}

/** Components and settings for {@linkcode RegistryStore}. */
export interface RegistryStoreInit {
  /** The etcd client (the store does not close it). */
  client: Etcd3;
  /** Key prefix under which entries live. */
  prefix?: string;
  /** Where watch problems are reported. */
  logger: Logger;
  /** How long a read waits for the watch before reading etcd directly (ms). */
  catchUpMs?: number;
  /** How long one etcd call may take before it fails (ms, default 5 s). */
  callTimeoutMs?: number;
}

/** The default etcd key prefix of registry entries. */
export const DEFAULT_KEY_PREFIX = "physarum/registry/services/";

/**
 * Registry entries in etcd with a watch-fed read view.
 *
 * @example
 * ```ts ignore
 * const store = new RegistryStore({ client: new Etcd3({ hosts }), logger });
 * await store.start();
 * await store.put("svc", "{}");
 * console.log(await store.get("svc"));
 * await store.stop();
 * ```
 */
export class RegistryStore {
  readonly #ns: Namespace;
  readonly #prefix: string;
  readonly #logger: Logger;
  readonly #catchUpMs: number;
  readonly #callTimeoutMs: number;
  #entries = new Map<string, string>();
  #version = 0;
  #revision = 0;
  #watcher: Watcher | undefined;
  #waiters: { revision: number; resolve: () => void }[] = [];
  #barrier: Promise<number> | undefined;
  #nextBarrier: Promise<number> | undefined;
  #stopped = false;
  #soleWriter = false;
  /** Revision of the last change of each key, deleted keys included until the watch passes it. */
  #changed = new Map<string, number>();
  #deleted = new Map<string, number>();

  /** @param init Components and settings. */
  constructor(init: RegistryStoreInit) {
    this.#prefix = init.prefix ?? DEFAULT_KEY_PREFIX;
    this.#ns = init.client.namespace(this.#prefix);
    this.#logger = init.logger;
    this.#catchUpMs = init.catchUpMs ?? 100;
    this.#callTimeoutMs = init.callTimeoutMs ?? 5_000;
  }

  /** Loads every entry and starts the watch that keeps the view exact. */
  async start(): Promise<void> {
    await this.#reload();
  }

  /** Stops the watch. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const watcher = this.#watcher;
    this.#watcher = undefined;
    await watcher?.cancel().catch(() => {});
    for (const waiter of this.#waiters.splice(0)) waiter.resolve();
  }

  /**
   * Declares whether this store is the cluster's only writer. Set it to false
   * before another member can join (before MemberAdd), true only when the
   * cluster has one member.
   */
  setSoleWriter(sole: boolean): void {
    this.#soleWriter = sole;
  }

  /** Whether reads are served from the view without asking etcd. */
  get soleWriter(): boolean {
    return this.#soleWriter;
  }

  /** Number of entries in the view. */
  get size(): number {
    return this.#entries.size;
  }

  /** Stores `infoStr` under `name`, replacing any previous value. */
  async put(name: string, infoStr: string): Promise<void> {
    const res = await this.#call("put", () => this.#ns.put(name).value(infoStr).exec());
    this.#apply(name, infoStr, Number(res.header.revision));
  }

  /** Deletes `name`; returns how many entries were deleted (0 or 1). */
  async delete(name: string): Promise<number> {
    const res = await this.#call("delete", () => this.#ns.delete().key(name).exec());
    const deleted = Number(res.deleted);
    if (deleted > 0) this.#apply(name, undefined, Number(res.header.revision));
    return deleted;
  }

  /** The InfoStr stored under `name`, or `undefined`. Linearizable. */
  async get(name: string): Promise<string | undefined> {
    if (await this.#caughtUp()) return this.#entries.get(name);
    return (await this.#call("get", () => this.#ns.get(name).string())) ?? undefined;
  }

  /** Every entry. Linearizable. */
  async list(): Promise<RegistryView> {
    if (await this.#caughtUp()) return { entries: this.#entries, version: this.#version };
    const all = await this.#call("list", () => this.#ns.getAll().strings());
    // A version of -1 tells callers not to cache this one-off read.
    return { entries: new Map(Object.entries(all)), version: -1 };
  }

  /** Applies a change of `name` at `revision` (`undefined` deletes) unless a newer one is known. */
  #apply(name: string, value: string | undefined, revision: number): void {
    if (revision <= (this.#changed.get(name) ?? 0)) return;
    this.#changed.set(name, revision);
    if (value === undefined) {
      this.#entries.delete(name);
      this.#deleted.set(name, revision);
    } else {
      this.#entries.set(name, value);
      this.#deleted.delete(name);
    }
    this.#version++;
  }

  /** Whether the view has caught up with etcd's current revision (waiting briefly). */
  async #caughtUp(): Promise<boolean> {
    // A sole writer's view holds every acknowledged write already.
    if (this.#soleWriter) return true;
    return await this.#reached(await this.#currentRevision());
  }

  async #reached(revision: number): Promise<boolean> {
    if (this.#revision >= revision) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waiter = { revision, resolve: () => {} };
    const reached = await new Promise<boolean>((resolve) => {
      waiter.resolve = () => resolve(true);
      this.#waiters.push(waiter);
      timer = setTimeout(() => resolve(false), this.#catchUpMs);
    });
    clearTimeout(timer);
    if (!reached) this.#waiters = this.#waiters.filter((w) => w !== waiter);
    // Writes outside our prefix move etcd's revision without a watch event; the direct read covers that.
    return reached && this.#revision >= revision;
  }

  /**
   * etcd's current revision, learnt by a request sent after this call began.
   * Calls that arrive while a request is in flight share the next one.
   */
  #currentRevision(): Promise<number> {
    if (!this.#barrier) {
      this.#barrier = this.#fetchRevision().finally(() => (this.#barrier = undefined));
      return this.#barrier;
    }
    if (!this.#nextBarrier) {
      this.#nextBarrier = this.#barrier.catch(() => {}).then(() => {
        this.#nextBarrier = undefined;
        return this.#currentRevision();
      });
    }
    return this.#nextBarrier;
  }

  async #fetchRevision(): Promise<number> {
    const res = await this.#call("read", () => this.#ns.get("").exec());
    return Number(res.header.revision);
  }

  /** Runs one etcd call; a member that does not answer (stopped, no quorum) fails it in time. */
  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer within ${this.#callTimeoutMs} ms`)),
            this.#callTimeoutMs,
          );
        }),
      ]);
    } catch (cause) {
      throw new StoreUnavailableError(
        `etcd ${what} failed: ${(cause as Error).message}; is etcd running and healthy?`,
        { cause },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  #advance(revision: number): void {
    if (revision <= this.#revision) return;
    this.#revision = revision;
    // The watch has passed these deletions: no older event for the key can arrive any more.
    for (const [name, deletedAt] of this.#deleted) {
      if (deletedAt <= revision) {
        this.#deleted.delete(name);
        this.#changed.delete(name);
      }
    }
    const ready = this.#waiters.filter((w) => w.revision <= revision);
    this.#waiters = this.#waiters.filter((w) => w.revision > revision);
    for (const waiter of ready) waiter.resolve();
  }

  /** etcd3's namespace strips the prefix from some responses but not others. */
  #name(key: string): string {
    return key.startsWith(this.#prefix) ? key.slice(this.#prefix.length) : key;
  }

  async #reload(): Promise<void> {
    const res = await this.#call("list", () => this.#ns.getAll().exec());
    const revision = Number(res.header.revision);
    const previous = { entries: this.#entries, changed: this.#changed };
    this.#entries = new Map();
    this.#changed = new Map();
    this.#deleted = new Map();
    const decoder = new TextDecoder();
    for (const kv of res.kvs) {
      const name = this.#name(decoder.decode(kv.key));
      this.#entries.set(name, decoder.decode(kv.value));
      this.#changed.set(name, Number(kv.mod_revision));
    }
    // Writes acknowledged while the list was in flight are newer than it: keep them.
    for (const [name, changedAt] of previous.changed) {
      if (changedAt > revision) this.#apply(name, previous.entries.get(name), changedAt);
    }
    this.#version++;
    await this.#watch(revision + 1);
    this.#advance(revision);
  }

  async #watch(fromRevision: number): Promise<void> {
    const watcher = await this.#call(
      "watch",
      () => this.#ns.watch().prefix("").startRevision(String(fromRevision)).create(),
    );
    if (this.#stopped) {
      await watcher.cancel().catch(() => {});
      return;
    }
    this.#watcher = watcher;
    watcher.on("data", (res) => {
      for (const event of res.events) {
        this.#apply(
          this.#name(event.kv.key.toString()),
          event.type === "Delete" ? undefined : event.kv.value.toString(),
          Number(event.kv.mod_revision),
        );
      }
      // A watch response's revision means every event up to it has been delivered.
      this.#advance(Number(res.header.revision));
    });
    watcher.on("error", (err) => {
      if (this.#stopped || watcher !== this.#watcher) return;
      this.#logger.warn(`etcd watch failed (${err.message}); reloading the registry view`);
      this.#watcher = undefined;
      void watcher.cancel().catch(() => {});
      void this.#reloadWithRetry();
    });
  }

  async #reloadWithRetry(): Promise<void> {
    await retry(() => this.#reload(), {
      initialDelayMs: 200,
      maxDelayMs: 5_000,
      isRetriable: () => !this.#stopped,
      onRetry: (err) =>
        this.#logger.warn(`reloading the registry view failed (${(err as Error).message})`),
    }).catch(() => {
      // Only a stopped store gives up; there is no view left to reload.
    });
  }
}
