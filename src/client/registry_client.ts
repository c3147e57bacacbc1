/**
 * The registry client: add, get, list and delete services over the private
 * libp2p network, on a node you run or on a temporary one.
 *
 * @module
 */
import type { RegistryNode } from "../p2p/node.ts";
import { createRegistryNode } from "../p2p/node.ts";
import { loadOrCreateIdentity } from "../p2p/identity.ts";
import { type Bootstrap, connectBootstraps, parseBootstraps } from "../p2p/bootstrap.ts";
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
} from "../protocol/ids.ts";
import {
  decodeChownResponse,
  decodeDeleteResponse,
  decodeGetResponse,
  decodeHistoryResponse,
  decodeJoinResponse,
  decodeMembersResponse,
  decodeRollbackResponse,
  encodeAddRequest,
  encodeChownRequest,
  encodeDeleteResponse,
  encodeJoinRequest,
  encodeMemberAddRequest,
  encodeRollbackRequest,
  type HistoryVersion,
  type InstanceRecord,
  isErrorAnswer,
  type JoinRequest,
  type JoinResponse,
  type MemberAddRequest,
  validatePeerId,
  validateServiceName,
} from "../protocol/messages.ts";
import {
  parseServiceInfo,
  type ServiceInfo,
  validateServiceInfo,
} from "../protocol/service_info.ts";
import { ListAnswerDecoder } from "../protocol/list_decoder.ts";
import { type Logger, silentLogger } from "../log/logger.ts";
import type { ComponentLogger, PeerId, PrivateKey } from "../p2p/libp2p_types.ts";
import { Requester, type RetryOptions } from "./requester.ts";
import { lazyDhtDiscovery } from "./_dht_discovery.ts";
import { RequestRefusedError, ServiceNotFoundError, WriteRefusedError } from "./errors.ts";
import { type ServiceChange, watchChanges, type WatchOptions } from "./watch.ts";

export type { ServiceChange, WatchOptions } from "./watch.ts";

/** Components and settings for {@linkcode RegistryClient}. */
export interface RegistryClientInit {
  /** A started node on the registry's network (the client does not stop it). */
  node: RegistryNode;
  /**
   * Bootstrap peers, dialled at their address when not connected. With
   * them, only they and the registry-service instances they list are asked
   * (unless none of them is a registry-service); without, any connected
   * peer or DHT provider that speaks the protocol is: any holder of the PSK.
   */
  bootstraps?: readonly Bootstrap[];
  /** Retry schedule (default: 5 rounds, 1 s to 8 s). */
  retry?: RetryOptions;
  /** Where retries and skipped (invalid) list entries are reported. */
  logger?: Logger;
  /**
   * Finds registry-services beyond the connected peers when there are no
   * bootstraps to ask (or none is a registry-service); by default the node's
   * own DHT.
   */
  discover?: (signal: AbortSignal) => AsyncIterable<PeerId>;
}

/**
 * What {@linkcode RegistryClient.listDetailed} returns: the entries that
 * parse, and the reason each other one does not.
 */
export interface ServiceListing {
  /** Valid entries, by name. */
  services: Record<string, ServiceInfo>;
  /**
   * Entries that are not a valid ServiceInfo (written by an older or
   * foreign instance), by name: why each was skipped.
   */
  invalid: Record<string, string>;
}

/**
 * Registry operations on a node the caller runs.
 *
 * @example
 * ```ts ignore
 * import { createRegistryNode, parseBootstraps, RegistryClient } from "@physarum/registry";
 * const node = await createRegistryNode({ psk });
 * const client = new RegistryClient({ node, bootstraps: parseBootstraps([addr]) });
 * const info = await client.get("my-service");
 * ```
 */
export class RegistryClient {
  readonly #requester: Requester;
  readonly #logger: Logger;

  /**
   * Creates a client on `init.node`; nothing is sent until the first call.
   *
   * @param init Components and settings.
   */
  constructor(init: RegistryClientInit) {
    this.#requester = new Requester({
      node: init.node,
      bootstraps: init.bootstraps,
      retry: init.retry,
      logger: init.logger,
      discover: init.discover,
    });
    this.#logger = init.logger ?? silentLogger;
  }

  /**
   * Registers (or replaces) `name`. Returns the service's answer,
   * `Added {<name>: <InfoStr>}`; throws {@linkcode WriteRefusedError} when
   * the service refuses the write (not the owner, invalid entry).
   */
  async add(name: string, info: ServiceInfo, signal?: AbortSignal): Promise<string> {
    const infoStr = JSON.stringify(validateServiceInfo(info));
    return await this.#write(
      ADD_PROTOCOL,
      encodeAddRequest({ Name: validateServiceName(name), InfoStr: infoStr }),
      signal,
    );
  }

  /** Looks up `name`; throws {@linkcode ServiceNotFoundError} when it is not registered. */
  async get(name: string, signal?: AbortSignal): Promise<ServiceInfo> {
    const res = decodeGetResponse(
      await this.#text(GET_PROTOCOL, validateServiceName(name), signal),
    );
    if (!res.LookupOk) throw new ServiceNotFoundError(name);
    return parseServiceInfo(res.InfoStr);
  }

  /**
   * Every registered service with a valid entry, by name (empty when there
   * are none). Entries that are not a valid ServiceInfo are skipped, each
   * with a warning naming it on the client's logger; use
   * {@linkcode RegistryClient.listDetailed} to get them.
   */
  async list(signal?: AbortSignal): Promise<Record<string, ServiceInfo>> {
    const { services, invalid } = await this.listDetailed(signal);
    for (const [name, reason] of Object.entries(invalid)) {
      this.#logger.warn(`skipped invalid registry entry ${JSON.stringify(name)}: ${reason}`);
    }
    return services;
  }

  /**
   * Every registered service, split into valid entries and the ones that
   * fail to parse (with the reason); one bad entry never fails the call.
   */
  async listDetailed(signal?: AbortSignal): Promise<ServiceListing> {
    // Each entry is parsed and checked as it arrives, while the rest of the answer is in transit.
    const res = await this.#requester.requestWith(
      LIST_PROTOCOL,
      new Uint8Array(),
      () => new ListAnswerDecoder(parseEntry),
      signal,
    );
    const services: [string, ServiceInfo][] = [];
    const invalid: [string, string][] = [];
    for (const [name, entry] of res.LookupOk ? res.entries : []) {
      if (typeof entry === "string") invalid.push([name, entry]);
      else services.push([name, entry]);
    }
    // fromEntries defines own properties: a service called "__proto__" stays an entry.
    return { services: Object.fromEntries(services), invalid: Object.fromEntries(invalid) };
  }

  /**
   * Deletes `name`. Returns the service's answer text; throws
   * {@linkcode ServiceNotFoundError} when nothing was deleted and
   * {@linkcode WriteRefusedError} when the service refuses the delete.
   */
  async delete(name: string, signal?: AbortSignal): Promise<string> {
    const answer = await this.#text(DELETE_PROTOCOL, validateServiceName(name), signal);
    // The original's not-found answer also starts with "Error: "; it is no refusal.
    if (isErrorAnswer(answer) && answer.trim() !== encodeDeleteResponse(0)) {
      throw new WriteRefusedError(DELETE_PROTOCOL, answer);
    }
    if (decodeDeleteResponse(answer) === 0) throw new ServiceNotFoundError(name);
    return answer;
  }

  /**
   * The recorded versions of `name` (adds, deletes and rollbacks, with the
   * writer's peer id and time), newest first; empty for a name never written.
   * A service keeps the last `-history` versions of each name.
   */
  async history(name: string, signal?: AbortSignal): Promise<HistoryVersion[]> {
    const answer = await this.#text(HISTORY_PROTOCOL, validateServiceName(name), signal);
    return decodeHistoryResponse(answer).Versions;
  }

  /**
   * Writes an earlier version of `name` again: the one at `revision` (see
   * {@linkcode RegistryClient.history}), by default the version before the
   * current one. A rollback is a write (the same owner rule applies) and is
   * recorded itself. Returns the service's answer, `Rolled back <name> to
   * revision <n>`; throws {@linkcode WriteRefusedError} when refused (not the
   * owner, no such service or revision).
   */
  async rollback(name: string, revision?: number, signal?: AbortSignal): Promise<string> {
    if (revision !== undefined && (!Number.isSafeInteger(revision) || revision < 1)) {
      throw new RangeError(`a revision is a positive integer, got ${revision}`);
    }
    const answer = await this.#write(
      ROLLBACK_PROTOCOL,
      encodeRollbackRequest({ Name: validateServiceName(name), Revision: revision }),
      signal,
    );
    decodeRollbackResponse(answer);
    return answer;
  }

  /**
   * Gives `name` to `owner` (a peer id; see `registry-cli whoami`). Only the
   * current owner or an admin may. Returns the service's answer, `Owner of
   * <name> is now <peer id>`; throws {@linkcode WriteRefusedError} when
   * refused.
   */
  async chown(name: string, owner: string | PeerId, signal?: AbortSignal): Promise<string> {
    const answer = await this.#write(
      CHOWN_PROTOCOL,
      encodeChownRequest({
        Name: validateServiceName(name),
        Owner: validatePeerId(owner.toString()),
      }),
      signal,
    );
    decodeChownResponse(answer);
    return answer;
  }

  /**
   * Asks a registry-service to add an etcd member; returns the
   * `--initial-cluster` string for the new member.
   */
  async memberAdd(request: MemberAddRequest, signal?: AbortSignal): Promise<string> {
    const answer = await this.#text(MEMBER_ADD_PROTOCOL, encodeMemberAddRequest(request), signal);
    if (answer.trim() === "") {
      throw new RequestRefusedError("registry-service answered /memberadd/0.1 with nothing");
    }
    return answer;
  }

  /**
   * The changes of every service (or of `options.name`) as they commit: the
   * current entries and `synced` first (or, with `fromRevision`, every change
   * since it and then `synced`), then each `put` and `delete`, in revision
   * order. It reconnects by itself, to another registry-service when the
   * first is gone, and resumes after the last revision it delivered, so no
   * change is missed or repeated. A `reset` means the revision to resume
   * from was compacted away: the current entries follow. Ends when
   * `options.signal` aborts.
   *
   * @example
   * ```ts ignore
   * for await (const change of client.watch({ name: "svc", signal })) {
   *   if (change.type === "put") redeploy(change.info);
   * }
   * ```
   */
  watch(options: WatchOptions = {}): AsyncIterable<ServiceChange> {
    return watchChanges({ requester: this.#requester, logger: this.#logger }, options);
  }

  /** Asks a registry-service to join the registry; the answer gives this instance's role. */
  async join(request: JoinRequest, signal?: AbortSignal): Promise<JoinResponse> {
    return decodeJoinResponse(await this.#text(JOIN_PROTOCOL, encodeJoinRequest(request), signal));
  }

  /** The registry's instances with their role and etcd member (`/members/0.1`). */
  async members(signal?: AbortSignal): Promise<InstanceRecord[]> {
    return decodeMembersResponse(await this.#text(MEMBERS_PROTOCOL, "", signal));
  }

  async #text(protocol: string, payload: string, signal?: AbortSignal): Promise<string> {
    return await this.#requester.request(protocol, new TextEncoder().encode(payload), signal);
  }

  /** Sends a write; an `Error: …` answer is a refusal. */
  async #write(protocol: string, payload: string, signal?: AbortSignal): Promise<string> {
    const answer = await this.#text(protocol, payload, signal);
    // Refusals of writes are answered (not reset), with text starting "Error: ".
    if (isErrorAnswer(answer)) throw new WriteRefusedError(protocol, answer);
    return answer;
  }
}

/** A listed entry's ServiceInfo, or why it is not one. */
function parseEntry(_name: string, infoStr: string): ServiceInfo | string {
  try {
    return parseServiceInfo(infoStr);
  } catch (err) {
    return (err as Error).message;
  }
}

/** How to reach the registry network for a one-off call. */
export interface ConnectOptions {
  /** Bootstrap multiaddrs (`/ip4/../tcp/../p2p/<id>`); at least one. */
  bootstraps: readonly string[];
  /** Network passphrase; omitted (or `""`) means a public network. */
  psk?: string;
  /**
   * The identity the temporary node signs in with: what a write policy
   * checks and what history records. Give this or `keyFile`; a fresh key
   * (a different peer every time) when neither is given.
   */
  privateKey?: PrivateKey;
  /**
   * Key file to sign in with (the service's format, see `registry-cli
   * -keyfile`); an Ed25519 key is created there (mode 0600) when the file
   * does not exist. `~/` is the home directory.
   */
  keyFile?: string;
  /** Retry schedule for requests. */
  retry?: RetryOptions;
  /** Rounds and pauses for connecting to the bootstraps (default `BOOTSTRAP_RETRY`). */
  bootstrapRetry?: Partial<RetryOptions>;
  /** Where progress and skipped list entries are reported. */
  logger?: Logger;
  /** Stops connecting. */
  signal?: AbortSignal;
  /** libp2p's own debug logging; silent when omitted (see `RegistryNodeOptions`). */
  libp2pLogger?: ComponentLogger;
  /** Not with bootstraps: a node of your own is a {@linkcode NodeTarget}. */
  node?: never;
}

/** A client on a temporary node; close it (or use `await using`) when done. */
export interface ConnectedRegistryClient extends AsyncDisposable {
  /** The client. */
  readonly client: RegistryClient;
  /** The temporary node. */
  readonly node: RegistryNode;
  /** Stops the temporary node. */
  close(): Promise<void>;
}

/**
 * Starts a temporary client node, connects it to the bootstraps and returns
 * a client on it.
 *
 * @example
 * ```ts ignore
 * import { connectRegistry } from "@physarum/registry";
 * await using conn = await connectRegistry({
 *   bootstraps: [addr],
 *   psk: "secret",
 *   keyFile: "~/.config/physarum/registry-cli.key",
 * });
 * console.log(await conn.client.list());
 * ```
 */
export async function connectRegistry(options: ConnectOptions): Promise<ConnectedRegistryClient> {
  const bootstraps = parseBootstraps(options.bootstraps);
  if (bootstraps.length === 0) {
    throw new TypeError("at least one bootstrap is needed (-bootstrap or P2P_BOOTSTRAPS)");
  }
  if (options.privateKey && options.keyFile !== undefined) {
    throw new TypeError("give privateKey or keyFile, not both");
  }
  const privateKey = options.keyFile === undefined
    ? options.privateKey
    : (await loadOrCreateIdentity({ keyFile: options.keyFile, algorithm: "Ed25519" })).key;
  const psk = options.psk || undefined;
  // A client-only node starts sooner; the bootstraps are usually
  // registry-services, and a DHT node is started only if they are not.
  const node = await createRegistryNode({
    privateKey,
    psk,
    libp2pLogger: options.libp2pLogger,
    clientOnly: true,
  });
  const discovery = lazyDhtDiscovery({
    node,
    bootstraps,
    psk,
    logger: options.logger,
    libp2pLogger: options.libp2pLogger,
  });
  try {
    await connectBootstraps(node, bootstraps, {
      retry: options.bootstrapRetry,
      privateNetwork: psk !== undefined,
      logger: options.logger,
      signal: options.signal,
    });
  } catch (err) {
    await node.stop();
    throw err;
  }
  const client = new RegistryClient({
    node,
    bootstraps,
    retry: options.retry,
    logger: options.logger,
    discover: (signal) => discovery.discover(signal),
  });
  const close = async (): Promise<void> => {
    await discovery.stop();
    await node.stop();
  };
  return { client, node, close, [Symbol.asyncDispose]: close };
}

/** A one-off call on a node you run (it keeps its own identity and network key). */
export interface NodeTarget {
  /** A started node on the registry's network. */
  node: RegistryNode;
  /**
   * Bootstrap peers, parsed (see `parseBootstraps`): the client dials them,
   * and asks only them and the instances they list (see
   * {@linkcode RegistryClientInit.bootstraps}).
   */
  bootstraps?: readonly Bootstrap[];
  /** Where skipped list entries are reported. */
  logger?: Logger;
  /** Not with a node: its network key was set when it was created. */
  psk?: never;
  /** Not with a node: it signs in with its own key. */
  privateKey?: never;
  /** Not with a node: it signs in with its own key. */
  keyFile?: never;
}

/**
 * Where a one-off call goes: a node you run ({@linkcode NodeTarget}), or
 * bootstrap multiaddrs for a temporary node ({@linkcode ConnectOptions}).
 * The two do not mix: `{ node, bootstraps: ["/ip4/…"] }` does not compile.
 */
export type RegistryTarget = NodeTarget | ConnectOptions;

async function withClient<T>(
  target: RegistryTarget,
  fn: (client: RegistryClient) => Promise<T>,
): Promise<T> {
  if (target.node !== undefined) {
    // For callers without a type checker: multiaddr strings would fail later, obscurely.
    if (target.bootstraps?.some((b) => typeof b === "string")) {
      throw new TypeError(
        "with a node, bootstraps are parsed Bootstrap values (parseBootstraps); " +
          "multiaddr strings go without a node, for a temporary one",
      );
    }
    return await fn(
      new RegistryClient({
        node: target.node,
        bootstraps: target.bootstraps,
        logger: target.logger,
      }),
    );
  }
  await using conn = await connectRegistry(target);
  return await fn(conn.client);
}

/**
 * Registers a service in one call.
 *
 * @example
 * ```ts ignore
 * import { addService } from "@physarum/registry";
 * await addService("svc", info, { bootstraps: [addr], psk: "secret" });
 * ```
 */
export function addService(
  name: string,
  info: ServiceInfo,
  target: RegistryTarget,
): Promise<string> {
  return withClient(target, (client) => client.add(name, info));
}

/**
 * Looks up a service in one call; throws {@linkcode ServiceNotFoundError} when missing.
 *
 * @example
 * ```ts ignore
 * import { getService, parseBootstraps } from "@physarum/registry";
 * const info = await getService("svc", { node, bootstraps: parseBootstraps([addr]) });
 * ```
 */
export function getService(name: string, target: RegistryTarget): Promise<ServiceInfo> {
  return withClient(target, (client) => client.get(name));
}

/**
 * Lists every service with a valid entry in one call; entries that fail to
 * parse are skipped with a warning on the target's `logger` (see
 * {@linkcode RegistryClient.listDetailed} for them).
 *
 * @example
 * ```ts ignore
 * import { listServices } from "@physarum/registry";
 * const all = await listServices({ bootstraps: [addr] });
 * ```
 */
export function listServices(target: RegistryTarget): Promise<Record<string, ServiceInfo>> {
  return withClient(target, (client) => client.list());
}

/**
 * Deletes a service in one call; throws {@linkcode ServiceNotFoundError} when missing.
 *
 * @example
 * ```ts ignore
 * import { deleteService } from "@physarum/registry";
 * await deleteService("svc", { bootstraps: [addr], psk: "secret" });
 * ```
 */
export function deleteService(name: string, target: RegistryTarget): Promise<string> {
  return withClient(target, (client) => client.delete(name));
}

/**
 * The recorded versions of a service in one call, newest first.
 *
 * @example
 * ```ts ignore
 * import { serviceHistory } from "@physarum/registry";
 * for (const v of await serviceHistory("svc", { bootstraps: [addr], psk: "secret" })) {
 *   console.log(v.Revision, v.Op, v.Peer, v.Time);
 * }
 * ```
 */
export function serviceHistory(name: string, target: RegistryTarget): Promise<HistoryVersion[]> {
  return withClient(target, (client) => client.history(name));
}

/**
 * Rolls a service back in one call, to `revision` or by default to the
 * version before the current one; throws {@linkcode WriteRefusedError} when
 * refused.
 *
 * @example
 * ```ts ignore
 * import { rollbackService } from "@physarum/registry";
 * await rollbackService("svc", { bootstraps: [addr], psk: "secret", keyFile });
 * ```
 */
export function rollbackService(
  name: string,
  target: RegistryTarget,
  revision?: number,
): Promise<string> {
  return withClient(target, (client) => client.rollback(name, revision));
}

/**
 * Gives a service to another owner in one call; throws
 * {@linkcode WriteRefusedError} when refused.
 *
 * @example
 * ```ts ignore
 * import { chownService } from "@physarum/registry";
 * await chownService("svc", "12D3KooW...", { bootstraps: [addr], psk: "secret", keyFile });
 * ```
 */
export function chownService(
  name: string,
  owner: string | PeerId,
  target: RegistryTarget,
): Promise<string> {
  return withClient(target, (client) => client.chown(name, owner));
}

/**
 * Watches services in one call (see {@linkcode RegistryClient.watch}); a
 * temporary node is stopped when the iteration ends.
 *
 * @example
 * ```ts ignore
 * import { watchServices } from "@physarum/registry";
 * for await (const change of watchServices({ bootstraps: [addr], psk: "secret" }, { signal })) {
 *   console.log(change);
 * }
 * ```
 */
export async function* watchServices(
  target: RegistryTarget,
  options: WatchOptions = {},
): AsyncGenerator<ServiceChange> {
  if (target.node !== undefined) {
    const client = new RegistryClient({
      node: target.node,
      bootstraps: target.bootstraps,
      logger: target.logger,
    });
    yield* client.watch(options);
    return;
  }
  await using conn = await connectRegistry({ ...target, signal: options.signal ?? target.signal });
  yield* conn.client.watch(options);
}
