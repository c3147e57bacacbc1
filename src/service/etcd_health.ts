/**
 * Whether this instance can commit: a periodic linearizable read through its
 * own etcd member, with the reason when it fails (etcd down, no leader, no
 * quorum). `/health` and `/readyz` report it.
 *
 * @module
 */
import type { Etcd3 } from "etcd3";
import type { Logger } from "../log/logger.ts";

/** The last health check's outcome. */
export interface EtcdHealth {
  /** Whether a linearizable read succeeded. */
  healthy: boolean;
  /** Why not, for the operator. */
  reason?: string;
}

/** Components and settings for {@linkcode monitorEtcdHealth}. */
export interface EtcdHealthComponents {
  /** Client of this instance's etcd member only. */
  client: Etcd3;
  /** Whether the etcd process is running. */
  isRunning: () => boolean;
  /** Where changes are reported. */
  logger: Logger;
  /** Called with each change of health. */
  onChange?: (healthy: boolean) => void;
  /** Pause between checks (ms, default 2 s). */
  intervalMs?: number;
  /** How long one read may take (ms, default 3 s). */
  timeoutMs?: number;
}

/** A running health check. */
export interface EtcdHealthMonitor {
  /** Checks now; resolves with (and records) the outcome. */
  check(): Promise<EtcdHealth>;
  /** The last outcome. */
  state(): EtcdHealth;
  /** Stops checking. */
  stop(): void;
}

// Any key: a linearizable read of it needs the leader to confirm it still leads.
const PROBE_KEY = "physarum/registry/health-probe";

/**
 * Checks every `intervalMs` that a linearizable read through this member
 * succeeds within `timeoutMs`; on failure, asks the member (locally) whether
 * it knows a leader, to name the reason. So a lost quorum shows within
 * about `intervalMs + timeoutMs`.
 *
 * @example
 * ```ts ignore
 * const health = monitorEtcdHealth({ client, isRunning: () => true, logger });
 * await health.check();
 * console.log(health.state());
 * health.stop();
 * ```
 */
export function monitorEtcdHealth(components: EtcdHealthComponents): EtcdHealthMonitor {
  const { client, logger } = components;
  const intervalMs = components.intervalMs ?? 2_000;
  const timeoutMs = components.timeoutMs ?? 3_000;
  let current: EtcdHealth | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const probe = async (): Promise<EtcdHealth> => {
    if (!components.isRunning()) return { healthy: false, reason: "etcd is not running" };
    try {
      await client.get(PROBE_KEY).options({ deadline: Date.now() + timeoutMs }).exec();
      return { healthy: true };
    } catch (err) {
      const readError = (err as Error).message;
      try {
        const status = await client.maintenance.status({ deadline: Date.now() + 1_000 });
        if (status.leader === "0") {
          return {
            healthy: false,
            reason: "no quorum: this etcd member has no leader (too few members reachable)",
          };
        }
        return {
          healthy: false,
          reason: `no quorum: a linearizable read through this etcd member failed (${readError})`,
        };
      } catch (statusErr) {
        return {
          healthy: false,
          reason: `etcd does not answer: ${(statusErr as Error).message}`,
        };
      }
    }
  };

  const check = async (): Promise<EtcdHealth> => {
    const next = await probe();
    if (next.healthy !== current?.healthy || next.reason !== current?.reason) {
      if (!next.healthy) logger.warn(`unhealthy: ${next.reason}`);
      else if (current) logger.info("etcd is healthy again: this instance can commit");
      if (next.healthy !== current?.healthy) components.onChange?.(next.healthy);
    }
    current = next;
    return next;
  };

  const loop = () => {
    timer = setTimeout(async () => {
      await check();
      if (!stopped) loop();
    }, intervalMs);
  };
  loop();

  return {
    check,
    state: () => current ?? { healthy: false, reason: "not checked yet" },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
