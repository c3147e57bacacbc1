/**
 * Tracks whether this instance is the registry's only writer, which lets the
 * store serve reads from its view with no etcd round trip (see
 * {@linkcode RegistryStore.setSoleWriter}).
 *
 * @module
 */
import type { Etcd3 } from "etcd3";
import type { RegistryStore } from "../store/registry_store.ts";
import { listMembers } from "../store/etcd_cluster.ts";
import type { Logger } from "../log/logger.ts";

/** Components for {@linkcode trackSoleWriter}. */
export interface SoleWriterComponents {
  /** Client of this instance's etcd member. */
  client: Etcd3;
  /** The store whose mode is set. */
  store: RegistryStore;
  /** Where mode changes are reported. */
  logger: Logger;
  /** Registered instances, client instances included (every one writes); members only when omitted. */
  instances?: () => Promise<number>;
  /** How often the member list is checked (ms, default 2 s). */
  intervalMs?: number;
}

/** Handle returned by {@linkcode trackSoleWriter}. */
export interface SoleWriterTracker {
  /** Leaves sole-writer mode; call before any MemberAdd. */
  memberJoining(): void;
  /** Stops checking. */
  stop(): void;
}

/**
 * Sets the store's sole-writer mode from the etcd member list now and
 * periodically. A new member can only join through a MemberAdd, which every
 * registry-service announces with {@linkcode SoleWriterTracker.memberJoining}
 * first; the periodic check covers members added by hand.
 *
 * @example
 * ```ts ignore
 * const tracker = await trackSoleWriter({ client, store, logger });
 * tracker.memberJoining();
 * tracker.stop();
 * ```
 */
export async function trackSoleWriter(
  components: SoleWriterComponents,
): Promise<SoleWriterTracker> {
  const { client, store, logger } = components;
  // Bumped by memberJoining so that a member list fetched before it cannot restore sole mode.
  let epoch = 0;
  const check = async () => {
    const started = epoch;
    const members = await listMembers(client);
    const sole = members.length === 1 && (await components.instances?.() ?? 1) <= 1;
    if (started !== epoch || sole === store.soleWriter) return;
    store.setSoleWriter(sole);
    logger.info(
      sole
        ? "this instance's etcd member is the only one: serving reads from memory"
        : `etcd cluster has ${members.length} member(s) and other instances may write: reads ` +
          "confirm etcd's revision first",
    );
  };
  await check();
  const timer = setInterval(() => {
    check().catch((err) => logger.warn(`checking etcd members failed: ${err.message}`));
  }, components.intervalMs ?? 2_000);
  return {
    memberJoining() {
      epoch++;
      if (!store.soleWriter) return;
      store.setSoleWriter(false);
      logger.info("an etcd member is joining: reads confirm etcd's revision first");
    },
    stop() {
      clearInterval(timer);
    },
  };
}
