/**
 * Bootstrap peers: parsing, the initial connection with exponential backoff,
 * and re-dialling bootstraps whose connection is lost.
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
 * import { parseBootstraps } from "./bootstrap.ts";
 * const addr = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8";
 * console.assert(parseBootstraps([addr, addr]).length === 1);
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
 * import { bootstrapAddresses } from "./bootstrap.ts";
 * console.assert(bootstrapAddresses([], " /ip4/a \n /ip4/b ").length === 2);
 * ```
 */
export function bootstrapAddresses(flagValues: readonly string[], envValue?: string): string[] {
  if (flagValues.length > 0) return [...flagValues];
  return (envValue ?? "").split(/\s+/).filter((s) => s !== "");
}

/** Backoff settings for {@linkcode connectBootstraps}. */
export interface ConnectBootstrapsOptions {
  /** Pauses between rounds, in ms (the original: 2 s, 4 s, 8 s, 16 s: five rounds). */
  backoffMs?: readonly number[];
  /** Where progress is reported. */
  logger?: Logger;
  /** Stops the attempts. */
  signal?: AbortSignal;
}

/** The original's pauses between bootstrap rounds. */
export const BOOTSTRAP_BACKOFF_MS: readonly number[] = [2_000, 4_000, 8_000, 16_000];

/**
 * Connects to all bootstraps in parallel; if none connects, retries after
 * each pause in `backoffMs`, then throws {@linkcode BootstrapConnectError}
 * ("failed to connect to any bootstrap"). When every failure is a failed
 * handshake (the TCP connection opened, then encryption failed), the
 * pre-shared key almost certainly differs: that is reported at once rather
 * than retried.
 *
 * @returns the bootstraps that connected.
 *
 * @example
 * ```ts ignore
 * const connected = await connectBootstraps(node, parseBootstraps(addrs));
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
  const backoff = options.backoffMs ?? BOOTSTRAP_BACKOFF_MS;
  let lastErrors: unknown[] = [];
  for (let round = 0; round <= backoff.length; round++) {
    const results = await Promise.allSettled(
      bootstraps.map((b) => node.dial(b.addr, { signal: options.signal })),
    );
    const connected = bootstraps.filter((_, i) => results[i].status === "fulfilled");
    if (connected.length > 0) return connected;
    lastErrors = results.map((r) => (r as PromiseRejectedResult).reason);
    options.signal?.throwIfAborted();
    if (lastErrors.every(isHandshakeFailure)) {
      throw new BootstrapConnectError(
        "failed to connect to any bootstrap: the connection opened but the handshake failed; " +
          "the pre-shared key (-psk / P2P_PSK) most likely differs from the network's",
        { cause: lastErrors[0] },
      );
    }
    if (round < backoff.length) {
      options.logger?.warn(
        `no bootstrap reachable (${describe(lastErrors[0])}); retrying in ${backoff[round]} ms`,
      );
      await abortableSleep(backoff[round], options.signal);
    }
  }
  throw new BootstrapConnectError(
    `failed to connect to any bootstrap (${describe(lastErrors[0])})`,
    { cause: lastErrors[0] },
  );
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A refused or unreachable TCP connection is not a handshake failure, nor is
 * one the remote ended before its half of the PSK handshake; an error after
 * that (noise, stream reset) is.
 */
function isHandshakeFailure(err: unknown): boolean {
  const seen = new Set<unknown>();
  const texts: string[] = [];
  let current: unknown = err;
  while (current instanceof Error && !seen.has(current)) {
    // Refused before the key could matter: worth retrying, and not the key's fault.
    if (current instanceof PskHandshakeRefusedError) return false;
    seen.add(current);
    texts.push(`${current.name} ${current.message} ${(current as { code?: string }).code ?? ""}`);
    if (current instanceof AggregateError) current = current.errors[0];
    else current = current.cause;
  }
  const text = texts.join(" ");
  if (/ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ConnectionRefused|refused/i.test(text)) {
    return false;
  }
  return /handshake|decrypt|encrypt|noise|pnet|reset|ECONNRESET|unexpected end|EncryptionFailed|InvalidCrypto|UnexpectedEOF|ended|closed/i
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
 * backoff, until it connects again or {@linkcode BootstrapKeeper.stop} is
 * called.
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
      for (let delay = initial; !controller.signal.aborted; delay = Math.min(delay * 2, max)) {
        await abortableSleep(delay, controller.signal);
        try {
          // libp2p may have reconnected by itself (peers it keeps alive); that still needs a re-advertise.
          if (node.getConnections(bootstrap.peerId).length === 0) {
            await node.dial(bootstrap.addr, { signal: controller.signal });
          }
          options.logger?.info(`reconnected to bootstrap ${bootstrap.addr.toString()}`);
          options.onReconnect?.(bootstrap);
          return;
        } catch (err) {
          options.logger?.warn(
            `re-dial of bootstrap ${bootstrap.addr.toString()} failed (${describe(err)}); ` +
              `next try in ${Math.min(delay * 2, max)} ms`,
          );
        }
      }
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
