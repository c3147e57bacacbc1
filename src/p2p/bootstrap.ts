/**
 * Bootstrap peers: parsing, the initial connection (retried with the one
 * retry helper, its failures explained), and re-dialling bootstraps whose
 * connection is lost.
 *
 * @module
 */
import { multiaddr } from "@multiformats/multiaddr";
import type { Multiaddr, PeerId } from "./libp2p_types.ts";
import { PskHandshakeRefusedError } from "./_pnet_early_close.ts";
import { peerIdFromString } from "@libp2p/peer-id";
import type { RegistryNode } from "./node.ts";
import type { Logger } from "../log/logger.ts";
import { abortableSleep } from "../_sleep.ts";
import { type BackoffOptions, retry } from "../_retry.ts";

/**
 * Thrown for a bootstrap address that is not a full `/ip4/../tcp/../p2p/<id>` multiaddr.
 *
 * @example
 * ```ts ignore
 * import { InvalidBootstrapError, parseBootstraps } from "@physarum/registry";
 * try {
 *   parseBootstraps(["/ip4/127.0.0.1/tcp/4001"]);
 * } catch (err) {
 *   if (err instanceof InvalidBootstrapError) console.log(err.address);
 * }
 * ```
 */
export class InvalidBootstrapError extends Error {
  /** The address as given. */
  readonly address: string;
  /**
   * Creates the error.
   *
   * @param address The address as given.
   * @param reason Why it was refused.
   * @param options Standard error options (`cause`).
   */
  constructor(address: string, reason: string, options?: ErrorOptions) {
    super(
      `invalid bootstrap "${address}": ${reason} (expected /ip4/<ip>/tcp/<port>/p2p/<peer id>)`,
      options,
    );
    this.name = "InvalidBootstrapError";
    this.address = address;
  }
}

/**
 * Thrown when no bootstrap could be connected.
 *
 * @example
 * ```ts ignore
 * import { BootstrapConnectError, connectRegistry } from "@physarum/registry";
 * try {
 *   await connectRegistry({ bootstraps: [addr], psk: "secret" });
 * } catch (err) {
 *   if (err instanceof BootstrapConnectError) console.log(err.message);
 * }
 * ```
 */
export class BootstrapConnectError extends Error {
  /**
   * Creates the error.
   *
   * @param message What failed, with the likely cause.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BootstrapConnectError";
  }
}

/** A parsed bootstrap: its address and the peer it names. */
export interface Bootstrap {
  /** Full multiaddr including `/p2p/<peer id>`. */
  addr: Multiaddr;
  /** The peer id from the `/p2p/` part. */
  peerId: PeerId;
}

/**
 * Parses bootstrap multiaddrs, dropping duplicates. Each must be a full
 * multiaddr ending in `/p2p/<peer id>`; a malformed one is an
 * {@linkcode InvalidBootstrapError} naming it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseBootstraps } from "./bootstrap.ts";
 * const addr = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8";
 * assert.ok(parseBootstraps([addr, addr]).length === 1);
 * ```
 */
export function parseBootstraps(addresses: readonly string[]): Bootstrap[] {
  const seen = new Set<string>();
  const result: Bootstrap[] = [];
  for (const address of addresses) {
    const text = address.trim();
    if (text === "" || seen.has(text)) continue;
    seen.add(text);
    let addr: Multiaddr;
    try {
      addr = multiaddr(text);
    } catch (cause) {
      throw new InvalidBootstrapError(address, "not a multiaddr", { cause });
    }
    const components = addr.getComponents();
    const p2p = components.find((c) => c.name === "p2p");
    if (!p2p?.value) throw new InvalidBootstrapError(address, "no /p2p/<peer id> part");
    if (!components.some((c) => c.name === "tcp")) {
      throw new InvalidBootstrapError(address, "no /tcp/<port> part");
    }
    let peerId: PeerId;
    try {
      peerId = peerIdFromString(p2p.value);
    } catch (cause) {
      throw new InvalidBootstrapError(address, `"${p2p.value}" is not a peer id`, { cause });
    }
    result.push({ addr, peerId });
  }
  return result;
}

/**
 * Bootstrap addresses from flags, else from the env value
 * (`P2P_BOOTSTRAPS`, whitespace-separated).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bootstrapAddresses } from "./bootstrap.ts";
 * assert.ok(bootstrapAddresses([], " /ip4/a \n /ip4/b ").length === 2);
 * ```
 */
export function bootstrapAddresses(flagValues: readonly string[], envValue?: string): string[] {
  if (flagValues.length > 0) return [...flagValues];
  return (envValue ?? "").split(/\s+/).filter((s) => s !== "");
}

/** Settings for {@linkcode connectBootstraps}. */
export interface ConnectBootstrapsOptions {
  /** Rounds and pauses (default {@linkcode BOOTSTRAP_RETRY}). */
  retry?: Pick<BackoffOptions, "attempts" | "initialDelayMs" | "maxDelayMs" | "jitter">;
  /** Whether this node has a pre-shared key: failed handshakes are then blamed on a differing key. */
  privateNetwork?: boolean;
  /** Where progress is reported. */
  logger?: Logger;
  /**
   * Stops the attempts. When it ends by a timeout (`AbortSignal.timeout`),
   * the error says what the last round found, not just that time ran out.
   */
  signal?: AbortSignal;
}

/** The default schedule: five rounds, pauses from 1 s doubling to 8 s (about 15 s in all). */
export const BOOTSTRAP_RETRY: Readonly<
  Pick<BackoffOptions, "attempts" | "initialDelayMs" | "maxDelayMs">
> = { attempts: 5, initialDelayMs: 1_000, maxDelayMs: 8_000 };

/**
 * Connects to all bootstraps in parallel; if none connects, tries again on
 * the {@linkcode retry} schedule, then throws {@linkcode BootstrapConnectError}
 * saying what happened with each bootstrap: connection refused (with the
 * address), peer id mismatch (expected and actual), the pre-shared key
 * refused or differing. Failures another round cannot fix (a wrong peer id
 * or key) are reported at once.
 *
 * @returns the bootstraps that connected.
 *
 * @example
 * ```ts ignore
 * const connected = await connectBootstraps(node, parseBootstraps(addrs), {
 *   privateNetwork: true,
 *   signal: AbortSignal.timeout(10_000),
 * });
 * ```
 */
export async function connectBootstraps(
  node: RegistryNode,
  bootstraps: readonly Bootstrap[],
  options: ConnectBootstrapsOptions = {},
): Promise<Bootstrap[]> {
  if (bootstraps.length === 0) {
    throw new BootstrapConnectError("failed to connect to any bootstrap: none given");
  }
  const { signal } = options;
  // The last round that ran to its end: one cut short by our own signal tells less.
  let last: RoundFailure | undefined;
  try {
    return await retry(async () => {
      const results = await Promise.allSettled(
        bootstraps.map((b) => node.dial(b.addr, { signal })),
      );
      const connected = bootstraps.filter((_, i) => results[i].status === "fulfilled");
      if (connected.length > 0) return connected;
      const round = new RoundFailure(
        bootstraps.map((b, i) =>
          explainDialFailure(b, (results[i] as PromiseRejectedResult).reason, options)
        ),
        { cause: (results[0] as PromiseRejectedResult).reason },
      );
      if (!signal?.aborted) last = round;
      throw round;
    }, {
      ...BOOTSTRAP_RETRY,
      ...options.retry,
      signal,
      isRetriable: (err) => err instanceof RoundFailure && err.retriable,
      onRetry: (err, attempt, delay) =>
        options.logger?.info(
          `${(err as Error).message} (round ${attempt}); retrying in ${delay} ms`,
        ),
    });
  } catch (err) {
    if (!(signal?.aborted && isTimeout(signal.reason))) throw err;
    // No round ended by itself: ask each bootstrap directly what it runs, so that a peer that
    // stays silent reads the same as one that closes at once.
    const round = last ?? new RoundFailure(
      await Promise.all(bootstraps.map(async (b) => explainSilence(b, await probe(b), options))),
      { cause: signal.reason },
    );
    if (!round.retriable) throw new BootstrapConnectError(round.message, { cause: round });
    throw new BootstrapConnectError(`${round.message}; gave up: the time limit ran out`, {
      cause: round,
    });
  }
}

/** What dialling one bootstrap found. */
interface Finding {
  /** In words, naming the address. */
  message: string;
  /** Whether another round may help. */
  retriable: boolean;
}

/** A round in which no bootstrap connected. */
class RoundFailure extends BootstrapConnectError {
  /** Whether another round may help (for one bootstrap at least). */
  readonly retriable: boolean;

  constructor(findings: Finding[], options?: ErrorOptions) {
    super(
      `failed to connect to any bootstrap: ${findings.map((f) => f.message).join("; ")}`,
      options,
    );
    this.retriable = findings.some((f) => f.retriable);
  }
}

function isTimeout(reason: unknown): boolean {
  return reason instanceof Error && reason.name === "TimeoutError";
}

/** The messages for what a bootstrap did: the same situation always reads the same. */
const FINDINGS = {
  refused: (where: string): Finding => ({
    message: `connection refused by ${where} (nothing listens there; is the registry-service ` +
      "running?)",
    retriable: true,
  }),
  pskRefused: (where: string): Finding => ({
    message: `${where} did not complete the pre-shared key handshake: it closed the connection ` +
      "or did not answer (it runs without a pre-shared key, or is too busy)",
    retriable: true,
  }),
  pskDiffers: (where: string): Finding => ({
    message: `the pre-shared key differs from the one ${where} uses (check -psk / P2P_PSK)`,
    retriable: false,
  }),
  privateNetwork: (where: string): Finding => ({
    message: `${where} runs a private network: give its pre-shared key (-psk / P2P_PSK)`,
    retriable: false,
  }),
  noAnswer: (where: string): Finding => ({
    message: `no answer from ${where} in time`,
    retriable: true,
  }),
};

/** What a bootstrap does on a bare TCP connection (see {@linkcode probe}). */
type ProbeResult = "nonce" | "silent" | "refused" | "unreachable";

/**
 * Connects to a bootstrap without libp2p and waits briefly: a peer with a
 * pre-shared key sends its 24-byte nonce at once, a peer without one waits
 * for the dialer to speak first. Used only when the dials told nothing
 * before the time limit.
 */
async function probe(bootstrap: Bootstrap, timeoutMs = 300): Promise<ProbeResult> {
  const [hostname, port] = hostPortParts(bootstrap.addr);
  const deadline = AbortSignal.timeout(timeoutMs);
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Deno.connect({ hostname, port, signal: deadline });
    const buffer = new Uint8Array(24);
    let got = 0;
    const reading = (async () => {
      while (got < buffer.length) {
        const n = await conn!.read(buffer.subarray(got));
        if (n === null) return;
        got += n;
      }
    })();
    await Promise.race([reading, abortableSleep(timeoutMs, deadline).catch(() => {})]);
    return got >= buffer.length ? "nonce" : "silent";
  } catch (err) {
    return err instanceof Deno.errors.ConnectionRefused ? "refused" : "unreachable";
  } finally {
    try {
      conn?.close();
    } catch {
      // Closed by the remote meanwhile.
    }
  }
}

/** What a bootstrap that did not answer in time most likely is, from {@linkcode probe}. */
function explainSilence(
  bootstrap: Bootstrap,
  probed: ProbeResult,
  options: ConnectBootstrapsOptions,
): Finding {
  const where = hostPort(bootstrap.addr);
  if (probed === "refused") return FINDINGS.refused(where);
  if (probed === "nonce") {
    return options.privateNetwork ? FINDINGS.pskDiffers(where) : FINDINGS.privateNetwork(where);
  }
  if (probed === "silent" && options.privateNetwork) return FINDINGS.pskRefused(where);
  return FINDINGS.noAnswer(where);
}

/** What a failed dial of a bootstrap means, in words, and whether another round may help. */
function explainDialFailure(
  bootstrap: Bootstrap,
  err: unknown,
  options: ConnectBootstrapsOptions,
): Finding {
  const where = hostPort(bootstrap.addr);
  const chain = errorChain(err);
  const text = chain.map((e) => `${e.name} ${e.message} ${(e as { code?: string }).code ?? ""}`)
    .join(" ");
  const mismatch = /identity key (\S+) does not match expected remote identity key (\S+)/.exec(
    text,
  );
  if (mismatch) {
    return {
      message: `peer id mismatch at ${where}: expected ${mismatch[2]}, the peer there is ` +
        `${mismatch[1]} (the bootstrap address is out of date)`,
      retriable: false,
    };
  }
  if (/ECONNREFUSED|ConnectionRefused|connection refused/i.test(text)) {
    return FINDINGS.refused(where);
  }
  // The remote ended the connection, or never answered, before its half of the PSK handshake
  // (a remote without a key does either, at random).
  if (chain.some((e) => e instanceof PskHandshakeRefusedError)) return FINDINGS.pskRefused(where);
  if (/EHOSTUNREACH|ENETUNREACH|ETIMEDOUT/.test(text)) {
    return { message: `${where} is unreachable (${describe(err)})`, retriable: true };
  }
  // After pnet's nonces (which any two keys exchange), a wrong key garbles everything.
  if (isHandshakeFailure(text)) {
    return options.privateNetwork ? FINDINGS.pskDiffers(where) : FINDINGS.privateNetwork(where);
  }
  if (options.signal?.aborted) return FINDINGS.noAnswer(where);
  return { message: `cannot connect to ${where} (${describe(err)})`, retriable: true };
}

/** `ip:port` of a bootstrap, for messages. */
function hostPort(addr: Multiaddr): string {
  return hostPortParts(addr).join(":");
}

function hostPortParts(addr: Multiaddr): [string, number] {
  const parts = addr.getComponents();
  const host = parts.find((c) => /^(ip4|ip6|dns4?|dns6)$/.test(c.name))?.value ?? "";
  return [host, Number(parts.find((c) => c.name === "tcp")?.value)];
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The error, its causes, and the first of each AggregateError, outermost first. */
function errorChain(err: unknown): Error[] {
  const chain: Error[] = [];
  let current: unknown = err;
  while (current instanceof Error && !chain.includes(current)) {
    chain.push(current);
    current = current instanceof AggregateError ? current.errors[0] : current.cause;
  }
  return chain;
}

/** An error after the connection opened: encryption or stream negotiation failed. */
function isHandshakeFailure(text: string): boolean {
  return /EncryptionFailedError|handshake|decrypt|encrypt|noise|pnet|reset|ECONNRESET|unexpected end|EncryptionFailed|InvalidCrypto|UnexpectedEOF|ended|closed|Message length|newline|varint/i
    .test(text);
}

/** Options for {@linkcode keepBootstrapsConnected}. */
export interface KeepConnectedOptions {
  /** Called after a lost bootstrap was connected again (re-advertise here). */
  onReconnect?: (bootstrap: Bootstrap) => void;
  /** First pause before re-dialling, doubled up to `maxBackoffMs`. */
  initialBackoffMs?: number;
  /** Longest pause between re-dials. */
  maxBackoffMs?: number;
  /** Where progress is reported. */
  logger?: Logger;
}

/** Handle returned by {@linkcode keepBootstrapsConnected}. */
export interface BootstrapKeeper {
  /** Stops watching and cancels pending re-dials. */
  stop(): void;
}

/**
 * Re-dials a bootstrap when its connection is lost, with exponential
 * backoff (the one retry helper), until it connects again or
 * {@linkcode BootstrapKeeper.stop} is called.
 *
 * @example
 * ```ts ignore
 * const keeper = keepBootstrapsConnected(node, bootstraps, { onReconnect: () => advertise() });
 * keeper.stop();
 * ```
 */
export function keepBootstrapsConnected(
  node: RegistryNode,
  bootstraps: readonly Bootstrap[],
  options: KeepConnectedOptions = {},
): BootstrapKeeper {
  const controller = new AbortController();
  const pending = new Set<string>();
  const initial = options.initialBackoffMs ?? 1_000;
  const max = options.maxBackoffMs ?? 30_000;

  const redial = async (bootstrap: Bootstrap) => {
    const key = bootstrap.peerId.toString();
    if (pending.has(key)) return;
    pending.add(key);
    try {
      // The first pause lets a restarting bootstrap come back before the first re-dial.
      await abortableSleep(initial, controller.signal);
      await retry(async () => {
        // libp2p may have reconnected by itself (peers it keeps alive); that still needs a re-advertise.
        if (node.getConnections(bootstrap.peerId).length === 0) {
          await node.dial(bootstrap.addr, { signal: controller.signal });
        }
      }, {
        initialDelayMs: initial * 2,
        maxDelayMs: max,
        signal: controller.signal,
        onRetry: (err, _attempt, delay) =>
          options.logger?.warn(
            `re-dial of bootstrap ${bootstrap.addr.toString()} failed (${describe(err)}); ` +
              `next try in ${delay} ms`,
          ),
      });
      options.logger?.info(`reconnected to bootstrap ${bootstrap.addr.toString()}`);
      options.onReconnect?.(bootstrap);
    } catch {
      // Aborted by stop().
    } finally {
      pending.delete(key);
    }
  };

  const onDisconnect = (event: CustomEvent<PeerId>) => {
    const bootstrap = bootstraps.find((b) => b.peerId.equals(event.detail));
    if (!bootstrap || controller.signal.aborted) return;
    options.logger?.warn(`lost connection to bootstrap ${bootstrap.addr.toString()}`);
    void redial(bootstrap);
  };
  node.addEventListener("peer:disconnect", onDisconnect);
  return {
    stop() {
      controller.abort();
      node.removeEventListener("peer:disconnect", onDisconnect);
    },
  };
}
