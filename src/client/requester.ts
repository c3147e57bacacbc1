/**
 * Sending one registry request: choosing a registry-service peer, one stream
 * per request, retries with the one retry helper.
 *
 * Whom a client asks is whom it trusts: an answer is taken as the registry's.
 * With bootstraps, only they and the registry-service instances they list
 * (`/members/0.1`) are asked; without, any connected peer that speaks the
 * protocol and any DHT provider of the rendezvous, i.e. any holder of the PSK.
 *
 * @module
 */
import type { Connection, PeerId, Stream } from "@libp2p/interface";
import { type Multiaddr, multiaddr } from "@multiformats/multiaddr";
import { peerIdFromString } from "@libp2p/peer-id";
import type { RegistryNode } from "../p2p/node.ts";
import { findProviders } from "../p2p/rendezvous.ts";
import { GET_PROTOCOL, MEMBERS_PROTOCOL, RENDEZVOUS } from "../protocol/ids.ts";
import { decodeMembersResponse } from "../protocol/messages.ts";
import type { Bootstrap } from "../p2p/bootstrap.ts";
import { readInto, sendAndClose } from "../protocol/stream_io.ts";
import { concatBytes } from "../_bytes.ts";
import { connectionMuxer, echoStripper, selectionPrefix } from "./_lazy_select.ts";
import type { Logger } from "../log/logger.ts";
import { silentLogger } from "../log/logger.ts";
import { retry } from "../_retry.ts";
import { RegistryUnreachableError, RequestRefusedError } from "./errors.ts";

/** Retry settings: the original tries 5 times, backing off from 1 s to 8 s. */
export interface RetryOptions {
  /** Rounds of discovery + request. */
  attempts: number;
  /** Pause after the first failed round (ms), doubled each round (with jitter). */
  initialDelayMs: number;
  /** Longest pause (ms). */
  maxDelayMs: number;
  /** Fraction of each pause that is random (default 0.2), so clients do not retry in step. */
  jitter?: number;
}

/** The original's retry schedule. */
export const DEFAULT_RETRY: RetryOptions = {
  attempts: 5,
  initialDelayMs: 1_000,
  maxDelayMs: 8_000,
};

/** Components and settings for {@linkcode Requester}. */
export interface RequesterInit {
  /** A started node connected to the network. */
  node: RegistryNode;
  /**
   * The bootstraps: the only peers asked, with the registry-service
   * instances they list, unless none of them is a registry-service. Without
   * them, any connected peer or DHT provider that speaks the protocol is.
   */
  bootstraps?: readonly Bootstrap[];
  /** Retry schedule. */
  retry?: RetryOptions;
  /** Time limit for one request on one peer (ms). */
  requestTimeoutMs?: number;
  /** Time limit for one DHT search (ms). */
  discoveryTimeoutMs?: number;
  /** Largest response accepted (bytes). */
  maxResponseBytes?: number;
  /** Where retries are reported. */
  logger?: Logger;
  /** Finds registry-services beyond the connected peers; the node's own DHT by default. */
  discover?: (signal: AbortSignal) => AsyncIterable<PeerId>;
}

/**
 * Takes an answer while it arrives and decodes it once it is complete (see
 * {@linkcode Requester.requestWith}).
 */
export interface AnswerReader<T> {
  /** Takes the next bytes of the answer; an error thrown fails the request on this peer. */
  push(bytes: Uint8Array): void;
  /** Decodes the complete answer; what it throws goes to the caller as is, never retried. */
  end(): T;
}

/** An answer as text (UTF-8, malformed bytes replaced), decoded as it arrives. */
function textAnswer(): AnswerReader<string> {
  const decoder = new TextDecoder();
  let text = "";
  return {
    push: (bytes) => void (text += decoder.decode(bytes, { stream: true })),
    end: () => text + decoder.decode(),
  };
}

class UnsupportedPeerError extends Error {}

/**
 * A peer to try, whether it is known to speak the protocol (then negotiation
 * is lazy), and where to dial it when it is not connected.
 */
interface Candidate {
  peer: PeerId;
  confirmed: boolean;
  addrs?: Multiaddr[];
}

/** A peer the client trusts to answer for the registry, and where to reach it. */
interface Trusted {
  peer: PeerId;
  addrs: Multiaddr[];
}

/** How often a client in use learns the registry's instances again (ms). */
const INSTANCES_REFRESH_MS = 60_000;

/**
 * Sends requests to whichever registry-service answers, remembering the
 * last one that did so warm requests reuse its connection.
 *
 * @example
 * ```ts ignore
 * const requester = new Requester({ node });
 * const answer = await requester.request("/get/0.1", new TextEncoder().encode("svc"));
 * ```
 */
export class Requester {
  readonly #node: RegistryNode;
  readonly #bootstraps: readonly Trusted[];
  /** Registry-service instances listed by a trusted peer, by peer id. */
  #instances = new Map<string, Trusted>();
  #instancesAt = -Infinity;
  /** Whether a bootstrap is known to be a registry-service: then nobody else is trusted. */
  #anchored = false;
  #answered = false;
  readonly #retry: RetryOptions;
  readonly #timeoutMs: number;
  readonly #discoveryMs: number;
  readonly #maxResponse: number;
  readonly #logger: Logger;
  readonly #discover: (signal: AbortSignal) => AsyncIterable<PeerId>;
  #last: PeerId | undefined;

  /** @param init Components and settings. */
  constructor(init: RequesterInit) {
    this.#node = init.node;
    this.#bootstraps = (init.bootstraps ?? []).map((b) => ({ peer: b.peerId, addrs: [b.addr] }));
    this.#retry = init.retry ?? DEFAULT_RETRY;
    this.#timeoutMs = init.requestTimeoutMs ?? 30_000;
    this.#discoveryMs = init.discoveryTimeoutMs ?? 10_000;
    this.#maxResponse = init.maxResponseBytes ?? 256 * 1024 * 1024;
    this.#logger = init.logger ?? silentLogger;
    this.#discover = init.discover ??
      ((signal) => findProviders(init.node, RENDEZVOUS, { signal }));
  }

  /**
   * Sends `payload` on `protocol` to a registry-service and returns its answer,
   * trying again on the retry schedule while none answers. Throws
   * {@linkcode RegistryUnreachableError} saying what the last round found (no
   * peers, peers that are not registry-services, or the last failure), also
   * when `signal` times out; {@linkcode RequestRefusedError} when one refuses.
   */
  async request(protocol: string, payload: Uint8Array, signal?: AbortSignal): Promise<string> {
    return await this.requestWith(protocol, payload, textAnswer, signal);
  }

  /**
   * {@linkcode Requester.request} with the answer given, as it arrives, to a
   * reader from `reader()` (a fresh one for each try); returns what the
   * reader of the answer that completed decodes it to.
   */
  async requestWith<T>(
    protocol: string,
    payload: Uint8Array,
    reader: () => AnswerReader<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    let last: RegistryUnreachableError | undefined;
    let answered: { peer: PeerId; answer: AnswerReader<T> };
    try {
      answered = await retry(async () => {
        try {
          return await this.#round(protocol, payload, reader, signal);
        } catch (err) {
          // A round cut short by our own signal says less than the one before it.
          if (err instanceof RegistryUnreachableError && (!signal?.aborted || !last)) last = err;
          throw err;
        }
      }, {
        ...this.#retry,
        signal,
        isRetriable: (err) => err instanceof RegistryUnreachableError,
        onRetry: (err, attempt, delay) =>
          this.#logger.info(
            `${(err as Error).message} (attempt ${attempt}/${this.#retry.attempts}); ` +
              `retrying in ${delay} ms`,
          ),
      });
    } catch (err) {
      if (
        signal?.aborted && signal.reason instanceof Error && signal.reason.name === "TimeoutError"
      ) {
        throw new RegistryUnreachableError(
          `${last?.message ?? `no registry-service answered ${protocol}`}; ` +
            "gave up: the time limit ran out",
          { cause: last ?? signal.reason },
        );
      }
      throw err;
    }
    const value = answered.answer.end();
    this.#answeredBy(answered.peer, protocol, typeof value === "string" ? value : undefined);
    return value;
  }

  /** One round: every candidate once. */
  async #round<T>(
    protocol: string,
    payload: Uint8Array,
    reader: () => AnswerReader<T>,
    signal?: AbortSignal,
  ): Promise<{ peer: PeerId; answer: AnswerReader<T> }> {
    const tried = new Set<string>();
    const unsupported: string[] = [];
    let lastError: unknown;
    for await (const candidate of this.#candidates(protocol, unsupported, signal)) {
      const key = candidate.peer.toString();
      if (tried.has(key)) continue;
      tried.add(key);
      try {
        const answer = await this.#requestPeer(candidate, protocol, payload, reader, signal);
        return { peer: candidate.peer, answer };
      } catch (err) {
        signal?.throwIfAborted();
        if (err instanceof RequestRefusedError) throw err;
        if (err instanceof UnsupportedPeerError) unsupported.push(key);
        else lastError = err;
        if (this.#last?.equals(candidate.peer)) this.#last = undefined;
      }
    }
    if (lastError !== undefined) {
      throw new RegistryUnreachableError(
        `failed to reach a registry-service: ${(lastError as Error).message ?? lastError}`,
        { cause: lastError },
      );
    }
    if (unsupported.length > 0) {
      throw new RegistryUnreachableError(
        `no registry-service among the peers: ${unsupported.length} peer(s) reached ` +
          `(${unsupported.join(", ")}), none speaks ${protocol}, and the DHT found no other`,
      );
    }
    throw new RegistryUnreachableError(
      `no registry-service found: no peer connected, and the DHT found none`,
    );
  }

  /**
   * Opens a stream on `protocol` to the first registry-service that takes
   * it, sends `payload` and closes the write side; reading the answer (a
   * long one, say a watch) is the caller's. One round over the candidates.
   * Throws {@linkcode RegistryUnreachableError} when none takes it.
   */
  async open(protocol: string, payload: Uint8Array, signal?: AbortSignal): Promise<Stream> {
    let lastError: unknown;
    const tried = new Set<string>();
    const unsupported: string[] = [];
    for await (const candidate of this.#candidates(protocol, unsupported, signal)) {
      const { peer } = candidate;
      if (tried.has(peer.toString())) continue;
      tried.add(peer.toString());
      // The time limit is for opening only: libp2p keeps the signal for the stream's lifetime.
      const timeout = new AbortController();
      const timer = setTimeout(
        () => timeout.abort(new DOMException("opening the stream timed out", "TimeoutError")),
        this.#timeoutMs,
      );
      const combined = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
      try {
        const connection = await this.#connect(candidate, combined);
        const stream = await connection.newStream(protocol, {
          signal: combined,
          maxOutboundStreams: 1_024,
        });
        try {
          stream.send(payload);
          await stream.close({ signal: combined });
        } catch (err) {
          stream.abort(err as Error);
          throw err;
        }
        // A stream that lasts (a watch) will want another instance when its own is gone.
        this.#answeredBy(peer, protocol, undefined, true);
        return stream;
      } catch (err) {
        signal?.throwIfAborted();
        if (isUnsupported(err)) unsupported.push(peer.toString());
        lastError = err;
        if (this.#last?.equals(peer)) this.#last = undefined;
      } finally {
        clearTimeout(timer);
      }
    }
    const reason = lastError instanceof Error ? `: ${lastError.message}` : ": none found";
    throw new RegistryUnreachableError(`no registry-service took ${protocol}${reason}`, {
      cause: lastError,
    });
  }

  /**
   * Candidate peers: the last that answered, then, with bootstraps, they
   * and the instances they listed (those known to speak the protocol first);
   * without, or when no bootstrap is a registry-service, connected peers and
   * DHT providers. Peers reached that do not speak the protocol are added to
   * `unsupported` by whoever finds out.
   */
  async *#candidates(
    protocol: string,
    unsupported: string[],
    signal?: AbortSignal,
  ): AsyncGenerator<Candidate> {
    if (
      this.#last && this.#node.getConnections(this.#last).length > 0 &&
      (!this.#anchored || this.#isTrusted(this.#last))
    ) {
      yield { peer: this.#last, confirmed: true };
    }
    if (this.#bootstraps.length === 0) {
      yield* this.#discovered(protocol, signal);
      return;
    }
    const trusted = [
      ...this.#bootstraps,
      ...[...this.#instances.values()].filter((i) => !this.#isBootstrap(i.peer)),
    ];
    const unconfirmed: Candidate[] = [];
    for (const { peer, addrs } of trusted) {
      const protocols = this.#node.getConnections(peer).length > 0
        ? await this.#protocolsOf(peer)
        : undefined;
      if (protocols?.includes(GET_PROTOCOL) && this.#isBootstrap(peer)) this.#anchored = true;
      if (protocols === undefined) unconfirmed.push({ peer, confirmed: false, addrs });
      else if (protocols.includes(protocol)) yield { peer, confirmed: true };
      else unsupported.push(peer.toString());
    }
    // Not connected, or identify has not finished: dialled at the addresses we know.
    yield* unconfirmed;
    // Bootstraps that are no registry-services (plain DHT nodes) vouch for nobody: then the
    // registry is found as without bootstraps. One that is a registry-service rules that out.
    if (
      !this.#anchored && this.#bootstraps.every((b) => unsupported.includes(b.peer.toString()))
    ) {
      yield* this.#discovered(protocol, signal);
    }
  }

  /** Any peer that speaks the protocol: connected peers, then DHT providers of the rendezvous. */
  async *#discovered(protocol: string, signal?: AbortSignal): AsyncGenerator<Candidate> {
    const unknown: PeerId[] = [];
    for (const peer of this.#node.getPeers()) {
      const protocols = await this.#protocolsOf(peer);
      if (protocols === undefined) unknown.push(peer);
      else if (protocols.includes(protocol)) yield { peer, confirmed: true };
    }
    // Identify may not have finished yet; a peer without the protocol fails negotiation quickly.
    for (const peer of unknown) yield { peer, confirmed: false };
    const search = AbortSignal.any([
      AbortSignal.timeout(this.#discoveryMs),
      ...(signal ? [signal] : []),
    ]);
    try {
      for await (const peer of this.#discover(search)) {
        yield { peer, confirmed: false };
      }
    } catch (err) {
      signal?.throwIfAborted();
      this.#logger.warn(`DHT search for registry-service failed: ${(err as Error).message}`);
    }
  }

  #isBootstrap(peer: PeerId): boolean {
    return this.#bootstraps.some((b) => b.peer.equals(peer));
  }

  #isTrusted(peer: PeerId): boolean {
    return this.#isBootstrap(peer) || this.#instances.has(peer.toString());
  }

  /**
   * Remembers who answered. A client used again learns the registry's
   * instances from a trusted peer (in the background, at most once a
   * minute), to fall back on when its bootstraps are gone; a client used
   * once never needs them, unless what it opened lasts. A `/members/0.1`
   * answer of a trusted peer is taken as is.
   */
  #answeredBy(peer: PeerId, protocol: string, answer?: string, lasting = false): void {
    this.#last = peer;
    if (this.#isBootstrap(peer)) this.#anchored = true;
    const again = this.#answered || lasting;
    this.#answered = true;
    if (!this.#isTrusted(peer)) return;
    if (protocol === MEMBERS_PROTOCOL && answer !== undefined) {
      try {
        this.#takeInstances(answer);
      } catch {
        // The caller decodes the answer too, and is told.
      }
      return;
    }
    if (!again || performance.now() - this.#instancesAt < INSTANCES_REFRESH_MS) return;
    this.#instancesAt = performance.now();
    this.#requestPeer(
      { peer, confirmed: false },
      MEMBERS_PROTOCOL,
      new Uint8Array(),
      textAnswer,
      AbortSignal.timeout(this.#timeoutMs),
    ).then((answer) => this.#takeInstances(answer.end())).catch((err) =>
      this.#logger.debug(`could not list the registry's instances: ${(err as Error).message}`)
    );
  }

  #takeInstances(answer: string): void {
    const instances = new Map<string, Trusted>();
    for (const record of decodeMembersResponse(answer)) {
      const id = peerIdFromString(record.PeerId);
      if (id.equals(this.#node.peerId)) continue;
      instances.set(id.toString(), { peer: id, addrs: record.Addrs.map((a) => multiaddr(a)) });
    }
    this.#instances = instances;
    this.#instancesAt = performance.now();
  }

  /** An open connection to the candidate, else a new one (at its known addresses, if any). */
  async #connect(candidate: Candidate, signal: AbortSignal): Promise<Connection> {
    const { peer, addrs } = candidate;
    return this.#node.getConnections(peer).find((c) => c.status === "open") ??
      await this.#node.dial(addrs?.length ? addrs : peer, { signal });
  }

  async #protocolsOf(peer: PeerId): Promise<string[] | undefined> {
    try {
      const record = await this.#node.peerStore.get(peer);
      return record.protocols.length > 0 ? record.protocols : undefined;
    } catch {
      return undefined;
    }
  }

  async #requestPeer<T>(
    { peer, confirmed, addrs }: Candidate,
    protocol: string,
    payload: Uint8Array,
    reader: () => AnswerReader<T>,
    signal?: AbortSignal,
  ): Promise<AnswerReader<T>> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    // An open connection is reused as is; dial() only connects when there is none.
    const connection = await this.#connect({ peer, confirmed, addrs }, combined);
    // A peer known to speak the protocol gets negotiation, request and close
    // in one write (one round trip); others are asked first, so a peer without
    // the protocol is told apart from one that refuses the request.
    const muxer = confirmed ? connectionMuxer(connection) : undefined;
    const stream = muxer
      ? await muxer.createStream({ signal: combined })
      : await connection.newStream(protocol, { signal: combined, maxOutboundStreams: 1_024 })
        .catch((err) => {
          throw isUnsupported(err)
            ? new UnsupportedPeerError(`${peer} does not speak ${protocol}`)
            : err;
        });
    let responded = false;
    const answer = reader();
    // With lazy negotiation the answer starts with the peer's echo of it.
    const echo = muxer ? echoStripper(protocol, (bytes) => answer.push(bytes)) : undefined;
    try {
      // Reading starts first, so every event of the answer is seen (an answer is complete only
      // when the peer closes; a connection that goes first fails the read).
      const reading = readInto(stream, (bytes) => (echo ?? answer).push(bytes), {
        maxBytes: this.#maxResponse,
        signal: combined,
      });
      reading.catch(() => {}); // awaited below; a failed send aborts the stream first
      await sendAndClose(
        stream,
        muxer ? concatBytes([selectionPrefix(protocol), payload]) : payload,
        { signal: combined },
      );
      await reading;
      responded = true;
      echo?.end();
      return answer;
    } catch (err) {
      stream.abort(err as Error);
      if (isUnsupported(err)) throw new UnsupportedPeerError(`${peer} does not speak ${protocol}`);
      if (!responded && isReset(err) && !timeout.aborted) {
        throw new RequestRefusedError(
          `registry-service ${peer} refused the ${protocol} request (it reset the stream; see its log)`,
          { cause: err },
        );
      }
      throw err;
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name} ${err.message}` : String(err);
}

function isUnsupported(err: unknown): boolean {
  return /UnsupportedProtocol|protocol selection failed|not supported/i.test(errorText(err));
}

function isReset(err: unknown): boolean {
  return /StreamReset|reset/i.test(errorText(err));
}
