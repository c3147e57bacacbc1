/**
 * The registry-service's protocol handlers (SPEC §3, plus history, rollback
 * and chown): one request per stream, read to end with bounds, answered,
 * closed; a failure resets the stream and never affects other requests.
 *
 * Each handler only decodes, calls the store and encodes. What holds for
 * every request sits in the one `serve` wrapper: limits (in flight overall,
 * per peer and per remote host, bytes of requests arriving and of answers
 * being sent, an answer's total time), health, the write policy
 * (as the request's `author`), refusals answered as `Error: …`, the audit line of
 * every write, the log line of every other request, metrics. A streaming
 * handler (`/watch/0.1`, see `watch.ts`) goes through the same wrapper, but
 * its answer stays open and it holds a watcher slot (per peer, per host and
 * in all) instead of a request slot.
 *
 * @module
 */
import type { Connection, Stream } from "@libp2p/interface";
import type { RegistryNode } from "../p2p/node.ts";
import {
  ADD_PROTOCOL,
  CHOWN_PROTOCOL,
  DELETE_PROTOCOL,
  GET_PROTOCOL,
  HISTORY_PROTOCOL,
  JOIN_PROTOCOL,
  LIST_PROTOCOL,
  MEMBER_ADD_PROTOCOL,
  MEMBERS_PROTOCOL,
  ROLLBACK_PROTOCOL,
  WATCH_PROTOCOL,
} from "../protocol/ids.ts";
import {
  decodeAddRequest,
  decodeChownRequest,
  decodeJoinRequest,
  decodeMemberAddRequest,
  decodeRollbackRequest,
  encodeAddResponse,
  encodeChownResponse,
  encodeDeleteResponse,
  encodeErrorAnswer,
  encodeGetResponse,
  encodeHistoryResponse,
  encodeJoinResponse,
  encodeListResponse,
  encodeRollbackResponse,
  type InstanceRecord,
  InvalidValueError,
  type JoinRequest,
  type JoinResponse,
  MalformedMessageError,
  type MemberAddRequest,
  validateServiceName,
} from "../protocol/messages.ts";
import { readToEnd, sendAndClose } from "../protocol/stream_io.ts";
import { Budget, BudgetExceededError } from "../protocol/budget.ts";
import { type RegistryData, type WriteAuthor, WriteRefusedError } from "../store/registry_store.ts";
import type { Logger } from "../log/logger.ts";
import type { RegistryMetrics } from "./metrics.ts";
import { WritePolicy } from "./policy.ts";
import type { ChangeSource } from "../store/changes.ts";
import {
  DEFAULT_WATCH_LIMITS,
  type StreamingHandler,
  watchHandler,
  type WatchLimits,
} from "./watch.ts";

/** Bounds on what one peer can make the service hold. */
export interface HandlerLimits {
  /** Largest request (bytes); larger ones are refused without buffering them. */
  maxRequestBytes: number;
  /** A stream whose request sends no data, or whose reader takes none of the answer, for this long is reset (ms). */
  idleMs: number;
  /** A request not complete, or an answer not all taken, after this long is reset (ms). */
  totalMs: number;
  /** Streams per protocol per connection. */
  maxStreamsPerConnection: number;
  /** Requests handled at once across all peers; more are reset at once. */
  maxInFlight: number;
  /** Requests one peer may have handled at once (its share of `maxInFlight`). */
  maxInFlightPerPeer: number;
  /**
   * Requests one remote host (IP address; an IPv6 /64) may have handled at
   * once, all its peer ids together: peer ids are free to make.
   */
  maxInFlightPerHost: number;
  /** Bytes that requests still arriving may hold, across all peers. */
  maxBufferedBytes: number;
  /** Bytes that requests still arriving on one connection may hold. */
  maxBufferedBytesPerConnection: number;
  /** Bytes that requests still arriving from one peer (all its connections) may hold. */
  maxBufferedBytesPerPeer: number;
  /** Bytes that requests still arriving from one remote host (all its peers) may hold. */
  maxBufferedBytesPerHost: number;
  /** Bytes of answers encoded for a request and not yet taken by their readers, across all peers. */
  maxAnswerBytes: number;
  /** Bytes of answers one peer's requests may hold (a larger answer counts as this much). */
  maxAnswerBytesPerPeer: number;
  /** Bytes of answers one remote host's requests (all its peers) may hold. */
  maxAnswerBytesPerHost: number;
}

/** The limits the service runs with unless told otherwise. */
export const DEFAULT_LIMITS: HandlerLimits = {
  maxRequestBytes: 1024 * 1024,
  idleMs: 10_000,
  totalMs: 30_000,
  maxStreamsPerConnection: 1_024,
  maxInFlight: 4_096,
  maxInFlightPerPeer: 256,
  maxInFlightPerHost: 2_048,
  maxBufferedBytes: 128 * 1024 * 1024,
  maxBufferedBytesPerConnection: 16 * 1024 * 1024,
  maxBufferedBytesPerPeer: 32 * 1024 * 1024,
  maxBufferedBytesPerHost: 64 * 1024 * 1024,
  maxAnswerBytes: 128 * 1024 * 1024,
  maxAnswerBytesPerPeer: 16 * 1024 * 1024,
  maxAnswerBytesPerHost: 64 * 1024 * 1024,
};

/** What a handler knows of the request it serves, besides its payload. */
export interface RequestContext {
  /** Peer id of the remote peer. */
  readonly peer: string;
  /** The protocol the request came in on. */
  readonly protocol: string;
  /** The connection's remote multiaddr (`/ip4/…/tcp/…`). */
  readonly remoteAddress: string;
  /** Aborted when the request ends (answered, reset, or the stream closed). */
  readonly signal: AbortSignal;
  /** The writer the request's writes are checked and recorded as (the write policy). */
  readonly author: WriteAuthor;
  /** What a write is about, filled in by its handler for the audit line. */
  readonly audit: { name?: string; revision?: number };
}

/** How a request ended, for metrics and logs. */
export type Outcome = "ok" | "not_found" | "refused" | "error";

/** A handler's answer: text, or its UTF-8 bytes when they are cached. */
export interface HandlerResult {
  /** What the stream is answered. */
  answer: string | Uint8Array;
  /** How the request ended. */
  outcome: Outcome;
}

/** Handles one decoded-to-text request. */
export type Handler = (request: string, ctx: RequestContext) => Promise<HandlerResult>;

/** Components for {@linkcode registerHandlers}. */
export interface HandlerComponents {
  /** Where the protocols are registered. */
  node: Pick<RegistryNode, "handle">;
  /** Where entries live. */
  store: RegistryData;
  /** Metrics to update. */
  metrics: RegistryMetrics;
  /** Where each request and answer is logged. */
  logger: Logger;
  /** Who may change what; `open` with no admins when omitted. */
  policy?: WritePolicy;
  /** Adds an etcd member and returns the initial-cluster string (clustering). */
  memberAdd?: (request: MemberAddRequest, ctx: RequestContext) => Promise<string>;
  /** Decides a joiner's role (`/join/0.2`). */
  join?: (request: JoinRequest, ctx: RequestContext) => Promise<JoinResponse>;
  /** The registry's instances (`/members/0.1`). */
  members?: () => Promise<InstanceRecord[]>;
  /** Whether requests should be served (false once etcd is gone). */
  isHealthy?: () => boolean;
  /** Bounds; {@linkcode DEFAULT_LIMITS} when omitted. */
  limits?: HandlerLimits;
  /** The change feed for `/watch/0.1` (the store); not served when omitted. */
  changes?: ChangeSource;
  /** Bounds on watchers; {@linkcode DEFAULT_WATCH_LIMITS} when omitted. */
  watchLimits?: WatchLimits;
}

/** Thrown inside a handler for a request the service refuses by resetting the stream. */
class RefusedRequest extends Error {}

/** Protocols whose requests change the registry: each gets one audit line. */
const WRITES: ReadonlySet<string> = new Set([
  ADD_PROTOCOL,
  DELETE_PROTOCOL,
  ROLLBACK_PROTOCOL,
  CHOWN_PROTOCOL,
]);

const encoder = new TextEncoder();
/**
 * Bytes of answer taken before the handler runs, for protocols whose answer is large for a small
 * request: a history answer (20 versions of up to 64 KiB) is read from etcd and encoded for each
 * request, so the reading, not only the sending, must wait for room.
 */
const ANSWER_RESERVE: Readonly<Record<string, number>> = { [HISTORY_PROTOCOL]: 1024 * 1024 };
/**
 * Why a request's signal aborts. One shared reason: `abort()` without one
 * builds a DOMException with its stack, ~3% of the service's CPU per request.
 */
const REQUEST_ENDED = new Error("the request ended");

function preview(text: string): string {
  return JSON.stringify(text.length > 200 ? text.slice(0, 200) : text) +
    (text.length > 200 ? `... (${text.length} chars)` : "");
}

function describe(answer: string | Uint8Array): string {
  if (typeof answer === "string") return preview(answer);
  return preview(new TextDecoder().decode(answer.subarray(0, 200))) + ` (${answer.length} bytes)`;
}

/**
 * Registers the registry protocols on `node`.
 *
 * @example
 * ```ts ignore
 * await registerHandlers({ node, store, metrics: createRegistryMetrics(), logger, policy });
 * ```
 */
export async function registerHandlers(components: HandlerComponents): Promise<void> {
  const { node, store, metrics, logger } = components;
  const limits = components.limits ?? DEFAULT_LIMITS;
  const policy = components.policy ?? new WritePolicy();
  // One peer holding thousands of idle streams would otherwise take every slot: see `takeSlot`.
  const inFlight = new Budget(limits.maxInFlight, "requests in flight");
  // Requests sent slowly, each under the size limit, would otherwise fill the memory together;
  // each connection gets a share of its peer's, each peer of its host's, each host of the
  // service's, so neither one peer on many connections nor one host of many peers takes it all.
  const arriving = new Budget(limits.maxBufferedBytes, "bytes of requests still arriving");
  const held = new HeldBudgets();
  const holdArriving = (connection: Connection, peer: string, host: string) => {
    const keys = [
      `arriving host ${host}`,
      `arriving peer ${peer} ${host}`,
      `arriving connection ${connection.id}`,
    ] as const;
    const hostShare = held.hold(keys[0], () =>
      new Budget(
        limits.maxBufferedBytesPerHost,
        "bytes of requests still arriving from this host",
        arriving,
      ));
    const peerShare = held.hold(keys[1], () =>
      new Budget(
        limits.maxBufferedBytesPerPeer,
        "bytes of requests still arriving from this peer",
        hostShare,
      ));
    const budget = held.hold(keys[2], () =>
      new Budget(
        limits.maxBufferedBytesPerConnection,
        "bytes of requests still arriving on this connection",
        peerShare,
      ));
    return { budget, [Symbol.dispose]: () => keys.forEach((key) => held.release(key)) };
  };
  // An answer is kept until its reader has taken it: a history answer is ~1.4 MB for a request
  // of a few bytes, so readers that take little would otherwise fill the memory.
  const answering = new Budget(limits.maxAnswerBytes, "bytes of answers being sent");
  /** Settled (and replaced) each time some answer's bytes are given back: waiters look again. */
  let answerFreed = Promise.withResolvers<void>();
  const freeAnswers = () => {
    answerFreed.resolve();
    answerFreed = Promise.withResolvers<void>();
  };
  /**
   * `peer`'s hold on the answers' bytes: `set` takes or gives back to reach an amount (throwing
   * the busy error when there is no room); disposing gives everything back.
   */
  const holdAnswer = (peer: string, host: string) => {
    const keys = [`answer host ${host}`, `answer peer ${peer} ${host}`] as const;
    let peerShare: Budget | undefined;
    let taken = 0;
    return {
      set(amount: number): void {
        // One answer larger than a peer's share is still sent, as long as it has nothing else.
        amount = Math.min(amount, limits.maxAnswerBytesPerPeer);
        if (amount === taken) return;
        if (!peerShare) {
          const hostShare = held.hold(keys[0], () =>
            new Budget(
              limits.maxAnswerBytesPerHost,
              "bytes of answers being sent to this host",
              answering,
            ));
          peerShare = held.hold(keys[1], () =>
            new Budget(
              limits.maxAnswerBytesPerPeer,
              "bytes of answers being sent to this peer",
              hostShare,
            ));
        }
        if (amount < taken) {
          peerShare.give(taken - amount);
          freeAnswers();
        } else {
          const exceeded = peerShare.take(amount - taken);
          if (exceeded) throw new BudgetExceededError(exceeded);
        }
        taken = amount;
      },
      /**
       * `set(amount)`, waiting for room while there is none, until `signal` aborts: a reader
       * of many histories at once is served as answers are taken, not refused.
       */
      async reserve(amount: number, signal: AbortSignal): Promise<void> {
        const aborted = new Promise<never>((_, reject) => {
          signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        });
        aborted.catch(() => {});
        for (;;) {
          try {
            return this.set(amount);
          } catch (err) {
            if (!(err instanceof BudgetExceededError)) throw err;
            signal.throwIfAborted();
            await Promise.race([answerFreed.promise, aborted]);
          }
        }
      },
      [Symbol.dispose](): void {
        if (!peerShare) return;
        peerShare.give(taken);
        if (taken > 0) freeAnswers();
        keys.forEach((key) => held.release(key));
      },
    };
  };
  // list is encoded once per change of the view, not once per request.
  let listCache: { version: number; bytes: Uint8Array } | undefined;

  const handlers: Record<string, Handler> = {
    [ADD_PROTOCOL]: async (text, ctx) => {
      const request = decodeAddRequest(text);
      ctx.audit.name = request.Name;
      ctx.audit.revision = await store.put(request.Name, request.InfoStr, ctx.author);
      return { answer: encodeAddResponse(request), outcome: "ok" };
    },
    [GET_PROTOCOL]: async (text) => {
      const info = await store.get(validateServiceName(text));
      return { answer: encodeGetResponse(info), outcome: info === undefined ? "not_found" : "ok" };
    },
    [LIST_PROTOCOL]: async (text) => {
      if (text !== "") throw new RefusedRequest("list takes no argument");
      const view = await store.list();
      if (view.version < 0) return { answer: encodeListResponse(view.entries), outcome: "ok" };
      if (listCache?.version !== view.version) {
        const bytes = encoder.encode(encodeListResponse(view.entries));
        listCache = { version: view.version, bytes };
      }
      return { answer: listCache.bytes, outcome: "ok" };
    },
    [DELETE_PROTOCOL]: async (text, ctx) => {
      const name = ctx.audit.name = validateServiceName(text);
      const revision = ctx.audit.revision = await store.delete(name, ctx.author);
      return {
        answer: encodeDeleteResponse(revision === undefined ? 0 : 1),
        outcome: revision === undefined ? "not_found" : "ok",
      };
    },
    [HISTORY_PROTOCOL]: async (text) => {
      const versions = await store.history(validateServiceName(text));
      return {
        answer: encodeHistoryResponse(versions),
        outcome: versions.length > 0 ? "ok" : "not_found",
      };
    },
    [ROLLBACK_PROTOCOL]: async (text, ctx) => {
      const request = decodeRollbackRequest(text);
      ctx.audit.name = request.Name;
      const { restored, revision } = await store.rollback(
        request.Name,
        request.Revision,
        ctx.author,
      );
      ctx.audit.revision = revision;
      return { answer: encodeRollbackResponse(request.Name, restored), outcome: "ok" };
    },
    [CHOWN_PROTOCOL]: async (text, ctx) => {
      const request = decodeChownRequest(text);
      ctx.audit.name = request.Name;
      ctx.audit.revision = await store.chown(request.Name, request.Owner, ctx.author);
      return { answer: encodeChownResponse(request.Name, request.Owner), outcome: "ok" };
    },
    [JOIN_PROTOCOL]: async (text, ctx) => {
      if (!components.join) throw new RefusedRequest("this instance does not take joins");
      const answer = await components.join(decodeJoinRequest(text), ctx);
      return { answer: encodeJoinResponse(answer), outcome: "ok" };
    },
    [MEMBERS_PROTOCOL]: async (text) => {
      if (!components.members) throw new RefusedRequest("this instance does not list members");
      if (text !== "") throw new RefusedRequest("members takes no argument");
      return { answer: JSON.stringify(await components.members()), outcome: "ok" };
    },
    [MEMBER_ADD_PROTOCOL]: async (text, ctx) => {
      if (!components.memberAdd) throw new RefusedRequest("this instance does not add members");
      const request = decodeMemberAddRequest(text);
      return { answer: await components.memberAdd(request, ctx), outcome: "ok" };
    },
  };

  // Watchers stay open: they have their own bounds, not slots of the requests in flight.
  const watchLimits = components.watchLimits ?? DEFAULT_WATCH_LIMITS;
  const streaming: Record<string, StreamingHandler> = components.changes
    ? {
      [WATCH_PROTOCOL]: watchHandler({
        changes: components.changes,
        metrics,
        logger,
        limits: watchLimits,
      }),
    }
    : {};
  const watchers = new Budget(watchLimits.maxWatchers, "watchers");

  // A peer id costs nothing to make: one host with many would get many per-peer shares, so each
  // remote host also has a share, and the hosts' shares take from the service's slots.
  // The host of each connection, worked out once (its requests come many to a connection).
  const hostOf = new WeakMap<Connection, string>();
  const hostOfConnection = (connection: Connection) => {
    let host = hostOf.get(connection);
    if (host === undefined) hostOf.set(connection, host = remoteHost(connection));
    return host;
  };
  const slotKeys = (peer: string, host: string, isStream: boolean) => {
    const kind = isStream ? "watcher" : "request";
    return [`${kind} peer ${peer}`, `${kind} host ${host}`] as const;
  };
  /** Takes one slot of `peer`'s share, `host`'s and the service's; else returns the one full. */
  const takeSlot = (peer: string, host: string, isStream: boolean): Budget | undefined => {
    const [peerKey, hostKey] = slotKeys(peer, host, isStream);
    const peerShare = held.hold(
      peerKey,
      () =>
        isStream
          ? new Budget(watchLimits.maxWatchersPerPeer, "watchers of this peer")
          : new Budget(limits.maxInFlightPerPeer, "requests in flight from this peer"),
    );
    const hostShare = held.hold(
      hostKey,
      () =>
        isStream
          ? new Budget(watchLimits.maxWatchersPerHost, "watchers of this host", watchers)
          : new Budget(limits.maxInFlightPerHost, "requests in flight from this host", inFlight),
    );
    let exceeded = peerShare.take(1);
    if (exceeded === undefined) {
      exceeded = hostShare.take(1);
      if (exceeded) peerShare.give(1);
    }
    if (exceeded) {
      held.release(peerKey);
      held.release(hostKey);
    }
    return exceeded;
  };
  const giveSlot = (peer: string, host: string, isStream: boolean) => {
    for (const key of slotKeys(peer, host, isStream)) {
      held.get(key)!.give(1);
      held.release(key);
    }
  };

  const serve = async (
    protocol: string,
    handler: { handle: Handler } | { stream: StreamingHandler },
    stream: Stream,
    connection: Connection,
  ) => {
    const isStream = "stream" in handler;
    const peer = connection.remotePeer.toString();
    const host = hostOfConnection(connection);
    const isWrite = WRITES.has(protocol);
    const started = performance.now();
    const done = new AbortController();
    stream.addEventListener("close", () => done.abort(REQUEST_ENDED), { once: true });
    const ctx: RequestContext = {
      peer,
      protocol,
      remoteAddress: connection.remoteAddr.toString(),
      signal: done.signal,
      author: policy.author(peer),
      audit: {},
    };
    let outcome: Outcome = "error";
    let request = "";
    let answer: string | Uint8Array | undefined;
    let failure: Error | undefined;
    try {
      const exceeded = takeSlot(peer, host, isStream);
      if (exceeded) throw new BudgetExceededError(exceeded);
      try {
        if (components.isHealthy && !components.isHealthy()) {
          throw new Error("etcd is not healthy");
        }
        let bytes: Uint8Array;
        {
          using share = holdArriving(connection, peer, host);
          bytes = await readToEnd(stream, {
            maxBytes: limits.maxRequestBytes,
            idleMs: limits.idleMs,
            totalMs: limits.totalMs,
            budget: share.budget,
          });
        }
        request = decodeUtf8(bytes).trim();
        if (isStream) {
          outcome = await handler.stream(request, ctx, stream);
          return;
        }
        using answerShare = holdAnswer(peer, host);
        const reserve = ANSWER_RESERVE[protocol];
        if (reserve !== undefined) {
          // Bounded: the wait holds a request slot, never longer than a request may last.
          await answerShare.reserve(
            reserve,
            AbortSignal.any([ctx.signal, AbortSignal.timeout(limits.totalMs)]),
          );
        }
        try {
          ({ answer, outcome } = await handler.handle(request, ctx));
        } catch (err) {
          // A refused write is answered, malformed or not, so the writer learns why.
          if (
            !isWrite || !(err instanceof WriteRefusedError || err instanceof MalformedMessageError)
          ) {
            throw err;
          }
          answer = encodeErrorAnswer(err.message);
          outcome = "refused";
          failure = err;
        }
        // Cached answers (list) are one copy for all readers; a write's answer is small, and
        // refusing it would leave the writer unsure whether the write was done.
        const encoded = typeof answer === "string";
        // The text is not kept beside its bytes while the reader takes them.
        if (typeof answer === "string") answer = encoder.encode(answer);
        // A reserved answer counts at most its reserve: the reserve bounds how many are read
        // at once, and so what they hold beyond it.
        answerShare.set(
          encoded && !isWrite ? Math.min(answer.byteLength, reserve ?? Infinity) : 0,
        );
        await sendAndClose(stream, answer, { idleMs: limits.idleMs, totalMs: limits.totalMs });
      } finally {
        giveSlot(peer, host, isStream);
      }
    } catch (err) {
      if (
        outcome === "error" &&
        (err instanceof RefusedRequest || err instanceof BudgetExceededError ||
          err instanceof MalformedMessageError || err instanceof WriteRefusedError)
      ) {
        outcome = "refused";
      }
      failure = err as Error;
      stream.abort(err as Error);
    } finally {
      done.abort(REQUEST_ENDED);
      const ms = performance.now() - started;
      metrics.requests.inc({ protocol, outcome });
      metrics.duration.observe({ protocol }, ms / 1000);
      if (isWrite) {
        audit(logger, ctx, outcome, failure);
      } else if (failure) {
        logger.warn(`${protocol} from ${peer} failed: ${failure.message}`);
      } else {
        logger.info(`${protocol} from ${peer}: ${outcome} in ${ms.toFixed(1)} ms`);
      }
      if (request !== "" || answer !== undefined) {
        logger.debug(
          `${protocol} from ${peer}: ${preview(request)} -> ` +
            (answer === undefined ? "(reset)" : describe(answer)),
        );
      }
    }
  };

  const all = [
    ...Object.entries(handlers).map(([protocol, handle]) => [protocol, { handle }] as const),
    ...Object.entries(streaming).map(([protocol, stream]) => [protocol, { stream }] as const),
  ];
  for (const [protocol, handler] of all) {
    await node.handle(
      protocol,
      (stream, connection) => serve(protocol, handler, stream, connection),
      {
        maxInboundStreams: limits.maxStreamsPerConnection,
        maxOutboundStreams: limits.maxStreamsPerConnection,
      },
    );
  }
}

/**
 * The one audit line of a write, accepted or refused: every field is
 * quoted or an id, so no input can end the line or forge another.
 */
function audit(logger: Logger, ctx: RequestContext, outcome: Outcome, failure?: Error): void {
  const result = outcome === "ok"
    ? "accepted"
    : outcome === "not_found"
    ? "not_found"
    : outcome === "refused"
    ? "refused"
    : "failed";
  // A refused name is logged as sent (quoted, so escaped), cut to a sane length.
  const name = ctx.audit.name ??
    (failure instanceof InvalidValueError ? failure.serviceName?.slice(0, 300) : undefined);
  const fields = [
    `audit peer=${ctx.peer}`,
    `protocol=${ctx.protocol}`,
    `name=${name === undefined ? "-" : JSON.stringify(name)}`,
    `outcome=${result}`,
    `revision=${ctx.audit.revision ?? "-"}`,
  ];
  if (failure) fields.push(`reason=${JSON.stringify(failure.message)}`);
  const line = fields.join(" ");
  if (outcome === "ok" || outcome === "not_found") logger.info(line);
  else logger.warn(line);
}

/**
 * The host a connection comes from, whose requests share one budget: its IP
 * address; for IPv6 its /64 (one machine's usual allocation, so that its
 * 2^64 addresses are one host), an IPv4-mapped one as the IPv4 address; the
 * whole address when it has no IP.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { multiaddr } from "@multiformats/multiaddr";
 * import { remoteHost } from "./handlers.ts";
 * const host = (addr: string) => remoteHost({ remoteAddr: multiaddr(addr) });
 * assert.equal(host("/ip4/10.0.0.7/tcp/4001"), "10.0.0.7");
 * assert.equal(host("/ip6/2001:db8::1/tcp/4001"), "2001:db8:0:0::/64");
 * assert.equal(host("/ip6/2001:db8:0:0:ffff::2/tcp/4001"), "2001:db8:0:0::/64");
 * assert.equal(host("/ip6/::ffff:10.0.0.7/tcp/4001"), "10.0.0.7");
 * ```
 */
export function remoteHost(connection: Pick<Connection, "remoteAddr">): string {
  const ip = connection.remoteAddr.getComponents().find((c) =>
    c.name === "ip4" || c.name === "ip6"
  );
  if (ip?.value === undefined) return connection.remoteAddr.toString();
  if (ip.name === "ip4") return ip.value;
  const mappedV4 = ip.value.match(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i)?.[1];
  if (mappedV4) return mappedV4;
  // Expand `::` to the eight groups of the address.
  const [head, tail = ""] = ip.value.toLowerCase().split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === "" ? [] : tail.split(":");
  const groups = [
    ...headGroups,
    ...Array(8 - headGroups.length - tailGroups.length).fill("0"),
    ...tailGroups,
  ].map((g) => parseInt(g, 16));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6] >> 8, groups[6] & 255, groups[7] >> 8, groups[7] & 255].join(".");
  }
  return groups.slice(0, 4).map((g) => g.toString(16)).join(":") + "::/64";
}

/**
 * Budgets shared by the requests that hold them, kept while any does: a
 * budget taking from a parent needs that parent to stay the one its
 * siblings take from, so a parent is not forgotten while a child is held.
 */
class HeldBudgets {
  readonly #held = new Map<string, { budget: Budget; holders: number }>();

  /** The budget under `key` (made by `make` when none is held), held until {@linkcode release}. */
  hold(key: string, make: () => Budget): Budget {
    let entry = this.#held.get(key);
    if (!entry) this.#held.set(key, entry = { budget: make(), holders: 0 });
    entry.holders++;
    return entry.budget;
  }

  /** The budget under `key`, while it is held. */
  get(key: string): Budget | undefined {
    return this.#held.get(key)?.budget;
  }

  /** Lets go of one hold of `key`; the budget is forgotten with its last holder. */
  release(key: string): void {
    const entry = this.#held.get(key);
    if (entry && --entry.holders === 0) this.#held.delete(key);
  }
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new RefusedRequest("request is not UTF-8 text", { cause });
  }
}
