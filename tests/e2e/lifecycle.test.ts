import assert from "node:assert/strict";
import { connectRegistry } from "../../mod.ts";
import {
  etcdPids,
  freePort,
  repoPath,
  runServiceCommand,
  sameMember,
  sampleInfo,
  startService,
  tempDataDir,
} from "../_registry.ts";
import { serviceMain } from "../../src/service/main.ts";
import { VERSION } from "../../src/version.ts";

const PSK = "lifecycle-test";

Deno.test("restart on the same data directory keeps the entries; SIGTERM stops all within 15 s", async () => {
  const first = await startService({ psk: PSK });
  let second;
  try {
    {
      await using conn = await connectRegistry({ bootstraps: [first.addr], psk: PSK });
      await conn.client.add("kept", sampleInfo(7));
    }
    assert.equal((await etcdPids(first.dataDir)).length, 1);
    const started = Date.now();
    const code = await first.stop("SIGTERM");
    assert.equal(code, 0);
    assert.ok(Date.now() - started < 15_000, `stop took ${Date.now() - started} ms`);
    assert.deepEqual(await etcdPids(first.dataDir), [], "etcd left running after SIGTERM");

    second = await startService({
      psk: PSK,
      ...sameMember(first),
    });
    await using conn = await connectRegistry({ bootstraps: [second.addr], psk: PSK });
    assert.deepEqual(await conn.client.get("kept"), sampleInfo(7));
  } finally {
    await first.stop();
    await second?.stop();
  }
});

Deno.test("when etcd dies the service reports unhealthy and exits 1", async () => {
  const service = await startService({ psk: PSK });
  try {
    const health = await fetch(`${service.httpUrl}/health`);
    assert.equal(health.status, 200);
    assert.equal((await health.json()).healthy, true);
    const [pid] = await etcdPids(service.dataDir);
    Deno.kill(pid, "SIGKILL");
    const code = await Promise.race([
      service.child.status.then((s) => s.code),
      new Promise<string>((r) => setTimeout(() => r("timeout"), 15_000)),
    ]);
    assert.equal(code, 1);
    await service.waitForLog(/etcd exited unexpectedly/);
  } finally {
    await service.stop();
  }
});

Deno.test("metrics and health endpoints", async () => {
  const service = await startService({ psk: PSK });
  try {
    {
      await using conn = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
      await conn.client.add("m1", sampleInfo(1));
      await conn.client.get("m1");
      await assert.rejects(() => conn.client.get("missing"));
    }
    const text = await (await fetch(`${service.httpUrl}/metrics`)).text();
    assert.match(text, /registry_requests_total\{protocol="\/add\/0\.1",outcome="ok"\} 1/);
    assert.match(text, /registry_requests_total\{protocol="\/get\/0\.1",outcome="ok"\} 1/);
    assert.match(text, /registry_requests_total\{protocol="\/get\/0\.1",outcome="not_found"\} 1/);
    assert.match(text, /registry_request_duration_seconds_count\{protocol="\/get\/0\.1"\} 2/);
    assert.match(text, /registry_entries 1/);
    assert.match(text, /registry_etcd_up 1/);
    assert.match(text, new RegExp(`^registry_build_info\\{version="${VERSION}"\\} 1$`, "m"));
    assert.match(text, /^process_resident_memory_bytes \d+$/m);
    assert.match(text, /^process_open_fds \d+$/m);
    const health = await (await fetch(`${service.httpUrl}/health`)).json();
    assert.equal(health.entries, 1);
    const missing = await fetch(`${service.httpUrl}/nope`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    await service.stop();
  }
});

Deno.test("a missing etcd binary is a one-line error saying how to install it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        repoPath("service.ts"),
        "-local",
        "-new-etcd-cluster",
        "-ephemeral",
        "-algo",
        "ed25519",
        "-listen",
        "/ip4/127.0.0.1/tcp/0",
        "-etcd-binary",
        "/nonexistent/etcd",
        "-prom-listen-addr",
        `127.0.0.1:${freePort()}`,
      ],
      cwd: dir,
      env: { NO_COLOR: "1" },
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1);
    assert.match(
      stderr,
      /etcd binary "\/nonexistent\/etcd" not found: install it \(Debian\/Ubuntu: apt-get install etcd-server\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("registry-service usage errors exit 2 and name the problem", async () => {
  const run = (...args: string[]) => runServiceCommand(args);
  const help = await run("--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: registry-service \[options\]/);
  assert.match(help.stdout, /-new-etcd-cluster/);
  const badAlgo = await run("-algo", "dsa");
  assert.equal(badAlgo.code, 2);
  assert.match(badAlgo.stderr, /unknown key algorithm "dsa"/);
  const badBits = await run("-bits", "1024");
  assert.equal(badBits.code, 2);
  assert.match(badBits.stderr, /-bits must be an integer of at least 2048/);
  const badPort = await run("-etcd-client-port", "99999");
  assert.equal(badPort.code, 2);
  const noBootstrap = await run("-new-etcd-cluster", "-ephemeral", "-algo", "ed25519");
  assert.equal(noBootstrap.code, 1);
  assert.match(
    noBootstrap.stderr,
    /no bootstraps: give -bootstrap <multiaddr> or P2P_BOOTSTRAPS, or run with -local/,
  );
});

Deno.test("a program that used the client library exits by itself after closing it", async () => {
  const service = await startService({ psk: "exit-test" });
  try {
    const program = `
      import { connectRegistry } from "./mod.ts";
      await using conn = await connectRegistry({ bootstraps: [${
      JSON.stringify(service.addr)
    }], psk: "exit-test" });
      await conn.client.add("exits", ${JSON.stringify(sampleInfo(2))});
      console.log(Object.keys(await conn.client.list()).join(","));
    `;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", program],
      cwd: repoPath("."),
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // Nothing may hold the process open: no timer, socket or channel left behind.
    const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const out = await child.output();
    clearTimeout(killer);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.signal, null, `still running 30 s after closing: ${stderr}`);
    assert.equal(out.code, 0, stderr);
    assert.equal(new TextDecoder().decode(out.stdout).trim(), "exits");
  } finally {
    await service.stop();
  }
});

Deno.test("an error nobody caught is logged with its stack, then the service stops etcd and exits 1", async () => {
  const dataDir = await tempDataDir();
  const log: string[] = [];
  const printed: string[] = [];
  let uncaught: ((error: unknown) => void) | undefined;
  const running = serviceMain([
    "-ephemeral",
    "-local",
    "-new-etcd-cluster",
    "-listen",
    "/ip4/127.0.0.1/tcp/0",
    "-etcd-client-port",
    String(freePort()),
    "-etcd-peer-port",
    String(freePort()),
    "-etcd-data-dir",
    dataDir,
    "-prom-listen-addr",
    `127.0.0.1:${freePort()}`,
  ], {
    env: {},
    stdout: (line) => printed.push(line),
    stderr: (line) => log.push(line),
    onShutdownSignal: () => {},
    onUncaughtError: (handler) => (uncaught = handler),
  });
  try {
    for (let i = 0; i < 300 && !uncaught; i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(uncaught, `the service did not start:\n${log.join("\n")}`);
    assert.equal((await etcdPids(dataDir)).length, 1);
    uncaught(new RangeError("WebAssembly.Memory.grow(): Maximum memory size exceeded"));
    assert.equal(await running, 1);
    const text = log.join("\n");
    assert.match(text, /ERROR stopping: an error nobody caught .*RangeError: WebAssembly/);
    assert.match(text, /at .*lifecycle\.test\.ts/, "no stack");
    assert.deepEqual(await etcdPids(dataDir), [], "etcd was left running");
  } finally {
    uncaught?.(new Error("test cleanup"));
    await running;
  }
});
