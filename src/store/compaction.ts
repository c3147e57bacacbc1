/**
 * Compaction of etcd's history of revisions. etcd keeps every past version
 * of every key until it is compacted, so without it any writer fills etcd's
 * storage quota (2 GiB by default), after which etcd refuses every write.
 *
 * @module
 */
import type { Etcd3 } from "etcd3";
import type { Logger } from "../log/logger.ts";

/** Settings of {@linkcode startCompaction}. */
export interface CompactionOptions {
  /** Client of an etcd member of the cluster. */
  client: Etcd3;
  /** Revisions kept behind the current one (watchers resume within them). */
  retention: number;
  /** How often the current revision is checked (ms). */
  intervalMs: number;
  /** Where compactions (debug) and failures (warn) are reported. */
  logger: Logger;
}

/** A running compaction; {@linkcode Compaction.stop} ends it. */
export interface Compaction {
  /** Compacts now if the history is longer than the retention; resolves when done. */
  compactNow(): Promise<void>;
  /** Stops compacting. */
  stop(): void;
}

/**
 * Every `intervalMs`, compacts etcd's history to `retention` revisions behind
 * the current one. Every instance may run one: compacting what another has
 * compacted already is harmless.
 *
 * @example
 * ```ts ignore
 * const compaction = startCompaction({ client, retention: 10_000, intervalMs: 60_000, logger });
 * compaction.stop();
 * ```
 */
export function startCompaction(options: CompactionOptions): Compaction {
  const { client, retention, logger } = options;
  let compacted = 0;
  let running: Promise<void> | undefined;
  const compact = async () => {
    const current = Number(
      (await client.get("physarum/registry/compaction").exec()).header.revision,
    );
    const target = current - retention;
    if (target <= compacted) return;
    try {
      await client.kv.compact({ revision: String(target) });
      logger.debug(`compacted etcd's history up to revision ${target} (current ${current})`);
    } catch (err) {
      // Another instance compacted as far or further.
      if (!/compacted/i.test((err as Error).message)) throw err;
    }
    compacted = target;
  };
  const compactNow = () =>
    running ??= compact().catch((err) =>
      logger.warn(`compacting etcd's history failed: ${(err as Error).message}`)
    ).finally(() => (running = undefined));
  const timer = setInterval(() => void compactNow(), options.intervalMs);
  return {
    compactNow,
    stop: () => clearInterval(timer),
  };
}
