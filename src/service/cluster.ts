/**
 * Forming one etcd cluster out of registry-service instances (SPEC §4,
 * docs/CLUSTER.md): a joining instance asks a running one over `/join/0.2`
 * (instances of the original over `/memberadd/0.1`); while the voting core
 * has fewer than `-max-voters` members the answering instance adds it as an
 * etcd learner and answers the `--initial-cluster` string, and the learner is
 * promoted to a voting member once it has caught up; otherwise the joiner is
 * a client instance and gets the voters' client URLs.
 *
 * @module
 */
import type { Etcd3 } from "etcd3";
import { multiaddr } from "@multiformats/multiaddr";
import type { RegistryNode } from "../p2p/node.ts";
import { type Bootstrap, connectBootstraps } from "../p2p/bootstrap.ts";
import type { JoinRequest, JoinResponse, MemberAddRequest } from "../protocol/messages.ts";
import { RegistryClient } from "../client/registry_client.ts";
import { RegistryUnreachableError, RequestRefusedError } from "../client/errors.ts";
import {
  checkOwnMember,
  type EtcdMemberAddress,
  etcdMemberName,
  etcdPeerUrl,
  type EtcdProcess,
  EtcdStartError,
  isHealthy,
  startEtcd,
} from "../store/etcd_process.ts";
import {
  addLearner,
  createEtcdClient,
  createMemberProbe,
  initialClusterString,
  isLearnerNotReady,
  isNotEnoughStartedMembers,
  isTooManyLearners,
  listMembers,
  memberWithPeerUrl,
  ownMemberStatus,
  promoteMember,
  removeMember,
} from "../store/etcd_cluster.ts";
import type { EtcdTls, MemberCertificate } from "../store/tls.ts";
import type { Logger } from "../log/logger.ts";
import { retry } from "../_retry.ts";

/** Thrown when this instance cannot join the cluster. */
export class JoinClusterError extends Error {
  /**
   * @param message What failed and what to do.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "JoinClusterError";
  }
}

/** Thrown by the `/memberadd/0.1` action when a member cannot be added. */
export class MemberAddError extends Error {
  /**
   * @param message What failed and what to do.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MemberAddError";
  }
}

/** Thrown by the member adder when the voting core already has `-max-voters` members. */
export class VoterLimitError extends MemberAddError {
  /**
   * @param members Members (voters and learners) the cluster has.
   * @param maxVoters The limit (`-max-voters`).
   */
  constructor(readonly members: number, readonly maxVoters: number) {
    super(`the voting core is full (${members} of -max-voters ${maxVoters} etcd members)`);
    this.name = "VoterLimitError";
  }
}

/** Components for {@linkcode joinCluster}. */
export interface JoinComponents {
  /** A started node connected to the network. */
  node: RegistryNode;
  /** Bootstraps, asked first. */
  bootstraps: readonly Bootstrap[];
  /** Where progress is reported. */
  logger: Logger;
}

/** This member's settings for {@linkcode joinCluster}. */
export interface JoinOptions extends EtcdMemberAddress {
  /** The member's TLS files (with a PSK). */
  tls?: EtcdTls;
  /** Data directory. */
  dataDir: string;
  /** The etcd binary. */
  binary?: string;
  /** How long to keep asking for membership, and then to wait for promotion (ms, default 120 s). */
  timeoutMs?: number;
  /** First pause after a refused request (ms, default 1 s), doubled up to 8 s. */
  retryDelayMs?: number;
  /** Whether this instance may run an etcd member (`-voter-eligible`, default true). */
  voterEligible?: boolean;
}

/** The role the cluster gave a joining instance. */
export type JoinResult =
  | { role: "member"; etcd: EtcdProcess }
  | { role: "client"; clientUrls: string[] };

/**
 * Moves a data directory's stale etcd member (one the cluster removed while
 * this instance was away) aside, to `member.removed-<time>`: never deleted,
 * an operator may want it. Returns the new path.
 *
 * @example
 * ```ts ignore
 * const path = await moveMemberAside("127.0.0.1-2379-2380.etcd");
 * ```
 */
export async function moveMemberAside(dataDir: string): Promise<string> {
  const aside = `${dataDir}/member.removed-${new Date().toISOString().replace(/[:.]/g, "-")}`;
  await Deno.rename(`${dataDir}/member`, aside);
  return aside;
}

/**
 * Whether `dataDir` already holds an etcd member (a restart, not a new join).
 *
 * @example
 * ```ts ignore
 * if (await holdsMember("127.0.0.1-2379-2380.etcd")) console.log("rejoining");
 * ```
 */
export async function holdsMember(dataDir: string): Promise<boolean> {
  try {
    return (await Deno.stat(`${dataDir}/member`)).isDirectory;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * Joins the existing cluster in the role it gives (`/join/0.2`): asks a
 * running registry-service, which adds this instance's etcd member as a
 * learner while the voting core has fewer than `-max-voters` members (etcd
 * is then started with its answer and `--initial-cluster-state existing`, and
 * the learner waits for its promotion), or answers the members' client URLs
 * for a client instance, with no member of its own.
 *
 * A data directory that already holds a member (a restart) asks too: a
 * member still in the cluster restarts from it (and is promoted if it is
 * still a learner); one the cluster removed while this instance was away is
 * moved aside ({@linkcode moveMemberAside}) and the instance takes the role
 * it is given. When no registry-service answers a restart within 15 s (the
 * whole cluster restarting), the member restarts from its data directory.
 *
 * A refused or unanswered request is retried with backoff (dialing the
 * bootstraps again when no peer is connected) until `timeoutMs`, then fails
 * with {@linkcode JoinClusterError} without starting etcd.
 *
 * @example
 * ```ts ignore
 * const joined = await joinCluster({ node, bootstraps, logger }, {
 *   ip: "127.0.0.1", clientPort: 2379, peerPort: 2380, dataDir: "member.etcd",
 * });
 * if (joined.role === "client") console.log(joined.clientUrls);
 * ```
 */
export async function joinCluster(
  components: JoinComponents,
  options: JoinOptions,
): Promise<JoinResult> {
  const { logger } = components;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const hasMember = await holdsMember(options.dataDir);
  let answer: JoinResponse | undefined;
  try {
    answer = await askToJoin(components, options, hasMember, hasMember ? 15_000 : timeoutMs);
  } catch (err) {
    if (!hasMember) throw err;
    logger.warn(
      `${(err as Error).message}; restarting etcd member ${etcdMemberName(options)} from ` +
        options.dataDir,
    );
  }
  if (answer === undefined || (answer.Role === "member" && answer.InitialCluster === "")) {
    logger.info(`${options.dataDir} holds etcd member ${etcdMemberName(options)}; rejoining`);
    const etcd = await startEtcd({
      ...options,
      clusterState: "existing",
      logger,
      waitForHealth: false,
    });
    return { role: "member", etcd: await voterOrStop(etcd, logger, timeoutMs) };
  }
  if (hasMember) {
    const aside = await moveMemberAside(options.dataDir);
    logger.warn(
      `etcd member ${etcdMemberName(options)} was removed from the cluster while this instance ` +
        `was away: moved its data to ${aside} (not deleted)`,
    );
  }
  if (answer.Role === "client") {
    logger.info(
      `joining as a client instance (no etcd member of its own) on ${answer.ClientUrls.join(", ")}`,
    );
    return { role: "client", clientUrls: answer.ClientUrls };
  }
  return { role: "member", etcd: await startLearner(options, answer.InitialCluster, logger) };
}

/**
 * Starts this instance's etcd member as the learner the cluster added with
 * `initialCluster`, and waits until it is promoted to a healthy voter.
 *
 * @example
 * ```ts ignore
 * const etcd = await startLearner(options, "a=https://10.0.0.1:2380,b=https://10.0.0.2:2380", logger);
 * ```
 */
export async function startLearner(
  options: JoinOptions,
  initialCluster: string,
  logger: Logger,
): Promise<EtcdProcess> {
  logger.info(`joining etcd cluster ${initialCluster} as a learner`);
  let etcd: EtcdProcess;
  try {
    etcd = await startEtcd({
      ...options,
      initialCluster,
      clusterState: "existing",
      logger,
      waitForHealth: false,
    });
  } catch (err) {
    throw new JoinClusterError(
      `etcd member ${etcdMemberName(options)} was added to the cluster but did not start: ` +
        `${(err as Error).message}\nStart this instance again with the same -etcd-ip, ports ` +
        "and an empty data directory within -learner-timeout of the answering instance to " +
        "finish the join (the added member is reused)",
      { cause: err },
    );
  }
  return await voterOrStop(etcd, logger, options.timeoutMs ?? 120_000);
}

async function voterOrStop(
  etcd: EtcdProcess,
  logger: Logger,
  timeoutMs: number,
): Promise<EtcdProcess> {
  try {
    await becomeVoter(etcd, logger, timeoutMs);
  } catch (err) {
    await etcd.stop();
    throw err;
  }
  return etcd;
}

async function askToJoin(
  components: JoinComponents,
  options: JoinOptions,
  hasMember: boolean,
  timeoutMs: number,
): Promise<JoinResponse> {
  const { logger } = components;
  const request: JoinRequest = {
    MemberName: etcdMemberName(options),
    MemberPeerUrl: etcdPeerUrl(options),
    VoterEligible: options.voterEligible ?? true,
    HasMember: hasMember,
  };
  const deadline = AbortSignal.timeout(timeoutMs);
  const client = new RegistryClient({
    node: components.node,
    bootstraps: components.bootstraps,
    logger,
  });
  try {
    return await retry(async () => {
      // A busy bootstrap may have dropped the connection made at start-up: dial it again.
      if (components.node.getPeers().length === 0) {
        await connectBootstraps(components.node, components.bootstraps, {
          logger,
          signal: deadline,
          retry: { attempts: 1, initialDelayMs: 0, maxDelayMs: 0 },
        }).catch(() => {});
      }
      logger.info(`asking a registry-service to join (/join/0.2) as ${request.MemberName}`);
      return await client.join(request, deadline);
    }, {
      initialDelayMs: options.retryDelayMs ?? 1_000,
      maxDelayMs: 8_000,
      signal: deadline,
      isRetriable: (err) =>
        err instanceof RequestRefusedError || err instanceof RegistryUnreachableError,
      onRetry: (err, _attempt, delay) =>
        logger.warn(
          err instanceof RegistryUnreachableError
            ? `no registry-service answered the join of ${request.MemberName} ` +
              `(${(err as Error).message}); retrying in ${delay} ms`
            : `a registry-service refused the join of ${request.MemberName} (its log says ` +
              `why; usually another member is still joining); retrying in ${delay} ms`,
        ),
    });
  } catch (err) {
    if (deadline.aborted) {
      throw new JoinClusterError(
        `could not join the etcd cluster within ${timeoutMs / 1000} s: ${
          err === deadline.reason
            ? "every /join/0.2 request was refused or unanswered; see the registry-service logs"
            : (err as Error).message
        }. Check -bootstrap and the PSK (-psk-file), or start the first instance with -new-etcd-cluster`,
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * Waits until this instance's member is a voter (a registry-service
 * promotes a started learner once it has caught up: etcd 3.4 refuses
 * MemberPromote on the learner itself), checks it is the member we started
 * by name, then waits until it is healthy.
 */
async function becomeVoter(etcd: EtcdProcess, logger: Logger, timeoutMs: number): Promise<void> {
  const client = createEtcdClient(etcd.clientUrl, etcd.tls);
  const deadline = Date.now() + timeoutMs;
  try {
    if ((await ownMemberStatus(client)).isLearner) {
      logger.info(`etcd member ${etcd.name} is a learner until it has caught up`);
      await retry(async () => {
        if ((await ownMemberStatus(client)).isLearner) throw new Error("still a learner");
      }, { initialDelayMs: 200, maxDelayMs: 1_000, deadline }).catch((err) => {
        throw new JoinClusterError(
          `etcd member ${etcd.name} was not promoted from learner to voter within ` +
            `${timeoutMs / 1000} s (${(err as Error).message}); the running instances promote ` +
            "a learner once it has caught up: see their logs",
          { cause: err },
        );
      });
      logger.info(`etcd member ${etcd.name} is a voting member`);
    }
    await retry(async () => {
      await checkOwnMember(client, etcd.name);
      if (!await isHealthy(etcd.clientUrl, etcd.tls)) throw new Error("not healthy yet");
    }, {
      initialDelayMs: 100,
      maxDelayMs: 1_000,
      deadline,
      isRetriable: (err) => !(err instanceof EtcdStartError),
    }).catch((err) => {
      throw new JoinClusterError(
        `etcd member ${etcd.name} joined but did not become healthy: ${(err as Error).message}`,
        { cause: err },
      );
    });
  } finally {
    client.close();
  }
}

/** Where a `/memberadd/0.1` request came from. */
export interface MemberAddContext {
  /** The multiaddr of the connection the request arrived on (`/ip4/…/tcp/…`). */
  readonly remoteAddress: string;
}

/** Components for {@linkcode createMemberAdder}. */
export interface MemberAddComponents {
  /** Client of this instance's etcd, from `createEtcdClient` (not the store's). */
  client: Etcd3;
  /** Where each addition is reported. */
  logger: Logger;
  /** The scheme of this cluster's peer URLs (`https:` with TLS); other schemes are refused. */
  peerScheme: "http:" | "https:";
  /**
   * How long to retry while etcd refuses because another member is still
   * joining (ms, default 20 s: under the client's 30 s request limit).
   */
  retryForMs?: number;
  /** First pause between tries (ms, default 250), doubled up to 2 s. */
  retryDelayMs?: number;
  /** A learner this instance added that has not started within this is removed (ms, default 120 s). */
  learnerTimeoutMs?: number;
  /** The certificate to reach a learner's client URLs with before promoting it (with a PSK). */
  tls?: MemberCertificate;
  /** How often started learners are looked for, to be promoted (ms, default 500). */
  promoteIntervalMs?: number;
  /** Members (voters and learners) past which adds are refused with {@linkcode VoterLimitError}. */
  maxVoters?: number;
}

/** The `/memberadd/0.1` action, with the learners it is looking after. */
export interface MemberAdder {
  /** Adds the requested member; answers the `--initial-cluster` string. */
  add(request: MemberAddRequest, context: MemberAddContext): Promise<string>;
  /** Stops looking after learners. */
  stop(): void;
}

function remoteIp(address: string): string | undefined {
  return multiaddr(address).getComponents().find((c) => c.name === "ip4" || c.name === "ip6")
    ?.value;
}

function urlHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1");
}

/**
 * The `/memberadd/0.1` action: adds the requester's etcd member as a
 * learner and answers the `--initial-cluster` string with every member by
 * name (the new one under its requested name).
 *
 * - The peer URL's host must be the address the request came from: a peer
 *   can only add a member on its own machine. Its scheme must be this
 *   cluster's (https with TLS).
 * - A learner cannot cost the cluster its quorum. etcd allows one learner at
 *   a time, so while another join is under way (or a member added earlier
 *   has not started) the add is retried with backoff for `retryForMs`, then
 *   refused; the joiner retries.
 * - Each learner it added is removed if it has not started within
 *   `learnerTimeoutMs`. Every started learner in the cluster (whoever added
 *   it) is promoted to a voter once it has caught up and answers on its
 *   client URLs: etcd checks only that its log is in step, so a member that
 *   started and then died (or never serves clients) would become a voter
 *   that cannot vote, and could cost a small cluster its quorum. The
 *   steward removes a learner never promoted.
 * - A peer URL that belongs to a member that was added but never started
 *   (the joiner crashed, or lost our answer) is answered again without a
 *   second MemberAdd.
 * - Anything else that fails throws {@linkcode MemberAddError}, which resets
 *   the stream: a failure is never an empty answer.
 *
 * Requests are handled one at a time so that the check for an existing
 * member and the MemberAdd are not interleaved with another request's.
 *
 * @example
 * ```ts ignore
 * const adder = createMemberAdder({ client, logger, peerScheme: "https:" });
 * const initialCluster = await adder.add(
 *   { MemberName: "n", MemberPeerUrl: "https://127.0.0.1:2380" },
 *   { remoteAddress: connection.remoteAddr.toString() },
 * );
 * adder.stop();
 * ```
 */
export function createMemberAdder(components: MemberAddComponents): MemberAdder {
  const { client, logger } = components;
  const retryForMs = components.retryForMs ?? 20_000;
  const learnerTimeoutMs = components.learnerTimeoutMs ?? 120_000;
  const promoteIntervalMs = components.promoteIntervalMs ?? 500;
  const probe = createMemberProbe(components.tls);
  // Learners already reported as not answering (one warning each).
  const unanswered = new Set<string>();
  const stopping = new AbortController();
  let queue: Promise<unknown> = Promise.resolve();

  // Removes the learner `id` if it has not started within the learner timeout.
  const watchLearner = async (id: string, name: string, addedAt: number) => {
    const signal = stopping.signal;
    const started = await retry(async () => {
      const member = (await listMembers(client)).find((m) => m.id === id);
      if (member && !member.started) throw new Error(`learner ${name} has not started`);
      return true;
    }, {
      initialDelayMs: 500,
      maxDelayMs: 1_000,
      deadline: addedAt + learnerTimeoutMs,
      signal,
    }).catch((err) => {
      if (signal.aborted) throw err;
      return false;
    });
    if (started) return;
    logger.warn(
      `etcd learner ${name} (id ${id}) did not start within ${learnerTimeoutMs / 1000} s ` +
        "(-learner-timeout): removing it",
    );
    await retry(() => removeMember(client, id), {
      initialDelayMs: 500,
      deadline: Date.now() + 30_000,
      signal,
      isRetriable: (err) => !/member not found/i.test((err as Error).message),
    });
    logger.info(`removed etcd learner ${name} (id ${id})`);
  };

  // Promotes every started learner once it has caught up, whoever added it (its adder may
  // have stopped since): etcd refuses the promotion until then, and the next round retries.
  const promoteStartedLearners = async () => {
    for (const member of await listMembers(client)) {
      if (!member.isLearner || !member.started) continue;
      if (!(await probe.answers(member.clientUrls, 1_000))) {
        if (!unanswered.has(member.id)) {
          unanswered.add(member.id);
          logger.warn(
            `etcd learner ${member.name} (id ${member.id}) does not answer on its client URLs ` +
              `${member.clientUrls.join(", ") || "(none)"}: not promoting it`,
          );
        }
        continue;
      }
      unanswered.delete(member.id);
      try {
        await promoteMember(client, member.id);
        logger.info(`promoted etcd learner ${member.name} (id ${member.id}) to a voting member`);
      } catch (err) {
        if (!isLearnerNotReady(err)) {
          logger.warn(`promoting etcd learner ${member.name} failed: ${(err as Error).message}`);
        }
      }
    }
  };
  let sweeping = false;
  const sweeper = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    promoteStartedLearners()
      .catch((err) => logger.debug(`looking for etcd learners to promote failed: ${err.message}`))
      .finally(() => (sweeping = false));
  }, promoteIntervalMs);

  const add = async (request: MemberAddRequest, context: MemberAddContext): Promise<string> => {
    const name = request.MemberName;
    const peerUrl = request.MemberPeerUrl;
    let url: URL;
    try {
      url = new URL(peerUrl);
    } catch (err) {
      throw new MemberAddError(`MemberPeerUrl "${peerUrl}" of ${name} is not a URL`, {
        cause: err,
      });
    }
    const from = remoteIp(context.remoteAddress);
    if (from === undefined || urlHost(url) !== from) {
      logger.warn(
        `refused /memberadd/0.1 for ${name}: its peer URL ${peerUrl} is not on the requester's ` +
          `address ${from ?? context.remoteAddress} (a peer can only add a member on ` +
          "its own machine)",
      );
      throw new MemberAddError(
        `peer URL ${peerUrl} is not on the requester's address ${from ?? "(unknown)"}`,
      );
    }
    if (url.protocol !== components.peerScheme) {
      throw new MemberAddError(
        `peer URL ${peerUrl} of ${name} uses ${url.protocol} but this cluster's members use ` +
          `${components.peerScheme} (${
            components.peerScheme === "https:"
              ? "the joiner has no PSK or runs with -insecure-etcd"
              : "this instance runs without TLS: give every instance the same PSK"
          })`,
      );
    }
    const deadline = Date.now() + retryForMs;
    const added = await retry(async () => {
      let members;
      try {
        members = await listMembers(client);
      } catch (err) {
        throw new MemberAddError(
          `cannot list etcd members to add ${name}: ${(err as Error).message}`,
          { cause: err },
        );
      }
      const existing = memberWithPeerUrl(members, peerUrl);
      if (existing && !existing.started) {
        logger.info(
          `etcd member ${existing.id} at ${peerUrl} was already added and has not started; ` +
            `answering its initial cluster again for ${name} (no second MemberAdd)`,
        );
        return { members, id: undefined };
      }
      const maxVoters = components.maxVoters ?? Infinity;
      if (!existing && members.length >= maxVoters) {
        throw new VoterLimitError(members.length, maxVoters);
      }
      if (existing) {
        throw new MemberAddError(
          `${peerUrl} already belongs to the started etcd member ${existing.name} ` +
            `(id ${existing.id}); an instance whose data directory holds that member rejoins ` +
            "without /memberadd. If its data was lost, remove the member first " +
            `(registry-service -leave-cluster, or etcdctl member remove ${
              BigInt(existing.id).toString(16)
            })`,
        );
      }
      try {
        const id = await addLearner(client, peerUrl);
        logger.info(`added etcd member ${name} at ${peerUrl} as a learner (id ${id})`);
        return { members: await listMembers(client), id };
      } catch (err) {
        throw new MemberAddError(
          `etcd MemberAdd of ${name} at ${peerUrl} failed: ${(err as Error).message}`,
          { cause: err },
        );
      }
    }, {
      initialDelayMs: components.retryDelayMs ?? 250,
      maxDelayMs: 2_000,
      deadline,
      isRetriable: (err) =>
        isTooManyLearners((err as Error).cause) || isNotEnoughStartedMembers((err as Error).cause),
      onRetry: (err, _attempt, delay) =>
        logger.warn(
          `etcd refused to add ${name} at ${peerUrl} for now (${
            ((err as Error).cause as Error).message
          }): another member is still joining; retrying in ${delay} ms`,
        ),
    });
    if (added.id !== undefined) {
      const id = added.id;
      watchLearner(id, name, Date.now()).catch((err) => {
        if (!stopping.signal.aborted) {
          logger.warn(`looking after etcd learner ${name} (id ${id}) failed: ${err.message}`);
        }
      });
    }
    return initialClusterString(added.members, { name, peerUrl });
  };

  return {
    add(request, context) {
      const result = queue.then(() => add(request, context));
      queue = result.catch(() => {});
      return result;
    },
    stop() {
      stopping.abort();
      clearInterval(sweeper);
      probe.close();
    },
  };
}

/** Components for {@linkcode createJoinAction}. */
export interface JoinActionComponents {
  /** A client of the cluster (this instance's member, or several with failover). */
  client: Etcd3;
  /** The member adder, which refuses past `-max-voters` with {@linkcode VoterLimitError}. */
  memberAdder: MemberAdder;
  /** Where each decision is logged. */
  logger: Logger;
}

/**
 * The `/join/0.2` action: decides the joiner's role.
 *
 * - A joiner whose data directory holds a member the cluster still has
 *   restarts it (`InitialCluster: ""`).
 * - A voter-eligible joiner becomes a member (a learner, promoted once it
 *   has caught up) while the voting core has fewer than `-max-voters`
 *   members, through the member adder (same checks as `/memberadd/0.1`).
 * - Any other joiner is a client instance: it gets the started voters'
 *   client URLs, and `Removed` says whether a member it held was removed.
 *
 * @example
 * ```ts ignore
 * const join = createJoinAction({ client, memberAdder, logger });
 * const answer = await join(request, { remoteAddress: connection.remoteAddr.toString() });
 * ```
 */
export function createJoinAction(
  components: JoinActionComponents,
): (request: JoinRequest, context: MemberAddContext) => Promise<JoinResponse> {
  const { client, memberAdder, logger } = components;
  return async (request, context) => {
    const members = await listMembers(client);
    const existing = memberWithPeerUrl(members, request.MemberPeerUrl);
    if (request.HasMember && existing?.started) {
      logger.info(`${request.MemberName} rejoins with its etcd member (id ${existing.id})`);
      return { Role: "member", InitialCluster: "" };
    }
    if (request.VoterEligible || (existing && !existing.started)) {
      try {
        const initialCluster = await memberAdder.add(request, context);
        return { Role: "member", InitialCluster: initialCluster };
      } catch (err) {
        if (!(err instanceof VoterLimitError)) throw err;
      }
    }
    const clientUrls = members.filter((m) => m.started && !m.isLearner)
      .flatMap((m) => m.clientUrls);
    if (clientUrls.length === 0) {
      throw new MemberAddError("no started etcd voter to give a client instance");
    }
    logger.info(
      `${request.MemberName} joins as a client instance` +
        (request.VoterEligible ? " (the voting core is full)" : " (-voter-eligible=false)") +
        (request.HasMember ? "; its old etcd member was removed while it was away" : ""),
    );
    return { Role: "client", ClientUrls: clientUrls, Removed: request.HasMember };
  };
}
