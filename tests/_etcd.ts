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

/** A member {@linkcode startRestartableEtcd} starts, and how to restart it. */
export interface RestartableEtcd {
  /** Its client URL (the same after a restart). */
  clientUrl: string;
  /** Its client port. */
  clientPort: number;
  /** Stops the member, runs `whileDown`, and starts it again on the same ports and data. */
  restart(whileDown?: () => Promise<void>): Promise<void>;
}

/** Starts an etcd member on fixed ports that can be restarted; `stack` stops it. */
export async function startRestartableEtcd(stack: AsyncDisposableStack): Promise<RestartableEtcd> {
  const member = {
    ip: "127.0.0.1",
    clientPort: freePort(),
    peerPort: freePort(),
    dataDir: await tempDataDir(),
    logger: silentLogger,
  };
  let etcd = await startEtcd({ ...member, clusterState: "new" });
  stack.defer(() => etcd.stop());
  return {
    clientUrl: etcd.clientUrl,
    clientPort: member.clientPort,
    async restart(whileDown) {
      await etcd.stop();
      await whileDown?.();
      etcd = await startEtcd({ ...member, clusterState: "existing" });
    },
  };
}
