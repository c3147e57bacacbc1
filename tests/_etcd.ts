/**
 * A real single-member etcd for tests that run the store or the handlers in
 * process, on OS-chosen loopback ports with a temporary data directory.
 */
import { type EtcdProcess, startEtcd } from "../src/store/etcd_process.ts";
import { silentLogger } from "../src/log/logger.ts";
import { freePort, tempDataDir } from "./_registry.ts";

/** Starts an etcd member that `stack` stops. */
export async function startTestEtcd(stack: AsyncDisposableStack): Promise<EtcdProcess> {
  const etcd = await startEtcd({
    ip: "127.0.0.1",
    clientPort: freePort(),
    peerPort: freePort(),
    dataDir: await tempDataDir(),
    clusterState: "new",
    logger: silentLogger,
  });
  stack.defer(() => etcd.stop());
  return etcd;
}
