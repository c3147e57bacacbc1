/**
 * Client library of the Physarum service registry: add, get, list and
 * delete microservices over the registry's private libp2p network.
 *
 * @example One-off calls on a temporary node
 * ```ts ignore
 * import { addService, getService } from "@physarum/registry";
 *
 * const target = { bootstraps: ["/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW..."], psk: "secret" };
 * await addService("my-service", {
 *   ContentHash: "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
 *   DockerHash: "localhost:5000/team/svc@sha256:...",
 *   NetworkSoftReq: { RTT: 100 },
 *   NetworkHardReq: { RTT: 200 },
 *   CpuReq: 20,
 *   MemoryReq: 1000,
 * }, target);
 * console.log(await getService("my-service", target));
 * ```
 *
 * @example On a node you already run
 * ```ts ignore
 * import { createRegistryNode, parseBootstraps, RegistryClient } from "@physarum/registry";
 *
 * const node = await createRegistryNode({ psk: "secret" });
 * // The client dials them, and asks only them and the instances they list.
 * const bootstraps = parseBootstraps(["/ip4/10.0.0.1/tcp/4001/p2p/12D3KooW..."]);
 * const client = new RegistryClient({ node, bootstraps });
 * console.log(await client.list());
 * ```
 *
 * @example Signing in with a key that lasts; history and rollback
 * ```ts ignore
 * import { connectRegistry, WriteRefusedError } from "@physarum/registry";
 *
 * // The peer id of this key owns what it adds (under -write-policy owner).
 * await using conn = await connectRegistry({ bootstraps: [addr], psk: "secret", keyFile: "svc.key" });
 * for (const v of await conn.client.history("my-service")) console.log(v.Revision, v.Op, v.Peer);
 * try {
 *   await conn.client.rollback("my-service");
 * } catch (err) {
 *   if (err instanceof WriteRefusedError) console.log(err.answer); // Error: not authorized: ...
 * }
 * // Entries that fail to parse are skipped by list() and named by listDetailed().
 * const { services, invalid } = await conn.client.listDetailed();
 * ```
 *
 * @module
 */
export * from "./src/client/registry_client.ts";
export * from "./src/client/errors.ts";
export type { RetryOptions } from "./src/client/requester.ts";
export * from "./src/protocol/service_info.ts";
export * from "./src/protocol/ids.ts";
export { InvalidValueError, MalformedMessageError } from "./src/protocol/messages.ts";
export {
  createRegistryNode,
  type RegistryNode,
  type RegistryNodeOptions,
  type RegistryNodeServices,
} from "./src/p2p/node.ts";
export type {
  HistoryOp,
  HistoryVersion,
  InstanceRecord,
  InstanceRole,
  JoinRequest,
  JoinResponse,
  MemberAddRequest,
} from "./src/protocol/messages.ts";
export type { Logger } from "./src/log/logger.ts";
export type * from "./src/p2p/libp2p_types.ts";

export { pskFromPassphrase, swarmKey } from "./src/p2p/psk.ts";
export {
  type Bootstrap,
  BootstrapConnectError,
  InvalidBootstrapError,
  parseBootstraps,
} from "./src/p2p/bootstrap.ts";
export { contentHash } from "./src/image/content_hash.ts";
