/**
 * The steward: one instance at a time, elected with etcd's own election API
 * (etcd3's `election()`, a key under a lease: a steward that dies or loses
 * the cluster loses the election within the lease's TTL), that keeps the
 * voting core at `-max-voters`:
 *
 * - it probes every voter; one unreachable for `-dead-member-after` is
 *   removed, only when the voters it still reaches are a quorum (so the
 *   removal cannot cost the cluster its quorum: etcd needs one to commit it
 *   anyway) and only one at a time (nothing is removed while a learner is
 *   catching up);
 * - while there are fewer voters than `-max-voters`, it adds a voter-eligible
 *   client instance's peer URL as a learner and asks that instance to start
 *   etcd with a promotion request, a key under a lease
 *   (`<prefix>cluster/promote`: its peer id and `--initial-cluster`) that
 *   client instances look at every second; the voters' member adders promote
 *   the learner once it has caught up;
 * - a learner not promoted within `-learner-timeout` of being first seen is
 *   removed, whoever added it: one that never started, and one that started
 *   but does not answer on its client URLs or never catches up (the member
 *   adders promote only those that answer). etcd takes one learner at a
 *   time, so a peer with the PSK could otherwise keep that slot with a ghost
 *   member and refuse every real join. An instance whose learner the steward
 *   asked for and removed is not asked again.
 *
 * @module
 */
import type { Campaign, Etcd3 } from "etcd3";
import {
  addLearner,
  createMemberProbe,
  type EtcdMember,
  initialClusterString,
  listMembers,
  removeMember,
} from "../store/etcd_cluster.ts";
import type { MemberCertificate } from "../store/tls.ts";
import type { Logger } from "../log/logger.ts";
import type { RegistryMetrics } from "./metrics.ts";
import { listInstances, PROMOTE_KEY, type PromotionRequest, STEWARD_ELECTION } from "./roles.ts";

/** Components and settings for {@linkcode startSteward}. */
export interface StewardComponents {
  /** A client of the cluster (membership calls). */
  client: Etcd3;
  /** The registry's root key prefix. */
  prefix: string;
  /** The certificate to reach each member's client URL with (with a PSK). */
  tls?: MemberCertificate;
  /** Where each decision is logged. */
  logger: Logger;
  /** The steward gauge. */
  metrics: Pick<RegistryMetrics, "steward">;
  /** This instance's peer id (the election's value). */
  peerId: string;
  /** Voters to keep (`-max-voters`). */
  maxVoters: number;
  /** A voter unreachable this long is replaced (ms). */
  deadMemberAfterMs: number;
  /** A learner not promoted within this of being first seen is removed (ms). */
  learnerTimeoutMs: number;
  /** Pause between rounds (ms, default 1 s). */
  intervalMs?: number;
  /** Lease TTL of the election (s, default 6): how long a dead steward holds it. */
  electionTtlS?: number;
}

/** A running steward candidate. */
export interface Steward {
  /** Whether this instance is the steward now. */
  isSteward(): boolean;
  /** Stops campaigning (resigning when elected) and stops looking after the core. */
  stop(): Promise<void>;
}

/**
 * Campaigns for steward and, while elected, looks after the voting core
 * every `intervalMs`.
 *
 * @example
 * ```ts ignore
 * const steward = startSteward({
 *   client, prefix: "physarum/registry/", logger, metrics, peerId, maxVoters: 3,
 *   deadMemberAfterMs: 60_000, learnerTimeoutMs: 60_000,
 * });
 * await steward.stop();
 * ```
 */
export function startSteward(components: StewardComponents): Steward {
  const { client, logger, metrics } = components;
  const ns = client.namespace(components.prefix);
  const intervalMs = components.intervalMs ?? 1_000;
  let campaign: Campaign | undefined;
  let elected = false;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  // When each voter last answered, and when each learner was first seen (ms).
  const lastSeen = new Map<string, number>();
  const learnerSeen = new Map<string, number>();
  // Instances whose learner never started: not asked again.
  const failed = new Set<string>();
  let pending: { peerId: string; peerUrl: string } | undefined;
  let quorumWarned = "";

  const setElected = (value: boolean) => {
    if (elected === value) return;
    elected = value;
    metrics.steward.set(value ? 1 : 0);
    logger.info(
      value ? "this instance is now the steward" : "this instance is no longer the steward",
    );
  };

  const campaignLoop = () => {
    if (stopped) return;
    const current = ns.election(STEWARD_ELECTION, components.electionTtlS ?? 6)
      .campaign(components.peerId);
    campaign = current;
    current.on("elected", () => {
      if (campaign === current) setElected(true);
    });
    current.on("error", (err) => {
      if (campaign !== current) return;
      setElected(false);
      campaign = undefined;
      logger.debug(`steward campaign failed (${err.message}); campaigning again`);
      current.resign().catch(() => {});
      if (!stopped) retryTimer = setTimeout(campaignLoop, 2_000);
    });
  };

  const probe = createMemberProbe(components.tls);
  const reachable = (member: EtcdMember): Promise<boolean> =>
    probe.answers(member.clientUrls, 1_000);

  const round = async () => {
    const members = await listMembers(client);
    const now = Date.now();
    for (const id of lastSeen.keys()) if (!members.some((m) => m.id === id)) lastSeen.delete(id);
    const voters = members.filter((m) => !m.isLearner);
    const up = new Set<string>();
    await Promise.all(voters.map(async (m) => {
      if (await reachable(m)) {
        up.add(m.id);
        lastSeen.set(m.id, now);
      } else if (!lastSeen.has(m.id)) {
        lastSeen.set(m.id, now);
      }
    }));

    const learners = members.filter((m) => m.isLearner);
    for (const id of learnerSeen.keys()) {
      if (!learners.some((m) => m.id === id)) learnerSeen.delete(id);
    }
    if (learners.length > 0) {
      for (const learner of learners) {
        const seen = learnerSeen.get(learner.id) ?? now;
        learnerSeen.set(learner.id, seen);
        if (now - seen < components.learnerTimeoutMs) continue;
        // Promoted meanwhile (the adders promote on their own clock): not a learner to remove.
        if (!(await listMembers(client)).some((m) => m.id === learner.id && m.isLearner)) continue;
        const name = learner.name || learner.peerUrls[0];
        logger.warn(
          `steward: etcd learner ${name} (id ${learner.id}) was not promoted within ` +
            `${components.learnerTimeoutMs / 1000} s (-learner-timeout): ` +
            (learner.started
              ? "it started but does not answer on its client URLs or has not caught up"
              : "it never started") +
            "; removing it, so that another member can join",
        );
        await removeMember(client, learner.id);
        if (pending && learner.peerUrls.includes(pending.peerUrl)) {
          failed.add(pending.peerId);
          pending = undefined;
          await ns.delete().key(PROMOTE_KEY).exec();
        }
      }
      return; // One change at a time: wait for the learner's promotion.
    }
    pending = undefined;

    const dead = voters.filter((m) => now - lastSeen.get(m.id)! >= components.deadMemberAfterMs);
    if (dead.length > 0) {
      const quorum = Math.floor(voters.length / 2) + 1;
      const victim = dead[0];
      const name = victim.name || victim.peerUrls[0];
      if (up.size < quorum) {
        const warning = `${name}/${up.size}/${voters.length}`;
        if (quorumWarned !== warning) {
          quorumWarned = warning;
          logger.warn(
            `steward: not removing etcd voter ${name}, unreachable for ` +
              `${Math.round((now - lastSeen.get(victim.id)!) / 1000)} s: only ${up.size} of ` +
              `${voters.length} voters are reachable, and removing one needs a quorum (${quorum})`,
          );
        }
        return;
      }
      const unreachableS = Math.round((now - lastSeen.get(victim.id)!) / 1000);
      await removeMember(client, victim.id);
      lastSeen.delete(victim.id);
      logger.info(
        `steward: removed etcd voter ${name} (id ${victim.id}), unreachable for ` +
          `${unreachableS} s (-dead-member-after ${components.deadMemberAfterMs / 1000}); ` +
          `${voters.length - 1} voter(s) remain`,
      );
      return;
    }

    if (voters.length >= components.maxVoters) return;
    if (await ns.get(PROMOTE_KEY).string()) return; // A request is still out.
    const candidate = (await listInstances(ns)).find((r) =>
      r.Role === "client" && r.VoterEligible && r.PeerUrl !== "" && !failed.has(r.PeerId) &&
      !members.some((m) => m.peerUrls.includes(r.PeerUrl))
    );
    if (!candidate) return;
    const id = await addLearner(client, candidate.PeerUrl);
    pending = { peerId: candidate.PeerId, peerUrl: candidate.PeerUrl };
    const request: PromotionRequest = {
      PeerId: candidate.PeerId,
      InitialCluster: initialClusterString(await listMembers(client), {
        name: candidate.MemberName,
        peerUrl: candidate.PeerUrl,
      }),
    };
    const lease = ns.lease(Math.ceil(components.learnerTimeoutMs / 1000), {
      autoKeepAlive: false,
    });
    await lease.put(PROMOTE_KEY).value(JSON.stringify(request));
    logger.info(
      `steward: ${voters.length} of ${components.maxVoters} voters; added ${candidate.PeerUrl} ` +
        `(id ${id}) as a learner and asked client instance ${candidate.PeerId} to run it`,
    );
  };

  const loop = () => {
    timer = setTimeout(async () => {
      if (elected) {
        await round().catch((err) => logger.warn(`steward: ${(err as Error).message}`));
      }
      if (!stopped) loop();
    }, intervalMs);
  };
  campaignLoop();
  loop();

  return {
    isSteward: () => elected,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      clearTimeout(retryTimer);
      await campaign?.resign().catch(() => {});
      probe.close();
      setElected(false);
    },
  };
}
