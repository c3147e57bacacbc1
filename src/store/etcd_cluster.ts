/**
 * The etcd cluster as a whole: its members, the `--initial-cluster` string a
 * joining member needs, member removal and snapshots for backups.
 *
 * @module
 */
import { Etcd3, type IOptions } from "etcd3";
import { Buffer } from "node:buffer";
import { ETCD_TLS_SERVER_NAME, type MemberCertificate } from "./tls.ts";

type Policy = NonNullable<NonNullable<IOptions["faultHandling"]>["global"]>;

// etcd answers "unhealthy cluster" (UNAVAILABLE) to a MemberAdd it refuses for now; etcd3's
// default policies retry that and then open a circuit breaker that blocks every call to the
// host for 5 s. Membership calls make their own decisions, so they run without either.
const noFaultHandling = {
  _altReturn: undefined as never,
  onSuccess: () => ({ dispose() {} }),
  onFailure: () => ({ dispose() {} }),
  execute: async <T>(
    fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T,
    signal?: AbortSignal,
  ): Promise<T> => await fn({ signal: signal ?? new AbortController().signal }),
} as unknown as Policy;

/** Deadline of every unary etcd call (watches and lease keep-alives are streams, unbounded). */
const UNARY_CALL_DEADLINE_MS = 15_000;

/**
 * An etcd client with no retries and no circuit breaker: a failed call fails
 * at once (the registry's callers retry at their level) and never blocks the
 * calls after it, as etcd3's default breaker does for 5 s. Use one for
 * membership calls and another for the registry store; close them when done.
 * With `tls` it presents that certificate and trusts only the network's CA.
 * With `failover`, a call that fails on one of `hosts` is retried on another
 * (a client instance's store, which has no member of its own).
 *
 * @example
 * ```ts ignore
 * const client = createEtcdClient("https://127.0.0.1:2379", etcd.tls);
 * console.log(await listMembers(client));
 * client.close();
 * ```
 */
export function createEtcdClient(
  hosts: string | string[],
  tls?: MemberCertificate,
  options: { failover?: boolean } = {},
): Etcd3 {
  return new Etcd3({
    hosts,
    // No single call may hang for good (a half-open connection answers nothing): a loop
    // waiting on one, like the learner promotion sweep, would stop for the process's life.
    defaultCallOptions: (context) =>
      context.isStream ? {} : { deadline: Date.now() + UNARY_CALL_DEADLINE_MS },
    // With failover (a client instance's several members), etcd3's own policies: a host that
    // fails is skipped by its circuit breaker and the call is retried on another.
    ...(options.failover
      ? {}
      : { faultHandling: { host: () => noFaultHandling, global: noFaultHandling } }),
    grpcOptions: {
      // grpc-js retries a call that never left the client at once and without limit. When a
      // member stops, Deno's HTTP/2 session refuses new streams before grpc-js learns that the
      // connection is gone, so every attempt failed the same way in one endless microtask loop:
      // the service spun at 100% CPU, its memory grew by gigabytes and it ignored SIGTERM (seen
      // in grpc-js's LoadBalancingCall.doPick and Http2Transport.createCall). Our callers retry.
      "grpc.enable_retries": 0,
      // grpc-js may not send an IP address as the TLS server name; certificates carry this one.
      ...(tls ? { "grpc.ssl_target_name_override": ETCD_TLS_SERVER_NAME } : {}),
    },
    ...(tls
      ? {
        credentials: {
          rootCertificate: Buffer.from(tls.ca),
          certChain: Buffer.from(tls.cert),
          privateKey: Buffer.from(tls.key),
        },
      }
      : {}),
  });
}

/** Asks members over HTTP how they are (see {@linkcode createMemberProbe}). */
export interface MemberProbe {
  /**
   * etcd's `/health` of the member at `clientUrl`: `true` or `false` as it
   * answers, `undefined` when it does not answer within `timeoutMs`.
   */
  health(clientUrl: string, timeoutMs: number): Promise<boolean | undefined>;
  /** Whether the member at any of `clientUrls` answers at all (healthy or not). */
  answers(clientUrls: readonly string[], timeoutMs: number): Promise<boolean>;
  /** Closes the probe's connections. */
  close(): void;
}

/**
 * A probe of members that speaks HTTP/1.1 to etcd's `/health` (with the
 * member certificate), not gRPC: a gRPC session held open to a member that
 * later stops gracefully gets its GOAWAY, and Deno's HTTP/2 can crash the
 * whole process on one (denoland/deno#36788). A member without a leader
 * answers, unhealthy: {@linkcode MemberProbe.answers} asks whether its
 * process serves.
 *
 * @example
 * ```ts ignore
 * const probe = createMemberProbe(tls);
 * console.log(await probe.answers(["https://10.0.0.2:2379"], 1_000));
 * probe.close();
 * ```
 */
export function createMemberProbe(tls?: MemberCertificate): MemberProbe {
  const client = Deno.createHttpClient({
    http2: false,
    ...(tls ? { caCerts: [tls.ca], cert: tls.cert, key: tls.key } : {}),
  });
  const health = async (clientUrl: string, timeoutMs: number) => {
    let res;
    try {
      res = await fetch(new URL("/health", clientUrl), {
        client,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch {
      return undefined;
    }
    const body = await res.json().catch(() => ({})) as { health?: string };
    return res.ok && body.health === "true";
  };
  return {
    health,
    async answers(clientUrls, timeoutMs) {
      for (const url of clientUrls) {
        if (await health(url, timeoutMs) !== undefined) return true;
      }
      return false;
    },
    close: () => client.close(),
  };
}

/** What {@linkcode followEndpoints} reaches into: etcd3's connection pool (etcd3 pinned). */
interface PoolHost {
  host: string;
  channelCredentials: unknown;
  channelOptions: unknown;
  close(): void;
}

/**
 * Points a client made with `failover` at `clientUrls` (the voters' client
 * URLs as the member list has them now), as etcd's Go client does with its
 * endpoint auto-sync, which etcd3 lacks: a client instance that joined
 * through voters since replaced would otherwise keep only dead endpoints.
 * Endpoints no longer listed are closed (a call running there fails and is
 * retried on another), new ones added. An empty list changes nothing.
 * Returns whether the endpoints changed.
 *
 * @example
 * ```ts ignore
 * const client = createEtcdClient(["https://10.0.0.1:2379"], tls, { failover: true });
 * followEndpoints(client, (await listMembers(client)).flatMap((m) => m.clientUrls));
 * ```
 */
export function followEndpoints(client: Etcd3, clientUrls: readonly string[]): boolean {
  const pool = (client as unknown as { pool: { hosts: PoolHost[] } }).pool;
  const wanted = new Set(clientUrls.map((url) => url.replace(/^[a-z]+:\/\//i, "")));
  const have = new Set(pool.hosts.map((h) => h.host));
  if (wanted.size === 0 || (wanted.size === have.size && [...wanted].every((h) => have.has(h)))) {
    return false;
  }
  const template = pool.hosts[0];
  const Host = template.constructor as new (
    host: string,
    credentials: unknown,
    options: unknown,
  ) => PoolHost;
  const kept = pool.hosts.filter((h) => wanted.has(h.host));
  for (const h of pool.hosts) if (!wanted.has(h.host)) h.close();
  const added = [...wanted].filter((h) => !have.has(h)).map((h) =>
    new Host(h, template.channelCredentials, template.channelOptions)
  );
  pool.hosts = [...kept, ...added];
  return true;
}

/** One member of the etcd cluster. */
export interface EtcdMember {
  /** Member id (a uint64 in decimal). */
  id: string;
  /** Member name; empty until the member has started. */
  name: string;
  /** Peer URLs. */
  peerUrls: string[];
  /** Client URLs; empty until the member has started. */
  clientUrls: string[];
  /** Whether the member's etcd has started and published its name. */
  started: boolean;
  /** Whether the member is a learner (a non-voting member that is catching up). */
  isLearner: boolean;
}

/**
 * Lists the cluster's members as the member behind `client` knows them.
 *
 * @example
 * ```ts ignore
 * const members = await listMembers(new Etcd3({ hosts: "http://127.0.0.1:2379" }));
 * console.log(members.filter((m) => m.started).length);
 * ```
 */
export async function listMembers(client: Etcd3): Promise<EtcdMember[]> {
  const res = await client.cluster.memberList({});
  return res.members.map((m) => ({
    id: m.ID,
    name: m.name ?? "",
    peerUrls: m.peerURLs ?? [],
    clientUrls: m.clientURLs ?? [],
    started: (m.name ?? "") !== "",
    isLearner: m.isLearner ?? false,
  }));
}

/**
 * Builds the `--initial-cluster` value for the member whose peer URL is
 * `joiner.peerUrl`: `name=url` for every peer URL of every member, the
 * joiner under its own name (it has none in etcd until it starts). Other
 * members that have not started yet appear with an empty name, as `etcdctl
 * member add` prints them; etcd matches members by peer URL.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initialClusterString } from "./etcd_cluster.ts";
 * const s = initialClusterString([
 *   { id: "1", name: "a", peerUrls: ["http://10.0.0.1:2380"], clientUrls: [], started: true, isLearner: false },
 *   { id: "2", name: "", peerUrls: ["http://10.0.0.2:2380"], clientUrls: [], started: false, isLearner: true },
 * ], { name: "b", peerUrl: "http://10.0.0.2:2380" });
 * assert.equal(s, "a=http://10.0.0.1:2380,b=http://10.0.0.2:2380");
 * ```
 */
export function initialClusterString(
  members: readonly EtcdMember[],
  joiner: { name: string; peerUrl: string },
): string {
  if (!members.some((m) => m.peerUrls.includes(joiner.peerUrl))) {
    throw new TypeError(`no member has the peer URL ${joiner.peerUrl}`);
  }
  const parts: string[] = [];
  for (const member of members) {
    const name = member.peerUrls.includes(joiner.peerUrl) ? joiner.name : member.name;
    for (const url of member.peerUrls) parts.push(`${name}=${url}`);
  }
  return parts.join(",");
}

/**
 * The member that has `peerUrl` among its peer URLs, if any.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { memberWithPeerUrl } from "./etcd_cluster.ts";
 * const m = { id: "1", name: "a", peerUrls: ["http://h:2380"], clientUrls: [], started: true, isLearner: false };
 * assert.equal(memberWithPeerUrl([m], "http://h:2380"), m);
 * ```
 */
export function memberWithPeerUrl(
  members: readonly EtcdMember[],
  peerUrl: string,
): EtcdMember | undefined {
  return members.find((m) => m.peerUrls.includes(peerUrl));
}

/**
 * Whether an etcd error means "try again once the members added earlier
 * have started": with strict reconfiguration checks (the default) etcd
 * refuses a change that would leave too few started members for quorum.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isNotEnoughStartedMembers } from "./etcd_cluster.ts";
 * const err = new Error("etcdserver: re-configuration failed due to not enough started members");
 * assert.ok(isNotEnoughStartedMembers(err));
 * ```
 */
export function isNotEnoughStartedMembers(err: unknown): boolean {
  const text = err instanceof Error ? err.message : String(err);
  return /not enough started members|unhealthy cluster/i.test(text);
}

/**
 * Whether an etcd error means "a learner is already catching up": etcd 3.4
 * allows one learner at a time, so a second join waits for the first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isTooManyLearners } from "./etcd_cluster.ts";
 * assert.ok(isTooManyLearners(new Error("etcdserver: too many learner members in cluster")));
 * ```
 */
export function isTooManyLearners(err: unknown): boolean {
  const text = err instanceof Error ? err.message : String(err);
  return /too many learner members/i.test(text);
}

/**
 * Whether an etcd error means "the learner is not caught up yet" (a
 * promotion to try again later).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isLearnerNotReady } from "./etcd_cluster.ts";
 * assert.ok(isLearnerNotReady(new Error("etcdserver: can only promote a learner member which is in sync with leader")));
 * ```
 */
export function isLearnerNotReady(err: unknown): boolean {
  const text = err instanceof Error ? err.message : String(err);
  return /in sync with leader|not enough started members|unhealthy cluster|leader changed|no leader|timed out|deadline/i
    .test(text);
}

/**
 * Adds a learner with `peerUrl` (a non-voting member: it cannot cost the
 * cluster its quorum, started or not). Returns its id.
 *
 * @example
 * ```ts ignore
 * const id = await addLearner(client, "https://10.0.0.2:2380");
 * ```
 */
export async function addLearner(client: Etcd3, peerUrl: string): Promise<string> {
  const res = await client.cluster.memberAdd({ peerURLs: [peerUrl], isLearner: true });
  return res.member.ID;
}

/**
 * Promotes the learner `id` to a voting member. etcd refuses until the
 * learner has caught up with the leader ({@linkcode isLearnerNotReady});
 * a member that is already a voter is a success.
 *
 * @example
 * ```ts ignore
 * await promoteMember(client, id);
 * ```
 */
export async function promoteMember(client: Etcd3, id: string): Promise<void> {
  try {
    await client.cluster.memberPromote({ ID: id });
  } catch (err) {
    // Promoted already (by the member that added it, or an earlier try whose answer was lost).
    if (
      /can only promote a learner member/i.test((err as Error).message) &&
      !isLearnerNotReady(err)
    ) return;
    throw err;
  }
}

/**
 * Removes the member `id` from the cluster (needs quorum).
 *
 * @example
 * ```ts ignore
 * await removeMember(client, "11815483873827022654");
 * ```
 */
export async function removeMember(client: Etcd3, id: string): Promise<void> {
  await client.cluster.memberRemove({ ID: id });
}

/**
 * The id of the member `client` talks to (from a status request; use a
 * client with a single endpoint).
 *
 * @example
 * ```ts ignore
 * const id = await ownMemberId(new Etcd3({ hosts: "http://127.0.0.1:2379" }));
 * ```
 */
export async function ownMemberId(client: Etcd3): Promise<string> {
  return (await ownMemberStatus(client)).id;
}

/**
 * The id of the member `client` talks to and whether it is a learner. A
 * status request is one of the two calls etcd 3.4 answers on a learner (the
 * other is a serializable read): a learner refuses even MemberList.
 *
 * @example
 * ```ts ignore
 * const { id, isLearner } = await ownMemberStatus(client);
 * ```
 */
export async function ownMemberStatus(client: Etcd3): Promise<{ id: string; isLearner: boolean }> {
  const status = await client.maintenance.status();
  return { id: status.header.member_id, isLearner: status.isLearner ?? false };
}

/**
 * Hands the raft leadership of the member behind `client` to another started
 * voter when that member leads (etcd's MoveLeader, as a graceful etcd stop
 * does), so that killing it costs the cluster no election. Returns the new
 * leader's name; `undefined` when the member did not lead or had no voter to
 * hand over to.
 *
 * @example
 * ```ts ignore
 * const own = createEtcdClient(etcd.clientUrl, etcd.tls);
 * await handOverLeadership(own);
 * own.close();
 * await etcd.stop(0);
 * ```
 */
export async function handOverLeadership(
  client: Etcd3,
  deadline = Date.now() + 5_000,
): Promise<string | undefined> {
  const status = await client.maintenance.status({ deadline });
  const own = status.header.member_id;
  if (status.leader !== own) return undefined;
  const target = (await listMembers(client)).find((m) => m.id !== own && m.started && !m.isLearner);
  if (!target) return undefined;
  await client.maintenance.moveLeader({ targetID: target.id }, { deadline });
  return target.name;
}

/**
 * Streams a snapshot of the cluster's data from the member behind `client`
 * into `path` (written to `<path>.part` first, renamed when complete). The
 * file is what `etcdctl snapshot save` writes, so `etcdctl snapshot restore`
 * takes it (with its integrity hash). Returns its size in bytes.
 *
 * @example
 * ```ts ignore
 * const bytes = await saveSnapshot(client, "/backups/registry.db");
 * ```
 */
export async function saveSnapshot(client: Etcd3, path: string): Promise<number> {
  const partPath = `${path}.part`;
  const file = await Deno.open(partPath, { write: true, create: true, truncate: true });
  let size = 0;
  try {
    const stream = await client.maintenance.snapshot();
    // Chunks arrive as events; writes are chained so they land in order.
    let writing = Promise.resolve();
    await new Promise<void>((resolve, reject) => {
      stream.on("data", (item) => {
        const blob = item.blob as unknown as Uint8Array;
        size += blob.length;
        writing = writing.then(async () => {
          let offset = 0;
          while (offset < blob.length) offset += await file.write(blob.subarray(offset));
        });
        writing.catch(reject);
      });
      stream.on("end", () => resolve());
      stream.on("error", (err) => reject(err));
    });
    await writing;
  } catch (err) {
    file.close();
    await Deno.remove(partPath).catch(() => {});
    throw err;
  }
  file.close();
  if (size === 0) {
    await Deno.remove(partPath).catch(() => {});
    throw new Error("etcd sent an empty snapshot");
  }
  await Deno.rename(partPath, path);
  return size;
}
