/**
 * A watchdog on the service's own event loop, from another thread. When
 * the loop stops turning (a native hang, such as Deno's HTTP/2 on a GOAWAY:
 * denoland/deno#36788), nothing of the service answers, not even SIGTERM;
 * the watchdog then writes one line to stderr and kills the process with
 * SIGKILL (its etcd follows, by its parent-death signal), so that a
 * supervisor restarts it instead of it hanging for good.
 *
 * @module
 */

/** A running watchdog. */
export interface LivenessWatchdog {
  /** Stops watching (the service is stopping on its own). */
  stop(): void;
}

// The worker is inline, so that `deno compile` needs no extra module for it.
const WORKER = `
let last = Date.now();
let hangAfterMs = 0;
self.onmessage = (e) => {
  if (e.data.hangAfterMs) hangAfterMs = e.data.hangAfterMs;
  last = Date.now();
};
setInterval(() => {
  if (hangAfterMs === 0 || Date.now() - last < hangAfterMs) return;
  const line = new Date().toISOString() + " ERROR the event loop has not turned for " +
    Math.round((Date.now() - last) / 1000) + " s (-hang-timeout " + hangAfterMs / 1000 +
    "): killing this process (pid " + Deno.pid + ") so that its supervisor restarts it\\n";
  Deno.stderr.writeSync(new TextEncoder().encode(line));
  Deno.kill(Deno.pid, "SIGKILL");
}, 250);
`;

/**
 * Starts the watchdog: the event loop must turn at least once every
 * `hangAfterMs`.
 *
 * @example
 * ```ts ignore
 * const watchdog = startLivenessWatchdog(30_000);
 * // ... and when the service stops:
 * watchdog.stop();
 * ```
 */
export function startLivenessWatchdog(hangAfterMs: number): LivenessWatchdog {
  const url = URL.createObjectURL(new Blob([WORKER], { type: "application/javascript" }));
  const worker = new Worker(url, { type: "module" });
  URL.revokeObjectURL(url);
  worker.postMessage({ hangAfterMs });
  const beat = setInterval(() => worker.postMessage({}), Math.max(10, hangAfterMs / 10));
  Deno.unrefTimer(beat);
  return {
    stop() {
      clearInterval(beat);
      worker.terminate();
    },
  };
}
