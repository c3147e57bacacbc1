/**
 * Instances and their roles. Every instance registers itself in etcd under
 * a lease (`<prefix>cluster/instances/<peer id>`: peer id, role, the etcd
 * member it runs, addresses; gone within the lease's TTL once it stops), and
 * follows the cluster's membership: how many voters and learners there are,
 * which instance is the steward, and whether the steward asks it to become a
 * voter (`<prefix>cluster/promote`, see steward.ts). Each change of role or
 * membership is one log line; `/metrics`, `/health` and `/members/0.1` read
 * the last view.
 *
 * @module
 */
import type { Etcd3, Lease, Namespace } from "etcd3";
import { type EtcdMember, listMembers } from "../store/etcd_cluster.ts";
import {
  decodeInstanceRecord,
  type InstanceRecord,
  type InstanceRole,
} from "../protocol/messages.ts";
import type { Logger } from "../log/logger.ts";
import type { RegistryMetrics } from "./metrics.ts";

/** Key of the instance records, under the root prefix. */
export const INSTANCES_KEY = "cluster/instances/";
/** Key of the steward's request to a client instance to become a voter. */
export const PROMOTE_KEY = "cluster/promote";
/** The etcd election (etcd3's `election()`) whose leader is the steward. */
export const STEWARD_ELECTION = "cluster/steward";
/** TTL of an instance's registration lease (s). */
const REGISTRATION_TTL_S = 10;

/** The steward's request to one client instance. */
export interface PromotionRequest {
  /** The client instance asked. */
  PeerId: string;
  /** Its `--initial-cluster`: the steward has added it as a learner. */
  InitialCluster: string;
}

/** What this instance knows of the cluster. */
export interface ClusterView {
  /** This instance's role. */
  role: InstanceRole;
  /** Voting members' names. */
  voters: string[];
  /** Learners' names (or peer URLs until they have started). */
  learners: string[];
  /** The steward's peer id, if one is elected. */
  steward?: string;
}

/** Components for {@linkcode trackRoles}. */
export interface RoleComponents {
  /** A client of the cluster (the instance's member, or several with failover). */
  client: Etcd3;
  /** The registry's root key prefix (`physarum/registry/`). */
  prefix: string;
  /** Where changes are logged. */
  logger: Logger;
  /** Gauges to set. */
  metrics: Pick<RegistryMetrics, "role" | "voters" | "learners">;
  /** This instance's record but its role, read at each look (its member may start later). */
  self: () => Omit<InstanceRecord, "Role">;
  /** Called when the steward asks this (client) instance to become a voter; asked again if it fails. */
  onPromotion?: (request: PromotionRequest) => Promise<void>;
  /** Called with the member list at each look (a client instance follows the voters with it). */
  onMembers?: (members: readonly EtcdMember[]) => void;
  /** Pause between looks (ms, default 1 s). */
  intervalMs?: number;
}

/** A running role tracker. */
export interface RoleTracker {
  /** The last view. */
  view(): ClusterView;
  /** Looks now (and re-registers when the role changed). */
  refresh(): Promise<ClusterView>;
  /** Every registered instance, by peer id. */
  instances(): Promise<InstanceRecord[]>;
  /** Stops looking and withdraws the registration. */
  stop(): Promise<void>;
}

/**
 * Every registered instance (records that do not decode are skipped).
 *
 * @example
 * ```ts ignore
 * for (const r of await listInstances(client.namespace("physarum/registry/"))) console.log(r.Role);
 * ```
 */
export async function listInstances(ns: Pick<Namespace, "getAll">): Promise<InstanceRecord[]> {
  const values = await ns.getAll().prefix(INSTANCES_KEY).strings();
  const records: InstanceRecord[] = [];
  for (const value of Object.values(values)) {
    try {
      records.push(decodeInstanceRecord(value));
    } catch {
      // A record of another version; not ours to judge.
    }
  }
  return records.sort((a, b) => a.PeerId.localeCompare(b.PeerId));
}

/**
 * The role of the instance whose member is `memberName` (`""`: none).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { roleOf } from "./roles.ts";
 * assert.equal(roleOf([], ""), "client");
 * ```
 */
export function roleOf(members: readonly EtcdMember[], memberName: string): InstanceRole {
  const own = memberName === "" ? undefined : members.find((m) => m.name === memberName);
  if (!own) return "client";
  return own.isLearner ? "learner" : "voter";
}

/**
 * Registers this instance and follows the cluster's membership every
 * `intervalMs`; logs and sets the gauges on each change.
 *
 * @example
 * ```ts ignore
 * const roles = await trackRoles({ client: ns, logger, metrics, self: () => record });
 * console.log(roles.view().role);
 * await roles.stop();
 * ```
 */
export async function trackRoles(components: RoleComponents): Promise<RoleTracker> {
  const { client, logger, metrics } = components;
  const ns = client.namespace(components.prefix);
  let lease: Lease | undefined;
  let registered = "";
  let current: ClusterView | undefined;
  let stopped = false;
  let promotionAsked = false;

  const register = async (role: InstanceRole) => {
    const record: InstanceRecord = { ...components.self(), Role: role };
    const text = JSON.stringify(record);
    if (lease && text === registered) return;
    if (!lease) {
      const fresh = ns.lease(REGISTRATION_TTL_S, { autoKeepAlive: true });
      // A lease lost while the cluster had no quorum is granted again at the next look.
      fresh.on("lost", () => {
        if (lease === fresh) lease = undefined;
        registered = "";
      });
      lease = fresh;
    }
    await lease.put(`${INSTANCES_KEY}${record.PeerId}`).value(text);
    registered = text;
  };

  const refresh = async (): Promise<ClusterView> => {
    const members = await listMembers(client);
    components.onMembers?.(members);
    const self = components.self();
    const started = members.filter((m) => m.started || m.isLearner);
    const next: ClusterView = {
      role: roleOf(members, self.Member),
      voters: started.filter((m) => !m.isLearner).map((m) => m.name).sort(),
      learners: started.filter((m) => m.isLearner).map((m) => m.name || m.peerUrls[0]).sort(),
      steward: await ns.election(STEWARD_ELECTION).leader().catch(() => undefined),
    };
    if (current?.role !== next.role) {
      logger.info(
        current
          ? `role: ${current.role} -> ${next.role}`
          : `role: ${next.role}${self.Member ? ` (etcd member ${self.Member})` : ""}`,
      );
      for (const role of ["voter", "learner", "client"]) {
        metrics.role.set({ role }, role === next.role ? 1 : 0);
      }
    }
    const membership = (v: ClusterView) =>
      `${v.voters.length} voter(s) [${v.voters.join(", ")}], ${v.learners.length} learner(s)` +
      (v.learners.length ? ` [${v.learners.join(", ")}]` : "");
    if (!current || membership(current) !== membership(next)) {
      logger.info(`etcd membership: ${membership(next)}`);
    }
    if (current && next.steward !== current.steward) {
      logger.info(`steward: ${next.steward ?? "none elected"}`);
    }
    metrics.voters.set(next.voters.length);
    metrics.learners.set(next.learners.length);
    current = next;
    await register(next.role);
    if (next.role === "client" && components.onPromotion && !promotionAsked) {
      const text = (await ns.get(PROMOTE_KEY).string()) ?? undefined;
      const request = text ? JSON.parse(text) as PromotionRequest : undefined;
      if (request?.PeerId === self.PeerId && typeof request.InitialCluster === "string") {
        promotionAsked = true;
        components.onPromotion(request).catch((err) => {
          promotionAsked = false;
          logger.error(`becoming a voter as the steward asked failed: ${(err as Error).message}`);
        });
      }
    }
    return next;
  };

  let timer: ReturnType<typeof setTimeout> | undefined;
  const loop = () => {
    timer = setTimeout(async () => {
      await refresh().catch((err) =>
        logger.debug(`looking at the cluster's membership failed: ${(err as Error).message}`)
      );
      if (!stopped) loop();
    }, components.intervalMs ?? 1_000);
  };
  await refresh();
  loop();

  return {
    view: () => current!,
    refresh,
    instances: () => listInstances(ns),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await lease?.revoke().catch(() => {});
    },
  };
}
