/**
 * The registry-service's Prometheus metrics.
 *
 * @module
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { VERSION } from "../version.ts";

/** Metrics the registry-service updates. */
export interface RegistryMetrics {
  /** The Prometheus registry holding them (serve `registry.metrics()`). */
  readonly registry: Registry;
  /** Requests by protocol and outcome (`ok`, `not_found`, `refused`, `error`). */
  readonly requests: Counter<"protocol" | "outcome">;
  /** Request handling time by protocol, in seconds. */
  readonly duration: Histogram<"protocol">;
  /** Entries in the registry. */
  readonly entries: Gauge;
  /** 1 while this instance's etcd member is healthy. */
  readonly etcdUp: Gauge;
  /** Connected libp2p peers. */
  readonly peers: Gauge;
  /** Open `/watch/0.1` streams. */
  readonly watchers: Gauge;
  /** Changes (puts and deletes) sent to watchers. */
  readonly watchEvents: Counter;
  /** Bytes of lines waiting for watchers that read slower than changes come. */
  readonly watchQueuedBytes: Gauge;
  /** 1 for this instance's role (`voter`, `learner`, `client`), 0 for the others. */
  readonly role: Gauge<"role">;
  /** Voting etcd members. */
  readonly voters: Gauge;
  /** etcd learners (members catching up before their promotion). */
  readonly learners: Gauge;
  /** 1 while this instance is the steward (replaces lost voters), else 0. */
  readonly steward: Gauge;
}

/** Live values read at each scrape. */
export interface MetricSources {
  /** Number of entries in the registry. */
  entries?: () => number;
  /** Number of connected peers. */
  peers?: () => number;
}

/**
 * Creates the metrics in a fresh Prometheus registry (no global state): the
 * registry's own, the process's (`process_*`, `nodejs_*`: CPU, memory, open
 * file descriptors, event loop lag) and `registry_build_info{version}`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createRegistryMetrics } from "./metrics.ts";
 * const metrics = createRegistryMetrics();
 * metrics.requests.inc({ protocol: "/get/0.1", outcome: "ok" });
 * const text = await metrics.registry.metrics();
 * assert.match(text, /registry_requests_total\{protocol="\/get\/0\.1",outcome="ok"\} 1/);
 * assert.match(text, /^process_resident_memory_bytes \d+/m);
 * assert.match(text, /^registry_build_info\{version="[^"]+"\} 1$/m);
 * ```
 */
export function createRegistryMetrics(sources: MetricSources = {}): RegistryMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: "registry_build_info",
    help: "Always 1; the version label says which registry-service this is",
    labelNames: ["version"],
    registers: [registry],
  }).set({ version: VERSION }, 1);
  return {
    registry,
    requests: new Counter({
      name: "registry_requests_total",
      help: "Registry requests by protocol and outcome",
      labelNames: ["protocol", "outcome"],
      registers: [registry],
    }),
    duration: new Histogram({
      name: "registry_request_duration_seconds",
      help: "Time to handle a registry request, by protocol",
      labelNames: ["protocol"],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    entries: new Gauge({
      name: "registry_entries",
      help: "Services in the registry",
      registers: [registry],
      collect() {
        if (sources.entries) this.set(sources.entries());
      },
    }),
    etcdUp: new Gauge({
      name: "registry_etcd_up",
      help: "1 while this instance's etcd member is healthy, else 0",
      registers: [registry],
    }),
    peers: new Gauge({
      name: "registry_p2p_peers",
      help: "Connected libp2p peers",
      registers: [registry],
      collect() {
        if (sources.peers) this.set(sources.peers());
      },
    }),
    watchers: new Gauge({
      name: "registry_watchers",
      help: "Open /watch/0.1 streams",
      registers: [registry],
    }),
    watchEvents: new Counter({
      name: "registry_watch_events_total",
      help: "Changes (puts and deletes) sent to watchers",
      registers: [registry],
    }),
    watchQueuedBytes: new Gauge({
      name: "registry_watch_queued_bytes",
      help: "Bytes of lines queued for watchers that read slower than changes come",
      registers: [registry],
    }),
    role: new Gauge({
      name: "registry_role",
      help: "1 for this instance's role (voter, learner, client), 0 for the others",
      labelNames: ["role"],
      registers: [registry],
    }),
    voters: new Gauge({
      name: "registry_etcd_voters",
      help: "Voting etcd members of the cluster",
      registers: [registry],
    }),
    learners: new Gauge({
      name: "registry_etcd_learners",
      help: "etcd learners (members catching up before their promotion)",
      registers: [registry],
    }),
    steward: new Gauge({
      name: "registry_steward",
      help: "1 while this instance is the steward that replaces lost voters, else 0",
      registers: [registry],
    }),
  };
}
