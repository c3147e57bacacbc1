/**
 * The registry's data in etcd, served from an in-memory view that an etcd
 * watch keeps exact.
 *
 * Keys, under one root prefix (`physarum/registry/`):
 * - `services/<name>`: the InfoStr (the original's format);
 * - `owners/<name>`: the owner's peer id, set in the same transaction as
 *   the name's first put and kept when the name is deleted;
 * - `history/<name>/<id>`: one accepted write (`{Op, InfoStr, Peer, Time}`),
 *   written in the same transaction as the write, so its `mod_revision` is
 *   the write's revision. The last `historyLimit` records of a name are kept.
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
 * A name's first put is also checked against the names it looks like (see
 * `look_alikes.ts`): the view keeps every name, entry or owner record, by its
 * confusable skeleton, and the author's rule is told of a look-alike another
 * peer owns.
 *
 * Writes are checked against the name's owner inside the store, and
 * committed in groups: writes that arrive while a transaction is in flight
 * go together in the next one (a lone write goes at the end of its turn of
 * the event loop, with no timer). Each write is checked on its own against
 * the view, and the transaction compares the
 * revision of every owner record (and entry, for a delete) a check saw, so a
 * concurrent change of owner (two racing first adds, say) makes the batch
 * check again instead of writing past it. A refused write is answered once
 * the transaction shows the owner it was refused by (another instance's
 * chown may not have reached this view yet; a sole writer answers at once),
 * and leaves the others of its batch alone; a transaction etcd
 * fails fails every write in it, and stores none. Two writes of one name never
 * share a transaction: the later waits for the next, so they apply in order,
 * each with its own revision and history record. Nor do writes of two names
 * that look alike: the later is checked against a view that holds the first.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Etcd3, IKeyValue, Namespace } from "etcd3";
import type { Logger } from "../log/logger.ts";
import type { HistoryOp, HistoryVersion } from "../protocol/messages.ts";
import { invisibleCharacterIn } from "../protocol/messages.ts";
import { parseServiceInfo } from "../protocol/service_info.ts";
import { retry } from "../_retry.ts";
import {
  type Change,
  type ChangeListener,
  type ChangeSource,
  CompactedError,
  type Replay,
  type Subscription,
} from "./changes.ts";
import { GroupCommit } from "./group_commit.ts";
import { LookAlikeIndex, nameSkeleton } from "./look_alikes.ts";
import type { EtcdKv, KvCompare, KvEntry, KvOp } from "./etcd_kv.ts";
import type { EtcdWatch, WatchBatch } from "./etcd_watch.ts";

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

/**
 * Thrown when a write is refused (not authorized, no such service, no such
 * version): the request was understood and nothing was changed. The message
 * is the reason, for an `Error: <reason>` answer.
 */
export class WriteRefusedError extends Error {
  /**
   * @param message The reason, e.g. `not authorized: "svc" is owned by 12D3KooW…; …`.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WriteRefusedError";
  }
}

/** What a write would do, for a {@linkcode WriteAuthor} to allow or refuse. */
export interface WriteChange {
  /** `put` (add), `delete`, `rollback` (a put or delete of an earlier version), `chown`. */
  op: "put" | "delete" | "rollback" | "chown";
  /** The (normalized) service name. */
  name: string;
  /** The name's owner now, `undefined` when it has none. */
  owner: string | undefined;
  /**
   * For a put that would create `name`: an existing name that looks like it
   * (same confusable skeleton) and that another peer owns (or no one does).
   */
  lookAlike?: { name: string; owner: string | undefined };
}

/**
 * Who makes a write, and the rule it is held to: the store asks
 * {@linkcode WriteAuthor.refusal} with the owner its transaction compares, so
 * the rule holds for the owner the write actually replaces.
 */
export interface WriteAuthor {
  /** Peer id of the writer: recorded in history, and the owner of a name it adds first. */
  readonly peer: string;
  /** Why the writer may not make `change`; `undefined` when it may. */
  refusal(change: WriteChange): string | undefined;
}

/** What the handlers need of the registry's data (implemented by {@linkcode RegistryStore}). */
export interface RegistryData {
  /** The InfoStr stored under `name`, or `undefined`. Linearizable. */
  get(name: string): Promise<string | undefined>;
  /** Every entry. Linearizable. */
  list(): Promise<RegistryView>;
  /**
   * Stores `infoStr` under `name` (the first put makes `author` its owner) and
   * records it; returns the write's revision.
   * @throws {WriteRefusedError} When `author` may not change `name`.
   */
  put(name: string, infoStr: string, author: WriteAuthor): Promise<number>;
  /**
   * Deletes `name` and records it; returns the revision, or `undefined` when
   * there was nothing to delete.
   * @throws {WriteRefusedError} When `author` may not change `name`.
   */
  delete(name: string, author: WriteAuthor): Promise<number | undefined>;
  /** The recorded versions of `name`, newest first (at most the history limit). */
  history(name: string): Promise<HistoryVersion[]>;
  /**
   * Writes the version of `name` at `revision` again (0: the one before the
   * current one); returns the revision restored and the new write's revision.
   * @throws {WriteRefusedError} When there is no such service or version, or `author` may not.
   */
  rollback(
    name: string,
    revision: number,
    author: WriteAuthor,
  ): Promise<{ restored: number; revision: number }>;
  /**
   * Makes `owner` the owner of `name`; returns the revision.
   * @throws {WriteRefusedError} When there is no such service or `author` may not.
   */
  chown(name: string, owner: string, author: WriteAuthor): Promise<number>;
}

/** Components and settings for {@linkcode RegistryStore}. */
export interface RegistryStoreInit {
  /** The etcd client: history reads (the store does not close it). */
  client: Etcd3;
  /** The same member's calls the store makes per request, and its watches (not closed either). */
  kv: EtcdKv;
  /** Root key prefix; entries live under `<prefix>services/` (default `physarum/registry/`). */
  prefix?: string;
  /** Where watch problems and bad entries are reported. */
  logger: Logger;
  /** How long a read waits for the watch before reading etcd directly (ms). */
  catchUpMs?: number;
  /** How long one etcd call may take before it fails (ms, default 5 s). */
  callTimeoutMs?: number;
  /** How many recorded versions of each name are kept (default 20). */
  historyLimit?: number;
  /** How many recent changes of entries are kept in memory for watchers that resume (default 10,000). */
  recentChanges?: number;
  /** Most writes committed in one transaction, 1–64 (default {@linkcode DEFAULT_BATCH_WRITES}). */
  batchWrites?: number;
  /**
   * Most bytes of values in one transaction (default {@linkcode DEFAULT_BATCH_BYTES}); a
   * larger write goes alone.
   */
  batchBytes?: number;
}

/** The default root etcd key prefix of the registry's data. */
export const DEFAULT_ROOT_PREFIX = "physarum/registry/";
/** The default etcd key prefix of registry entries (original-compatible). */
export const DEFAULT_KEY_PREFIX = `${DEFAULT_ROOT_PREFIX}services/`;
/** How many versions of each name are kept unless told otherwise. */
export const DEFAULT_HISTORY_LIMIT = 20;

const SERVICES = "services/";
const OWNERS = "owners/";
const HISTORY = "history/";
/**
 * A key of the store's own, written when a read waits for the watch in vain: a write outside the
 * prefix (another registry's, under another `-key-prefix`) moves etcd's revision with no event,
 * and this write's event, which etcd sends after every earlier one, brings the view up to it.
 */
const NUDGE_KEY = "cluster/nudge";
/** How long a read waits for the watch before it nudges it (ms). */
const NUDGE_AFTER_MS = 10;
/** Attempts of a write whose owner changed under it before it gives up. */
const WRITE_ATTEMPTS = 5;
/** etcd's default --max-txn-ops: the most operations of each kind in one transaction. */
const MAX_TXN_OPS = 128;
/** Writes per group commit: each compares up to 2 keys and reads 2 back on a conflict. */
export const DEFAULT_BATCH_WRITES = 32;
/** Bytes of values per group commit, well under etcd's default 1.5 MiB request limit. */
export const DEFAULT_BATCH_BYTES = 512 * 1024;

const strictDecoder = new TextDecoder("utf-8", { fatal: true });
const decoder = new TextDecoder();

/** A key's bytes as text, or `undefined` when they are not UTF-8 (such a key cannot be served). */
function decodeKey(bytes: Uint8Array): string | undefined {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return undefined;
  }
}

interface Owner {
  owner: string;
  /** mod_revision of the owner record. */
  revision: number;
}

/** A write waiting for its group commit. */
interface PendingWrite {
  name: string;
  /**
   * The name's confusable skeleton: writes of look-alike names never share a batch (each is
   * checked against a view that holds the ones before it), nor do two writes of one name.
   */
  skeleton: string;
  op: WriteChange["op"];
  /** The value put; `undefined` for a delete; the new owner for `chown`. */
  value: string | undefined;
  author: WriteAuthor;
  /** Commits it took part in whose compares failed on its account. */
  attempts: number;
  resolve(revision: number | undefined): void;
  reject(error: Error): void;
}

/** A write's part of one transaction, checked against the view when the batch was built. */
interface PlannedWrite {
  write: PendingWrite;
  serviceKey: string;
  ownerKey: string;
  /** What must still hold in etcd for the write to be what its check allowed. */
  compares: KvCompare[];
  ops: KvOp[];
  /**
   * Why the write is refused, by the owner the compares hold to: it is
   * answered with this once the transaction shows that owner current.
   */
  refusal?: string;
  /** Applies the committed write to the view; its answer. */
  applied(revision: number): number | undefined;
  /** Whether the view still shows what the compares expect (false: this write was stale). */
  current(): boolean;
}

/**
 * Registry entries in etcd with a watch-fed read view, owners and history.
 *
 * @example
 * ```ts ignore
 * const store = new RegistryStore({ client: new Etcd3({ hosts }), kv: createEtcdKv(hosts), logger });
 * await store.start();
 * await store.put("svc", infoStr, policy.author(peerId));
 * console.log(await store.get("svc"));
 * await store.stop();
 * ```
 */
export class RegistryStore implements RegistryData, ChangeSource {
  readonly #ns: Namespace;
  readonly #kv: EtcdKv;
  readonly #prefix: string;
  readonly #logger: Logger;
  readonly #catchUpMs: number;
  readonly #callTimeoutMs: number;
  readonly #historyLimit: number;
  #entries = new Map<string, string>();
  #owners = new Map<string, Owner>();
  /** Every name with an entry or an owner record, by confusable skeleton. */
  #lookAlikes = new LookAlikeIndex();
  /** Revision of each history record by record id, by name (for trimming). */
  #history = new Map<string, Map<string, number>>();
  #version = 0;
  #revision = 0;
  #watcher: EtcdWatch | undefined;
  #waiters: { revision: number; resolve: () => void }[] = [];
  #barrier: Promise<number> | undefined;
  #nextBarrier: Promise<number> | undefined;
  /** A nudge in flight (one at a time, for every read waiting). */
  #nudging = false;
  #stopped = false;
  #soleWriter = false;
  /** Revision of the last change of each key, deleted keys included until the watch passes it. */
  #changed = new Map<string, number>();
  #deleted = new Map<string, number>();
  /** Bad entries already reported (key@revision). */
  #reported = new Set<string>();
  /** Who gets the watch's changes of entries (the change feed). */
  #listeners = new Set<ChangeListener>();
  /** Revision of the last change under the prefix the view has seen. */
  #lastChange = 0;
  /** Revision of the newest write this store made. */
  #lastWritten = 0;
  /** The last changes of entries, for watchers that resume (every one after `#recentFrom`). */
  #recent: Change[] = [];
  #recentFrom = 0;
  readonly #recentLimit: number;
  readonly #commits: GroupCommit<PendingWrite>;

  /** @param init Components and settings. */
  constructor(init: RegistryStoreInit) {
    this.#prefix = init.prefix ?? DEFAULT_ROOT_PREFIX;
    this.#ns = init.client.namespace(this.#prefix);
    this.#kv = init.kv;
    this.#logger = init.logger;
    this.#catchUpMs = init.catchUpMs ?? 100;
    this.#callTimeoutMs = init.callTimeoutMs ?? 5_000;
    this.#historyLimit = init.historyLimit ?? DEFAULT_HISTORY_LIMIT;
    this.#recentLimit = init.recentChanges ?? 10_000;
    if (!(Number.isInteger(this.#historyLimit) && this.#historyLimit >= 1)) {
      throw new RangeError(`historyLimit must be an integer >= 1, got ${init.historyLimit}`);
    }
    const batchWrites = init.batchWrites ?? DEFAULT_BATCH_WRITES;
    // Each write reads two keys back when the transaction fails: 64 writes make etcd's 128.
    if (!(Number.isInteger(batchWrites) && batchWrites >= 1 && batchWrites <= MAX_TXN_OPS / 2)) {
      throw new RangeError(`batchWrites must be an integer in 1..64, got ${init.batchWrites}`);
    }
    this.#commits = new GroupCommit({
      commit: (batch) => this.#commitBatch(batch),
      maxItems: batchWrites,
      maxBytes: init.batchBytes ?? DEFAULT_BATCH_BYTES,
      // The value goes twice (entry and history record); a name in up to four keys.
      bytes: (write) =>
        2 * Buffer.byteLength(write.value ?? "") + 4 * Buffer.byteLength(write.name),
      key: (write) => write.skeleton,
      fail: (write, error) => write.reject(error as Error),
    });
  }

  /** Loads every entry and starts the watch that keeps the view exact. */
  async start(): Promise<void> {
    await this.#reload();
  }

  /** Stops the watch. */
  stop(): Promise<void> {
    this.#stopped = true;
    this.#watcher?.cancel();
    this.#watcher = undefined;
    for (const waiter of this.#waiters.splice(0)) waiter.resolve();
    return Promise.resolve();
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

  /** {@inheritDoc ChangeSource.subscribe} */
  async subscribe(
    listener: ChangeListener,
    options: { withEntries: boolean; name?: string; after?: number },
  ): Promise<Subscription> {
    await this.#caughtUp();
    // Writes of this store enter the view before their watch event: wait for the events, so
    // the entries are exactly the view at its revision and no change is both in them and sent.
    while (this.#lastWritten > this.#revision && !this.#stopped) {
      await this.#reached(this.#lastWritten);
    }
    const entries: Extract<Change, { type: "put" }>[] = [];
    const names = !options.withEntries
      ? []
      : options.name === undefined
      ? this.#entries.keys()
      : [options.name];
    for (const name of names) {
      const value = this.#entries.get(name);
      const revision = this.#changed.get(SERVICES + name);
      if (value !== undefined && revision !== undefined) {
        entries.push({ type: "put", name, value, revision });
      }
    }
    const after = options.after;
    this.#listeners.add(listener);
    return {
      revision: this.#revision,
      lastChange: Math.min(this.#lastChange, this.#revision),
      entries,
      recent: after === undefined || after < this.#recentFrom
        ? undefined
        : this.#recent.slice(firstAfter(this.#recent, after)),
      close: () => void this.#listeners.delete(listener),
    };
  }

  /** Keeps `changes` among the recent ones, dropping the oldest revisions beyond the limit. */
  #remember(changes: readonly Change[]): void {
    this.#recent.push(...changes);
    // Trimmed in steps of a quarter, so that a change costs no copy of the whole log.
    if (this.#recent.length <= this.#recentLimit * 1.25) return;
    let cut = this.#recent.length - this.#recentLimit;
    // A revision is kept whole: `#recentFrom` says every change after it is here.
    while (
      cut < this.#recent.length && this.#recent[cut].revision === this.#recent[cut - 1].revision
    ) {
      cut++;
    }
    this.#recentFrom = this.#recent[cut - 1].revision;
    this.#recent = this.#recent.slice(cut);
  }

  /** {@inheritDoc ChangeSource.replay} */
  async replay(
    revision: number,
    onChanges: (changes: readonly Change[], through: number) => void,
    onError: (err: Error) => void,
  ): Promise<Replay> {
    // A compacted start is refused with a read at that revision: a watch reports it
    // only as a cancellation without its reason.
    try {
      await this.#ns.get(SERVICES).revision(String(revision + 1)).exec();
    } catch (err) {
      if (/compacted/i.test((err as Error).message)) throw new CompactedError(revision);
      throw new StoreUnavailableError(`etcd read failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const watch = await this.#call(
      "watch",
      (signal) =>
        this.#kv.watch(
          { prefix: this.#prefix, startRevision: revision + 1, progressNotify: true },
          {
            onBatch: ({ events }) => {
              const changes: Change[] = [];
              let through = 0;
              for (const event of events) {
                const at = event.modRevision;
                through = Math.max(through, at);
                const key = decodeKey(event.key);
                if (key === undefined) continue;
                const change = toChange(
                  key.slice(this.#prefix.length),
                  event.type === "delete" ? undefined : decoder.decode(event.value),
                  at,
                );
                if (change) changes.push(change);
              }
              if (events.length > 0) onChanges(changes, through);
            },
            onEnd: onError,
            onRetry: (err) =>
              this.#logger.warn(
                `etcd watch of a resuming watcher failed (${err.message}); resuming it`,
              ),
          },
          signal,
        ),
    );
    return {
      cancel: () => {
        watch.cancel();
        return Promise.resolve();
      },
    };
  }

  /** {@inheritDoc RegistryData.put} */
  async put(name: string, infoStr: string, author: WriteAuthor): Promise<number> {
    return (await this.#write(name, "put", infoStr, author))!;
  }

  /** {@inheritDoc RegistryData.delete} */
  async delete(name: string, author: WriteAuthor): Promise<number | undefined> {
    return await this.#write(name, "delete", undefined, author);
  }

  /** {@inheritDoc RegistryData.get} */
  async get(name: string): Promise<string | undefined> {
    if (await this.#caughtUp()) return this.#entries.get(name);
    const res = await this.#call("get", () => this.#ns.get(SERVICES + checkName(name)).exec());
    return res.kvs.length > 0 ? decoder.decode(res.kvs[0].value) : undefined;
  }

  /** {@inheritDoc RegistryData.list} */
  async list(): Promise<RegistryView> {
    if (await this.#caughtUp()) return { entries: this.#entries, version: this.#version };
    const res = await this.#call("list", () => this.#ns.getAll().prefix(SERVICES).exec());
    const entries = new Map<string, string>();
    for (const kv of res.kvs) {
      const name = this.#relative(kv.key, Number(kv.mod_revision))?.slice(SERVICES.length);
      if (name !== undefined) entries.set(name, decoder.decode(kv.value));
    }
    // A version of -1 tells callers not to cache this one-off read.
    return { entries, version: -1 };
  }

  /** {@inheritDoc RegistryData.history} */
  async history(name: string): Promise<HistoryVersion[]> {
    const prefix = `${HISTORY}${checkName(name)}/`;
    const res = await this.#call("history", () => this.#ns.getAll().prefix(prefix).exec());
    const versions: HistoryVersion[] = [];
    for (const kv of res.kvs) {
      const version = this.#parseRecord(kv);
      if (version) versions.push(version);
    }
    versions.sort((a, b) => b.Revision - a.Revision);
    return versions.slice(0, this.#historyLimit);
  }

  /** {@inheritDoc RegistryData.rollback} */
  async rollback(
    name: string,
    revision: number,
    author: WriteAuthor,
  ): Promise<{ restored: number; revision: number }> {
    // Who may not change the name learns that first, not which versions it has.
    const refusal = author.refusal({ op: "rollback", name, owner: this.#owners.get(name)?.owner });
    if (refusal !== undefined) throw new WriteRefusedError(refusal);
    const versions = await this.history(name);
    if (versions.length === 0) {
      throw new WriteRefusedError(
        (await this.get(name)) === undefined
          ? `no such service ${JSON.stringify(name)}`
          : `${JSON.stringify(name)} has no recorded versions to roll back to`,
      );
    }
    const target = revision === 0 ? versions[1] : versions.find((v) => v.Revision === revision);
    if (!target) {
      throw new WriteRefusedError(
        revision === 0
          ? `${JSON.stringify(name)} has no version before the current one`
          : `${JSON.stringify(name)} has no recorded version at revision ${revision}; ` +
            "see its history",
      );
    }
    if (target.Op === "put") {
      try {
        parseServiceInfo(target.InfoStr);
      } catch (cause) {
        throw new WriteRefusedError(
          `version ${target.Revision} of ${JSON.stringify(name)} is not a valid service info: ` +
            (cause as Error).message,
          { cause },
        );
      }
    }
    const written = await this.#write(
      name,
      "rollback",
      target.Op === "put" ? target.InfoStr : undefined,
      author,
    );
    if (written === undefined) {
      throw new WriteRefusedError(
        `${JSON.stringify(name)} is deleted already, as at revision ${target.Revision}`,
      );
    }
    return { restored: target.Revision, revision: written };
  }

  /** {@inheritDoc RegistryData.chown} */
  async chown(name: string, owner: string, author: WriteAuthor): Promise<number> {
    checkName(name);
    if (!this.#owners.has(name) && (await this.get(name)) === undefined) {
      throw new WriteRefusedError(`no such service ${JSON.stringify(name)}`);
    }
    return (await this.#write(name, "chown", owner, author))!;
  }

  /**
   * Queues a write for the next group commit: a put (`value`), a delete
   * (`undefined`) or, for `chown`, the new owner (`value`). Resolves with the
   * revision, or `undefined` for a delete of nothing.
   */
  #write(
    name: string,
    op: WriteChange["op"],
    value: string | undefined,
    author: WriteAuthor,
  ): Promise<number | undefined> {
    checkName(name);
    const { promise, resolve, reject } = Promise.withResolvers<number | undefined>();
    const skeleton = nameSkeleton(name);
    this.#commits.submit({ name, skeleton, op, value, author, attempts: 0, resolve, reject });
    return promise;
  }

  /**
   * Commits a batch of writes (at most one per name) in one transaction. Each
   * write is checked against the owner in the view and compares that owner's
   * revision (and, for a delete, the entry's): the transaction holds only if
   * every write's view was current. When one was not, the transaction changes
   * nothing; the keys read back update the view and the batch runs again, each
   * write checked anew. Returns the writes to run again.
   */
  async #commitBatch(batch: PendingWrite[]): Promise<PendingWrite[]> {
    const planned: PlannedWrite[] = [];
    const later: PendingWrite[] = [];
    let ops = 0;
    for (const write of batch) {
      const plan = this.#plan(write);
      if (!plan) continue;
      // Bounded by etcd's --max-txn-ops (128 by default); the rest goes in the next batch.
      if (planned.length > 0 && ops + plan.ops.length > MAX_TXN_OPS) {
        later.push(write);
        continue;
      }
      ops += plan.ops.length;
      planned.push(plan);
    }
    if (planned.length === 0) return later;
    const read = (key: string): KvOp => ({ type: "range", key: this.#prefix + key });
    const request = {
      compare: planned.flatMap((p) => p.compares),
      success: planned.flatMap((p) => p.ops),
      failure: planned.flatMap((p) => [read(p.ownerKey), read(p.serviceKey)]),
    };
    let res;
    try {
      res = await this.#call(
        planned.length === 1 ? planned[0].write.op : `write of ${planned.length}`,
        (signal) => this.#kv.txn(request, signal),
      );
    } catch (err) {
      // One transaction: it failed for every write in it, and stored none of them.
      for (const plan of planned) plan.write.reject(err as Error);
      return later;
    }
    const revision = res.revision;
    if (res.succeeded) {
      for (const plan of planned) {
        if (plan.refusal === undefined) plan.write.resolve(plan.applied(revision));
        else plan.write.reject(new WriteRefusedError(plan.refusal));
      }
      return later;
    }
    for (const [i, plan] of planned.entries()) {
      this.#learnOwner(plan.write.name, res.responses[2 * i]);
      const kv = res.responses[2 * i + 1][0];
      if (kv) this.#apply(plan.serviceKey, decoder.decode(kv.value), kv.modRevision);
      else if (this.#entries.has(plan.write.name)) {
        this.#apply(plan.serviceKey, undefined, revision);
      }
    }
    const stale = planned.filter((p) => !p.current());
    const again: PendingWrite[] = [];
    for (const { write } of planned) {
      // The writes whose view was stale count an attempt (all, should none look stale).
      if (stale.length === 0 || stale.some((p) => p.write === write)) write.attempts++;
      if (write.attempts < WRITE_ATTEMPTS) {
        again.push(write);
      } else {
        write.reject(
          new StoreUnavailableError(`the owner of ${JSON.stringify(write.name)} kept changing`),
        );
      }
    }
    return [...again, ...later];
  }

  /**
   * What `write` needs of the transaction, checked against the view now;
   * `undefined` when it is refused (and so settled already).
   */
  #plan(write: PendingWrite): PlannedWrite | undefined {
    const { name, op, value, author } = write;
    const serviceKey = SERVICES + name;
    const ownerKey = OWNERS + name;
    const known = this.#owners.get(name);
    const ownerAt = known?.revision ?? 0;
    const compares: KvCompare[] = [{ key: this.#prefix + ownerKey, target: "mod", value: ownerAt }];
    const ownerHeld = () => (this.#owners.get(name)?.revision ?? 0) === ownerAt;
    const plan = { write, serviceKey, ownerKey, compares, current: ownerHeld };
    const creates = !known && value !== undefined && op !== "chown";
    // New names only: a name stored before the rule stays writable by its owner.
    const invisible = creates ? invisibleCharacterIn(name) : undefined;
    if (invisible !== undefined) {
      write.reject(new WriteRefusedError(invisible));
      return undefined;
    }
    const lookAlike = creates ? this.#lookAlikeOf(name, author.peer) : undefined;
    const refusal = author.refusal({ op, name, owner: known?.owner, lookAlike });
    if (refusal !== undefined) {
      // A sole writer's view is etcd's. Another instance's change of owner (a chown it has
      // acknowledged) may not have reached this view yet: the refusal waits for the
      // transaction to show the owner it was checked against current, as a write would.
      if (this.#soleWriter) {
        write.reject(new WriteRefusedError(refusal));
        return undefined;
      }
      return { ...plan, refusal, ops: [], applied: () => undefined };
    }
    if (op === "chown") {
      return {
        ...plan,
        ops: [{ type: "put", key: this.#prefix + ownerKey, value: value! }],
        applied: (revision) => {
          this.#apply(ownerKey, value, revision);
          this.#lastWritten = Math.max(this.#lastWritten, revision);
          return revision;
        },
      };
    }
    if (value === undefined) {
      const entryAt = this.#entries.has(name) ? this.#changed.get(serviceKey) : undefined;
      const entryHeld = () =>
        (this.#entries.has(name) ? this.#changed.get(serviceKey) : undefined) === entryAt;
      const current = () => ownerHeld() && entryHeld();
      if (entryAt === undefined) {
        // Nothing to delete, as long as there is still nothing.
        compares.push({ key: this.#prefix + serviceKey, target: "version", value: 0 });
        return { ...plan, current, ops: [], applied: () => undefined };
      }
      compares.push({ key: this.#prefix + serviceKey, target: "mod", value: entryAt });
      return { ...plan, current, ...this.#recorded(name, value, author, known) };
    }
    return { ...plan, ...this.#recorded(name, value, author, known) };
  }

  /** A name `name` could pass for that a peer other than `peer` owns (or no one does). */
  #lookAlikeOf(name: string, peer: string): WriteChange["lookAlike"] {
    for (const other of this.#lookAlikes.find(name)) {
      const owner = this.#owners.get(other)?.owner;
      if (owner !== peer) return { name: other, owner };
    }
    return undefined;
  }

  /** The operations of a put (`value`) or delete with its history record, and their view update. */
  #recorded(
    name: string,
    value: string | undefined,
    author: WriteAuthor,
    known: Owner | undefined,
  ): Pick<PlannedWrite, "ops" | "applied"> {
    const serviceKey = SERVICES + name;
    const ownerKey = OWNERS + name;
    const id = recordId();
    const record = JSON.stringify({
      Op: value === undefined ? "delete" : "put",
      InfoStr: value ?? "",
      Peer: author.peer,
      Time: new Date().toISOString(),
    });
    const trimmed = this.#oldestRecords(name, 1);
    const prefix = this.#prefix;
    const ops: KvOp[] = [
      value === undefined
        ? { type: "delete", key: prefix + serviceKey }
        : { type: "put", key: prefix + serviceKey, value },
      { type: "put", key: `${prefix}${HISTORY}${name}/${id}`, value: record },
      ...trimmed.map((old): KvOp => ({ type: "delete", key: `${prefix}${HISTORY}${name}/${old}` })),
    ];
    // The first put of a name makes its writer the owner; a delete claims nothing.
    const claims = !known && value !== undefined;
    if (claims) ops.push({ type: "put", key: prefix + ownerKey, value: author.peer });
    return {
      ops,
      applied: (revision) => {
        this.#apply(serviceKey, value, revision, true);
        this.#apply(`${HISTORY}${name}/${id}`, record, revision);
        for (const old of trimmed) this.#apply(`${HISTORY}${name}/${old}`, undefined, revision);
        if (claims) this.#apply(ownerKey, author.peer, revision);
        this.#lastWritten = Math.max(this.#lastWritten, revision);
        return revision;
      },
    };
  }

  /** Ids of the oldest history records of `name` that must go for `adding` more to fit. */
  #oldestRecords(name: string, adding: number): string[] {
    const records = this.#history.get(name);
    if (!records) return [];
    const excess = records.size + adding - this.#historyLimit;
    if (excess <= 0) return [];
    return [...records].sort((a, b) => a[1] - b[1]).slice(0, excess).map(([id]) => id);
  }

  /** Takes the owner record a transaction read (fresher than the view) into the view. */
  #learnOwner(name: string, kvs: KvEntry[]): Owner | undefined {
    const kv = kvs[0];
    if (!kv) return undefined;
    const owner = { owner: decoder.decode(kv.value), revision: kv.modRevision };
    this.#apply(OWNERS + name, owner.owner, owner.revision);
    return owner;
  }

  #parseRecord(kv: IKeyValue): HistoryVersion | undefined {
    const revision = Number(kv.mod_revision);
    try {
      const value = JSON.parse(decoder.decode(kv.value));
      const op = value?.Op as HistoryOp;
      if (
        (op !== "put" && op !== "delete") || typeof value.InfoStr !== "string" ||
        typeof value.Peer !== "string" || typeof value.Time !== "string"
      ) {
        throw new TypeError("not a history record ({Op, InfoStr, Peer, Time})");
      }
      return {
        Revision: revision,
        Op: op,
        InfoStr: value.InfoStr,
        Peer: value.Peer,
        Time: value.Time,
      };
    } catch (err) {
      this.#reportOnce(
        decoder.decode(kv.key),
        revision,
        `history record is unreadable, skipped: ${(err as Error).message}`,
      );
      return undefined;
    }
  }

  /** Logs a bad entry once per key and revision (reads would repeat it on every request). */
  #reportOnce(key: string, revision: number, problem: string): void {
    const id = `${key}@${revision}`;
    if (this.#reported.has(id)) return;
    this.#reported.add(id);
    this.#logger.warn(
      `bad entry in etcd: key ${JSON.stringify(key)} (revision ${revision}): ${problem}`,
    );
  }

  /**
   * Applies a change of `key` (relative to the root prefix) at `revision`
   * (`undefined` deletes) unless a newer one is known. An entry not
   * `validated` at the door is checked, and reported once if readers cannot use it.
   */
  #apply(key: string, value: string | undefined, revision: number, validated = false): void {
    if (key.startsWith(HISTORY)) return this.#applyRecord(key, value !== undefined, revision);
    if (revision <= (this.#changed.get(key) ?? 0)) return;
    this.#changed.set(key, revision);
    if (value === undefined) this.#deleted.set(key, revision);
    else this.#deleted.delete(key);
    const isEntry = key.startsWith(SERVICES);
    if (!isEntry && !key.startsWith(OWNERS)) return;
    const name = key.slice((isEntry ? SERVICES : OWNERS).length);
    const known = this.#entries.has(name) || this.#owners.has(name);
    if (isEntry) {
      if (value === undefined) {
        this.#entries.delete(name);
      } else {
        this.#entries.set(name, value);
        if (!validated) this.#check(key, name, value, revision);
      }
      this.#version++;
    } else if (value === undefined) {
      this.#owners.delete(name);
    } else {
      this.#owners.set(name, { owner: value, revision });
    }
    // The index changes when a name comes or goes, not with each write of it.
    if (value !== undefined && !known) this.#lookAlikes.add(name);
    else if (value === undefined && known && !this.#entries.has(name) && !this.#owners.has(name)) {
      this.#lookAlikes.remove(name);
    }
  }

  /**
   * Keeps the index of history records that trimming works from. Records are
   * not tracked by revision like entries: one a late event brings back is
   * only deleted again by the next trim, a no-op in etcd.
   */
  #applyRecord(key: string, exists: boolean, revision: number): void {
    const slash = key.lastIndexOf("/");
    const name = key.slice(HISTORY.length, slash);
    const id = key.slice(slash + 1);
    let records = this.#history.get(name);
    if (exists) {
      if (!records) this.#history.set(name, records = new Map());
      records.set(id, revision);
    } else if (records) {
      records.delete(id);
      if (records.size === 0) this.#history.delete(name);
    }
  }

  /** Reports an entry that readers cannot use (written by an older or foreign instance). */
  #check(key: string, name: string, value: string, revision: number): void {
    if (this.#reported.has(`${key}@${revision}`)) return;
    try {
      parseServiceInfo(value);
    } catch (err) {
      this.#reportOnce(key, revision, `${JSON.stringify(name)}: ${(err as Error).message}`);
    }
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
    let nudge: ReturnType<typeof setTimeout> | undefined;
    const waiter = { revision, resolve: () => {} };
    const reached = await new Promise<boolean>((resolve) => {
      waiter.resolve = () => resolve(true);
      this.#waiters.push(waiter);
      nudge = setTimeout(() => this.#nudge(), Math.min(NUDGE_AFTER_MS, this.#catchUpMs / 2));
      timer = setTimeout(() => resolve(false), this.#catchUpMs);
    });
    clearTimeout(nudge);
    clearTimeout(timer);
    if (!reached) this.#waiters = this.#waiters.filter((w) => w !== waiter);
    // Writes outside our prefix move etcd's revision without a watch event; the direct read covers that.
    return reached && this.#revision >= revision;
  }

  /** Writes {@linkcode NUDGE_KEY}, unless a nudge is in flight: its event reaches every waiting read. */
  #nudge(): void {
    if (this.#nudging || this.#stopped) return;
    this.#nudging = true;
    const put: KvOp = { type: "put", key: this.#prefix + NUDGE_KEY, value: "" };
    this.#call("nudge", (signal) => this.#kv.txn({ compare: [], success: [put] }, signal))
      // The reads waiting fall back to etcd itself after their catch-up time, as before.
      .catch((err) => this.#logger.debug(`could not nudge the watch: ${(err as Error).message}`))
      .finally(() => (this.#nudging = false));
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
    const res = await this.#call(
      "read",
      (signal) => this.#kv.range({ key: this.#prefix + SERVICES }, signal),
    );
    return res.revision;
  }

  /**
   * Runs one etcd call; a member that does not answer (stopped, no quorum)
   * fails it in time (and `signal` aborts it, for calls that take one).
   */
  async #call<T>(what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const abort = new AbortController();
    try {
      return await Promise.race([
        fn(abort.signal),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const error = new Error(`no answer within ${this.#callTimeoutMs} ms`);
            abort.abort(error);
            reject(error);
          }, this.#callTimeoutMs);
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
    for (const [key, deletedAt] of this.#deleted) {
      if (deletedAt <= revision) {
        this.#deleted.delete(key);
        this.#changed.delete(key);
      }
    }
    const ready = this.#waiters.filter((w) => w.revision <= revision);
    this.#waiters = this.#waiters.filter((w) => w.revision > revision);
    for (const waiter of ready) waiter.resolve();
  }

  /**
   * A key relative to the root prefix (etcd3's namespace strips the prefix
   * from some responses but not others), decoded the one way every key is;
   * `undefined`, reported, for a key that is not UTF-8.
   */
  #relative(bytes: Uint8Array, revision = 0): string | undefined {
    const key = decodeKey(bytes);
    const relative = (text: string) =>
      text.startsWith(this.#prefix) ? text.slice(this.#prefix.length) : text;
    if (key === undefined) {
      // Reported like every other key: relative to the prefix.
      this.#reportOnce(relative(decoder.decode(bytes)), revision, "key is not UTF-8; ignored");
      return undefined;
    }
    return relative(key);
  }

  async #reload(): Promise<void> {
    // One read at one revision: entries and owners with their values, history records by key
    // only (up to historyLimit per name: their values would be most of the data).
    const range = (sub: string, keysOnly: boolean): KvOp => ({
      type: "range",
      key: this.#prefix + sub,
      prefix: true,
      keysOnly,
    });
    const res = await this.#call("list", (signal) =>
      this.#kv.txn({
        compare: [],
        success: [range(SERVICES, false), range(OWNERS, false), range(HISTORY, true)],
      }, signal));
    const revision = res.revision;
    const previous = { changed: this.#changed, entries: this.#entries, owners: this.#owners };
    this.#entries = new Map();
    this.#owners = new Map();
    this.#lookAlikes = new LookAlikeIndex();
    this.#history = new Map();
    this.#changed = new Map();
    this.#deleted = new Map();
    const reloaded = this.#lastChange > 0;
    this.#lastChange = 0;
    // Changes before this read and after the old watch's last event are in no log.
    this.#recent = [];
    this.#recentFrom = revision;
    for (const kv of res.responses.flat()) {
      const key = this.#relative(kv.key, kv.modRevision);
      if (key !== undefined) this.#apply(key, decoder.decode(kv.value), kv.modRevision);
      this.#lastChange = Math.max(this.#lastChange, kv.modRevision);
    }
    // Writes acknowledged while the list was in flight are newer than it: keep them.
    for (const [key, changedAt] of previous.changed) {
      if (changedAt <= revision) continue;
      if (key.startsWith(SERVICES)) {
        this.#apply(key, previous.entries.get(key.slice(SERVICES.length)), changedAt);
      } else if (key.startsWith(OWNERS)) {
        this.#apply(key, previous.owners.get(key.slice(OWNERS.length))?.owner, changedAt);
      }
    }
    this.#version++;
    await this.#watch(revision + 1);
    this.#advance(revision);
    // Changes between the old watch's last event and this read reached no listener.
    if (reloaded) { for (const listener of [...this.#listeners]) listener.gap(); }
  }

  async #watch(fromRevision: number): Promise<void> {
    /** The watch once installed here; why it ended, when it did before. */
    const state: { watch?: EtcdWatch; endedEarly?: Error } = {};
    const opened = await this.#call(
      "watch",
      (signal) =>
        this.#kv.watch(
          { prefix: this.#prefix, startRevision: fromRevision, progressNotify: true },
          {
            onBatch: (batch) => this.#take(batch),
            onEnd: (err) =>
              state.watch ? this.#watchEnded(state.watch, err) : (state.endedEarly = err),
            // A lost stream is opened again from the revision after its last change.
            onRetry: (err) => this.#logger.warn(`etcd watch failed (${err.message}); resuming it`),
          },
          signal,
        ),
    );
    if (this.#stopped) return opened.cancel();
    state.watch = this.#watcher = opened;
    if (state.endedEarly) this.#watchEnded(opened, state.endedEarly);
  }

  /** The changes of one watch response enter the view, then go to the listeners. */
  #take(batch: WatchBatch): void {
    const changes: Change[] = [];
    for (const event of batch.events) {
      const revision = event.modRevision;
      this.#lastChange = Math.max(this.#lastChange, revision);
      const key = this.#relative(event.key, revision);
      if (key === undefined) continue;
      const value = event.type === "delete" ? undefined : decoder.decode(event.value);
      this.#apply(key, value, revision);
      const change = toChange(key, value, revision);
      if (change) changes.push(change);
    }
    // A watch response's revision means every event up to it has been delivered.
    this.#advance(batch.revision);
    if (batch.events.length === 0) return;
    this.#remember(changes);
    for (const listener of [...this.#listeners]) listener.changes(changes, this.#revision);
  }

  /** etcd ended the view's watch (compaction, cancellation): the view is read again. */
  #watchEnded(watch: EtcdWatch, err: Error): void {
    if (this.#stopped || watch !== this.#watcher) return;
    this.#logger.warn(`etcd watch failed (${err.message}); reloading the registry view`);
    this.#watcher = undefined;
    watch.cancel();
    void this.#reloadWithRetry();
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

/** Index of the first change after `revision` in `changes` (in revision order). */
function firstAfter(changes: readonly Change[], revision: number): number {
  let low = 0;
  let high = changes.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (changes[mid].revision <= revision) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** A change of an entry, or `undefined` for a key that is no entry (owner, history). */
function toChange(key: string, value: string | undefined, revision: number): Change | undefined {
  if (!key.startsWith(SERVICES)) return undefined;
  const name = key.slice(SERVICES.length);
  return value === undefined
    ? { type: "delete", name, revision }
    : { type: "put", name, value, revision };
}

/** A random id for a history record (unique among a name's records). */
function recordId(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(8)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/**
 * A name as a key: it must survive the trip to UTF-8 and back, or etcd and
 * the view would disagree on it (a lone surrogate becomes U+FFFD in etcd).
 */
function checkName(name: string): string {
  if (!name.isWellFormed()) throw new TypeError("a service name must be well-formed Unicode");
  return name;
}
