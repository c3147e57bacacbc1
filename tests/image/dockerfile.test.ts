import { equal, throws } from "node:assert/strict";
import type { DockerConf } from "../../src/image/add_config.ts";
import { renderDockerfile, renderProxyConf } from "../../src/image/dockerfile.ts";

const CONF: DockerConf = {
  From: "ubuntu:16.04",
  Copy: [["src", "dst"], ["web/my files", "www"]],
  Run: ["make", "make install"],
  Cmd: "./my-service $PROXY_IP $SERVICE_PORT",
  ProxyClientMode: false,
};

const HEAD = `FROM ubuntu:16.04
WORKDIR /app
COPY proxy .
COPY conf.json .
ENV PROXY_PORT=4201
ENV PROXY_IP=127.0.0.1
ENV SERVICE_PORT=8080
ENV METRICS_PORT=9010
ENV P2P_BOOTSTRAPS=
ENV P2P_PSK=
COPY src dst
COPY ["web/my files", "www"]
RUN make
RUN make install
`;

Deno.test("service mode Dockerfile", () => {
  equal(
    renderDockerfile(CONF, { serviceName: "echo" }),
    HEAD +
      "CMD ./proxy --configfile conf.json $PROXY_PORT echo $PROXY_IP:$SERVICE_PORT $METRICS_PORT" +
      " > proxy.log 2>&1 & ./my-service $PROXY_IP $SERVICE_PORT\n",
  );
});

Deno.test("client mode Dockerfile", () => {
  equal(
    renderDockerfile({ ...CONF, ProxyClientMode: true }, { serviceName: "echo" }),
    HEAD +
      "CMD ./proxy --configfile conf.json $PROXY_PORT > proxy.log 2>&1 & " +
      "./my-service $PROXY_IP $SERVICE_PORT\n",
  );
});

Deno.test("-proxy-cmd replaces the proxy command in either mode", () => {
  for (const ProxyClientMode of [false, true]) {
    equal(
      renderDockerfile({ ...CONF, ProxyClientMode }, {
        serviceName: "echo",
        proxyCmd: "./proxy -debug",
      }),
      HEAD + "CMD ./proxy -debug & ./my-service $PROXY_IP $SERVICE_PORT\n",
    );
  }
});

Deno.test("a Dockerfile without Copy and Run entries, and an empty Cmd", () => {
  const text = renderDockerfile({ ...CONF, Copy: [], Run: [], From: "base:1" }, {
    serviceName: "s",
  });
  equal(text.split("\n").length, 12);
  equal(text.split("\n")[10].startsWith("CMD ./proxy"), true);
  throws(() => renderDockerfile({ ...CONF, Cmd: " " }, { serviceName: "s" }), /DockerConf\.Cmd/);
});

Deno.test("conf.json carries the requirements and null bootstraps", () => {
  equal(
    renderProxyConf({ RTT: 100 }, { RTT: 250 }),
    '{"Perf":{"SoftReq":{"RTT":100},"HardReq":{"RTT":250}},"Bootstraps":null}',
  );
});
