/**
 * The registry client: add, get, list and delete services over the private
 * libp2p network, on a node you run or on a temporary one.
 *
 * @module
 */
import type { RegistryNode } from "../p2p/node.ts";
import { createRegistryNode } from "../p2p/node.ts";
import { pskFromPassphrase } from "../p2p/psk.ts";
import { type Bootstrap, connectBootstraps, parseBootstraps } from "../p2p/bootstrap.ts";
import {
  ADD_PROTOCOL,
  DELETE_PROTOCOL,
  GET_PROTOCOL,
  LIST_PROTOCOL,
  MEMBER_ADD_PROTOCOL,
} from "../protocol/ids.ts";
import {
  decodeDeleteResponse,
  decodeGetResponse,
  decodeListResponse,
  encodeAddRequest,
  encodeMemberAddRequest,
  type MemberAddRequest,
  validateServiceName,
} from "../protocol/messages.ts";
import {
  parseServiceInfo,
  type ServiceInfo,
  validateServiceInfo,
} from "../protocol/service_info.ts";
import type { Logger } from "../log/logger.ts";
import type { ComponentLogger, PeerId } from "@libp2p/interface";
import { Requester, type RetryOptions } from "./requester.ts";
import { lazyDhtDiscovery } from "./_dht_discovery.ts";
import { RequestRefusedError, ServiceNotFoundError } from "./errors.ts";

/** Components and settings for {@linkcode RegistryClient}. */
export interface RegistryClientInit {
  /** A started node on the registry's network (the client does not stop it). */
  node: RegistryNode;
  /** Bootstrap peers, tried first when looking for a registry-service. */
  bootstraps?: readonly Bootstrap[];
  /** Retry schedule (default: 5 rounds, 1 s to 8 s). */
  retry?: RetryOptions;
  /** Where retries are reported. */
  logger?: Logger;
  /**
   * Finds registry-services beyond the connected peers (they are tried
   * first); by default the node's own DHT.
   */
  discover?: (signal: AbortSignal) => AsyncIterable<PeerId>;
}

/**
 * Registry operations on a node the caller runs.
 *
 * @example
 * ```ts ignore
 * import { createRegistryNode, RegistryClient } from "@physarum/registry";
 * const node = await createRegistryNode({ psk });
 * const client = new RegistryClient({ node });
 * const info = await client.get("my-service");
 * ```
 */
export class RegistryClient {
  readonly #requester: Requester;

  /**
   * Creates a client on `init.node`; nothing is sent until the first call.
   *
   * @param init Components and settings.
   */
  constructor(init: RegistryClientInit) {
    this.#requester = new Requester({
      node: init.node,
      preferredPeers: init.bootstraps?.map((b) => b.peerId),
      retry: init.retry,
      logger: init.logger,
      discover: init.discover,
    });
  }

  /**
   * Registers (or replaces) `name`. Returns the service's answer,
   * `Added {<name>: <InfoStr>}`.
   */
  async add(name: string, info: ServiceInfo, signal?: AbortSignal): Promise<string> {
    validateServiceName(name);
    const infoStr = JSON.stringify(validateServiceInfo(info));
    return await this.#text(
      ADD_PROTOCOL,
      encodeAddRequest({ Name: name, InfoStr: infoStr }),
      signal,
    );
  }

  /** Looks up `name`; throws {@linkcode ServiceNotFoundError} when it is not registered. */
  async get(name: string, signal?: AbortSignal): Promise<ServiceInfo> {
    validateServiceName(name);
    const res = decodeGetResponse(await this.#text(GET_PROTOCOL, name, signal));
    if (!res.LookupOk) throw new ServiceNotFoundError(name);
    return parseServiceInfo(res.InfoStr);
  }

  /** Every registered service, by name (empty when there are none). */
  async list(signal?: AbortSignal): Promise<Record<string, ServiceInfo>> {
    const res = decodeListResponse(await this.#text(LIST_PROTOCOL, "", signal));
    const result: Record<string, ServiceInfo> = {};
    if (!res.LookupOk) return result;
    for (const [name, infoStr] of Object.entries(res.NameToInfoStr)) {
      result[name] = parseServiceInfo(infoStr);
    }
    return result;
  }

  /**
   * Deletes `name`. Returns the service's answer text; throws
   * {@linkcode ServiceNotFoundError} when nothing was deleted.
   */
  async delete(name: string, signal?: AbortSignal): Promise<string> {
    validateServiceName(name);
    const answer = await this.#text(DELETE_PROTOCOL, name, signal);
    if (decodeDeleteResponse(answer) === 0) throw new ServiceNotFoundError(name);
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

  async #text(protocol: string, payload: string, signal?: AbortSignal): Promise<string> {
    return await this.#requester.request(protocol, new TextEncoder().encode(payload), signal);
  }
}

/** How to reach the registry network for a one-off call. */
export interface ConnectOptions {
  /** Bootstrap multiaddrs (`/ip4/../tcp/../p2p/<id>`); at least one. */
  bootstraps: readonly string[];
  /** Network passphrase; omitted means a public network. */
  psk?: string;
  /** Retry schedule for requests. */
  retry?: RetryOptions;
  /** Rounds and pauses for connecting to the bootstraps (default `BOOTSTRAP_RETRY`). */
  bootstrapRetry?: Partial<RetryOptions>;
  /** Where progress is reported. */
  logger?: Logger;
  /** Stops connecting. */
  signal?: AbortSignal;
  /** libp2p's own debug logging; silent when omitted (see `RegistryNodeOptions`). */
  libp2pLogger?: ComponentLogger;
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
 * await using conn = await connectRegistry({ bootstraps: [addr], psk: "secret" });
 * console.log(await conn.client.list());
 * ```
 */
export async function connectRegistry(options: ConnectOptions): Promise<ConnectedRegistryClient> {
  const bootstraps = parseBootstraps(options.bootstraps);
  if (bootstraps.length === 0) {
    throw new TypeError("at least one bootstrap is needed (-bootstrap or P2P_BOOTSTRAPS)");
  }
  const psk = options.psk ? pskFromPassphrase(options.psk) : undefined;
  // A client-only node starts sooner; the bootstraps are usually
  // registry-services, and a DHT node is started only if they are not.
  const node = await createRegistryNode({
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

/** Where a one-off call goes: a node you run, or bootstraps for a temporary node. */
export type RegistryTarget =
  | { node: RegistryNode; bootstraps?: readonly Bootstrap[] }
  | ConnectOptions;

async function withClient<T>(
  target: RegistryTarget,
  fn: (client: RegistryClient) => Promise<T>,
): Promise<T> {
  if ("node" in target) {
    return await fn(new RegistryClient({ node: target.node, bootstraps: target.bootstraps }));
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
 * import { getService } from "@physarum/registry";
 * const info = await getService("svc", { node });
 * ```
 */
export function getService(name: string, target: RegistryTarget): Promise<ServiceInfo> {
  return withClient(target, (client) => client.get(name));
}

/**
 * Lists every service in one call.
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
