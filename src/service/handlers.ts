/**
 * The registry-service's protocol handlers (SPEC §3): one request per
 * stream, read to end with bounds, answered, closed; a failure resets the
 * stream and never affects other requests.
 *
 * @module
 */
import type { Connection, Stream } from "@libp2p/interface";
import type { RegistryNode } from "../p2p/node.ts";
import {
  ADD_PROTOCOL,
  DELETE_PROTOCOL,
  GET_PROTOCOL,
  LIST_PROTOCOL,
  MEMBER_ADD_PROTOCOL,
} from "../protocol/ids.ts";
import {
  decodeAddRequest,
  decodeMemberAddRequest,
  encodeAddResponse,
  encodeDeleteResponse,
  encodeGetResponse,
  encodeListResponse,
  type MemberAddRequest,
  validateServiceName,
} from "../protocol/messages.ts";
import { readToEnd, sendAndClose } from "../protocol/stream_io.ts";
import { Budget, BudgetExceededError } from "../protocol/budget.ts";
import type { RegistryStore } from "../store/registry_store.ts";
import type { Logger } from "../log/logger.ts";
import type { RegistryMetrics } from "./metrics.ts";
import type { MemberAddContext } from "./cluster.ts";

/** Bounds on what one peer can make the service hold. */
export interface HandlerLimits {
  /** Largest request (bytes); larger ones are refused without buffering them. */
  maxRequestBytes: number;
  /** A stream whose request sends no data, or whose reader takes none of the answer, for this long is reset (ms). */
  idleMs: number;
  /** A request not complete after this long is reset (ms). */
  totalMs: number;
  /** Streams per protocol per connection. */
  maxStreamsPerConnection: number;
  /** Requests handled at once across all peers; more are reset at once. */
  maxInFlight: number;
  /** Bytes that requests still arriving may hold, across all peers. */
  maxBufferedBytes: number;
  /** Bytes that requests still arriving on one connection may hold. */
  maxBufferedBytesPerConnection: number;
}

/** The limits the service runs with unless told otherwise. */
export const DEFAULT_LIMITS: HandlerLimits = {
  maxRequestBytes: 1024 * 1024,
  idleMs: 10_000,
  totalMs: 30_000,
  maxStreamsPerConnection: 1_024,
  maxInFlight: 4_096,
  maxBufferedBytes: 128 * 1024 * 1024,
  maxBufferedBytesPerConnection: 16 * 1024 * 1024,
};

/** Components for {@linkcode registerHandlers}. */
export interface HandlerComponents {
  /** The node to register on. */
  node: RegistryNode;
  /** Where entries live. */
  store: RegistryStore;
  /** Metrics to update. */
  metrics: RegistryMetrics;
  /** Where each request and answer is logged. */
  logger: Logger;
  /** Adds an etcd member and returns the initial-cluster string (clustering). */
  memberAdd?: (request: MemberAddRequest, context: MemberAddContext) => Promise<string>;
  /** Whether requests should be served (false once etcd is gone). */
  isHealthy?: () => boolean;
  /** Bounds; {@linkcode DEFAULT_LIMITS} when omitted. */
  limits?: HandlerLimits;
}

/** Thrown inside a handler for a request the service refuses. */
class RefusedRequest extends Error {}

type Outcome = "ok" | "not_found" | "refused" | "error";
/** An answer is text, or its UTF-8 bytes when they are cached. */
type Handler = (
  request: string,
  connection: Connection,
) => Promise<{ answer: string | Uint8Array; outcome: Outcome }>;

const encoder = new TextEncoder();

function preview(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}... (${text.length} chars)` : text;
}

function describe(answer: string | Uint8Array): string {
  if (typeof answer === "string") return preview(answer);
  return preview(new TextDecoder().decode(answer.subarray(0, 200))) + ` (${answer.length} bytes)`;
}

/**
 * Registers the five registry protocols on `node`.
 *
 * @example
 * ```ts ignore
 * await registerHandlers({ node, store, metrics: createRegistryMetrics(), logger });
 * ```
 */
export async function registerHandlers(components: HandlerComponents): Promise<void> {
  const { node, store, metrics, logger } = components;
  const limits = components.limits ?? DEFAULT_LIMITS;
  const inFlight = new Budget(limits.maxInFlight, "requests in flight");
  // Requests sent slowly, each under the size limit, would otherwise fill the memory together;
  // each connection gets a share, so one peer cannot take it all.
  const arriving = new Budget(limits.maxBufferedBytes, "bytes of requests still arriving");
  const arrivingOn = new WeakMap<Connection, Budget>();
  const arrivingBudget = (connection: Connection) => {
    let budget = arrivingOn.get(connection);
    if (!budget) {
      budget = new Budget(
        limits.maxBufferedBytesPerConnection,
        "bytes of requests still arriving on this connection",
        arriving,
      );
      arrivingOn.set(connection, budget);
    }
    return budget;
  };
  // list is encoded once per change of the view, not once per request.
  let listCache: { version: number; bytes: Uint8Array } | undefined;

  const handlers: Record<string, Handler> = {
    [ADD_PROTOCOL]: async (text) => {
      const request = refuseMalformed(() => decodeAddRequest(text));
      await store.put(request.Name, request.InfoStr);
      return { answer: encodeAddResponse(request), outcome: "ok" };
    },
    [GET_PROTOCOL]: async (text) => {
      const name = refuseMalformed(() => validateServiceName(text));
      const info = await store.get(name);
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
    [DELETE_PROTOCOL]: async (text) => {
      const name = refuseMalformed(() => validateServiceName(text));
      const deleted = await store.delete(name);
      return { answer: encodeDeleteResponse(deleted), outcome: deleted > 0 ? "ok" : "not_found" };
    },
    [MEMBER_ADD_PROTOCOL]: async (text, connection) => {
      if (!components.memberAdd) throw new RefusedRequest("this instance does not add members");
      const request = refuseMalformed(() => decodeMemberAddRequest(text));
      const context = { remoteAddr: connection.remoteAddr };
      return { answer: await components.memberAdd(request, context), outcome: "ok" };
    },
  };

  const serve = async (
    protocol: string,
    handler: Handler,
    stream: Stream,
    connection: Connection,
  ) => {
    const remote = connection.remotePeer.toString();
    const started = performance.now();
    let outcome: Outcome = "error";
    try {
      const exceeded = inFlight.take(1);
      if (exceeded) throw new BudgetExceededError(exceeded);
      try {
        if (components.isHealthy && !components.isHealthy()) {
          throw new Error("etcd is not healthy");
        }
        const bytes = await readToEnd(stream, {
          maxBytes: limits.maxRequestBytes,
          idleMs: limits.idleMs,
          totalMs: limits.totalMs,
          budget: arrivingBudget(connection),
        });
        const request = decodeUtf8(bytes).trim();
        const result = await handler(request, connection);
        outcome = result.outcome;
        const answer = result.answer;
        await sendAndClose(stream, typeof answer === "string" ? encoder.encode(answer) : answer, {
          idleMs: limits.idleMs,
        });
        logger.info(`${protocol} from ${remote}: ${preview(request)} -> ${describe(answer)}`);
      } finally {
        inFlight.give(1);
      }
    } catch (err) {
      if (
        outcome === "error" && (err instanceof RefusedRequest || err instanceof BudgetExceededError)
      ) {
        outcome = "refused";
      }
      logger.warn(`${protocol} from ${remote} failed: ${(err as Error).message}`);
      stream.abort(err as Error);
    } finally {
      metrics.requests.inc({ protocol, outcome });
      metrics.duration.observe({ protocol }, (performance.now() - started) / 1000);
    }
  };

  for (const [protocol, handler] of Object.entries(handlers)) {
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

function refuseMalformed<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new RefusedRequest((err as Error).message, { cause: err });
  }
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new RefusedRequest("request is not UTF-8 text", { cause });
  }
}
