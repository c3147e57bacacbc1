/**
 * The Dockerfile and proxy `conf.json` that `registry-cli add` generates
 * (SPEC §5: directive order, the three CMD forms).
 *
 * @module
 */
import type { NetworkRequirements } from "../protocol/service_info.ts";
import { AddConfigError, type DockerConf } from "./add_config.ts";

/** Options for {@linkcode renderDockerfile}. */
export interface DockerfileOptions {
  /** The service name, passed to the proxy in service mode. */
  serviceName: string;
  /** `-proxy-cmd`: replaces the proxy command line entirely. */
  proxyCmd?: string;
}

/** Quotes a COPY path as a JSON string only when the plain form would split it. */
function copyArgs(source: string, destination: string): string {
  const plain = (p: string) => !/[\s"'\\]/.test(p);
  return plain(source) && plain(destination)
    ? `${source} ${destination}`
    : JSON.stringify([source, destination]).replaceAll(",", ", ");
}

/**
 * Returns the shell command the image's CMD runs: the proxy in the background,
 * then the service command.
 *
 * @param conf The config's DockerConf (uses `Cmd` and `ProxyClientMode`).
 * @param options Service name and `-proxy-cmd`.
 * @returns The text after `CMD `.
 * @throws {AddConfigError} When `DockerConf.Cmd` is empty.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderCmd } from "./dockerfile.ts";
 * const conf = { From: "b", Copy: [], Run: [], Cmd: "./svc", ProxyClientMode: true };
 * assert.ok(
 *   renderCmd(conf, { serviceName: "s" }) ===
 *     "./proxy --configfile conf.json $PROXY_PORT > proxy.log 2>&1 & ./svc",
 * );
 * ```
 */
export function renderCmd(conf: DockerConf, options: DockerfileOptions): string {
  if (conf.Cmd.trim() === "") {
    throw new AddConfigError(
      "config field DockerConf.Cmd is empty; give the command that starts the service",
    );
  }
  if (options.proxyCmd !== undefined) return `${options.proxyCmd} & ${conf.Cmd}`;
  const proxy = conf.ProxyClientMode
    ? "./proxy --configfile conf.json $PROXY_PORT"
    : `./proxy --configfile conf.json $PROXY_PORT ${options.serviceName} ` +
      "$PROXY_IP:$SERVICE_PORT $METRICS_PORT";
  return `${proxy} > proxy.log 2>&1 & ${conf.Cmd}`;
}

/**
 * Renders the Dockerfile for a service image, in SPEC §5 order: FROM, WORKDIR
 * /app, the proxy and conf.json, the proxy's environment, COPY per Copy entry
 * (destination relative to /app), RUN per Run entry, CMD.
 *
 * @param conf The config's DockerConf (with defaults filled in).
 * @param options Service name and `-proxy-cmd`.
 * @returns The Dockerfile text, ending in a newline.
 * @throws {AddConfigError} When `DockerConf.Cmd` is empty.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderDockerfile } from "./dockerfile.ts";
 * const text = renderDockerfile(
 *   { From: "busybox", Copy: [["svc.sh", "svc.sh"]], Run: ["chmod +x svc.sh"], Cmd: "./svc.sh", ProxyClientMode: false },
 *   { serviceName: "echo" },
 * );
 * assert.ok(text.startsWith("FROM busybox\nWORKDIR /app\n"));
 * ```
 */
export function renderDockerfile(conf: DockerConf, options: DockerfileOptions): string {
  const lines = [
    `FROM ${conf.From}`,
    "WORKDIR /app",
    "COPY proxy .",
    "COPY conf.json .",
    "ENV PROXY_PORT=4201",
    "ENV PROXY_IP=127.0.0.1",
    "ENV SERVICE_PORT=8080",
    "ENV METRICS_PORT=9010",
    "ENV P2P_BOOTSTRAPS=",
    "ENV P2P_PSK=",
    ...conf.Copy.map(([source, destination]) => `COPY ${copyArgs(source, destination)}`),
    ...conf.Run.map((cmd) => `RUN ${cmd}`),
    `CMD ${renderCmd(conf, options)}`,
  ];
  return lines.join("\n") + "\n";
}

/**
 * Renders the proxy's `conf.json`:
 * `{"Perf": {"SoftReq": ..., "HardReq": ...}, "Bootstraps": null}`.
 *
 * @param soft The config's NetworkSoftReq.
 * @param hard The config's NetworkHardReq.
 * @returns The JSON text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderProxyConf } from "./dockerfile.ts";
 * assert.ok(
 *   renderProxyConf({ RTT: 100 }, { RTT: 200 }) ===
 *     '{"Perf":{"SoftReq":{"RTT":100},"HardReq":{"RTT":200}},"Bootstraps":null}',
 * );
 * ```
 */
export function renderProxyConf(soft: NetworkRequirements, hard: NetworkRequirements): string {
  return JSON.stringify({ Perf: { SoftReq: soft, HardReq: hard }, Bootstraps: null });
}
