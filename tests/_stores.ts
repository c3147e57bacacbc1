/**
 * Two {@linkcode RegistryStore}s on one real etcd started for the test, as
 * two instances of a cluster would be (neither a sole writer: each sees the
 * other's writes through its watch).
 */
import { createEtcdClient } from "../src/store/etcd_cluster.ts";
import { createEtcdKv } from "../src/store/etcd_kv.ts";
import { RegistryStore, type RegistryStoreInit } from "../src/store/registry_store.ts";
import { silentLogger } from "../src/log/logger.ts";
import { startTestEtcd } from "./_etcd.ts";

/** Store settings of {@linkcode withStores} (the client and logger are its own). */
export type StoreSettings = Omit<RegistryStoreInit, "client" | "kv" | "logger">;

/** Runs `fn` with two stores on one real etcd; everything is stopped when it ends. */
export async function withStores(
  fn: (one: RegistryStore, two: RegistryStore, etcdUrl: string) => Promise<void>,
  settings: StoreSettings = {},
): Promise<void> {
  await using stack = new AsyncDisposableStack();
  const etcd = await startTestEtcd(stack);
  const one = await startTestStore(stack, etcd.clientUrl, settings);
  const two = await startTestStore(stack, etcd.clientUrl, settings);
  await fn(one, two, etcd.clientUrl);
}

/** A started store on the etcd at `etcdUrl`, which `stack` stops (and its client). */
export async function startTestStore(
  stack: AsyncDisposableStack,
  etcdUrl: string,
  settings: StoreSettings = {},
): Promise<RegistryStore> {
  const client = createEtcdClient(etcdUrl);
  stack.defer(() => client.close());
  const kv = createEtcdKv(etcdUrl);
  stack.defer(() => kv.close());
  const store = new RegistryStore({ client, kv, logger: silentLogger, ...settings });
  await store.start();
  stack.defer(() => store.stop());
  return store;
}
