/**
 * A private Docker test environment from Debian packages: `dockerd` (vfs
 * storage, no iptables, no bridge) on its own socket, a `docker-registry` on a
 * free loopback port, and a base image imported from `busybox-static`.
 * Everything lives in one temp dir and is torn down by {@linkcode withDockerEnv}.
 */

/** A running test environment. */
export interface DockerEnv {
  /** Environment for child processes: the caller's, plus DOCKER_HOST of the private engine. */
  env: Record<string, string>;
  /** `127.0.0.1:<port>` of the local registry. */
  registry: string;
  /** Name of the imported busybox base image. */
  baseImage: string;
  /** Scratch directory for the test (removed at teardown). */
  tmp: string;
  /** Runs `docker <args>` against the private engine; throws on failure, returns stdout. */
  docker(args: string[], stdin?: Uint8Array): Promise<string>;
}

const TOOLS = ["dockerd", "docker", "docker-registry"];
const BUSYBOX = "/bin/busybox";

async function which(tool: string): Promise<boolean> {
  const out = await new Deno.Command("sh", { args: ["-c", `command -v ${tool}`], stdout: "null" })
    .output();
  return out.success;
}

/**
 * Says what is missing for the Docker tests, or undefined when all is there.
 * Needs: docker.io (dockerd, docker), docker-registry, busybox-static.
 */
export async function dockerEnvMissing(): Promise<string | undefined> {
  const missing = [];
  for (const tool of TOOLS) if (!(await which(tool))) missing.push(tool);
  try {
    await Deno.stat(BUSYBOX);
  } catch {
    missing.push(BUSYBOX);
  }
  return missing.length
    ? `${missing.join(", ")} not found (apt-get install docker.io docker-registry busybox-static)`
    : undefined;
}

/**
 * Whether Docker tests should be skipped: only when tools are missing and CI
 * is not set (on CI a missing Docker must fail the tests). Prints why.
 */
export async function skipDockerTests(): Promise<boolean> {
  const missing = await dockerEnvMissing();
  if (missing === undefined || Deno.env.get("CI") === "true") return false;
  console.warn(`SKIPPING Docker tests: ${missing}`);
  return true;
}

async function waitFor(what: string, check: () => Promise<boolean>, log: () => Promise<string>) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not start within 60 s:\n${await log()}`);
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function stop(child: Deno.ChildProcess | undefined): Promise<void> {
  if (!child) return;
  try {
    child.kill("SIGTERM");
  } catch {
    return; // already exited
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited meanwhile */ }
  }, 20_000);
  await child.status;
  clearTimeout(timer);
}

/** Builds a root fs of busybox and its applet symlinks, as a tar. */
async function busyboxRootfs(dir: string): Promise<Uint8Array> {
  await Deno.mkdir(`${dir}/bin`, { recursive: true });
  await Deno.mkdir(`${dir}/tmp`);
  await Deno.copyFile(BUSYBOX, `${dir}/bin/busybox`);
  const list = await new Deno.Command(BUSYBOX, { args: ["--list"], stdout: "piped" }).output();
  for (const applet of new TextDecoder().decode(list.stdout).split("\n")) {
    if (applet && applet !== "busybox") await Deno.symlink("busybox", `${dir}/bin/${applet}`);
  }
  const tar = await new Deno.Command("tar", { args: ["-C", dir, "-c", "."], stdout: "piped" })
    .output();
  if (!tar.success) throw new Error("tar of the busybox root fs failed");
  return tar.stdout;
}

/**
 * Starts the environment, runs `fn`, and tears everything down (also when
 * `fn` or the start fails).
 */
export async function withDockerEnv(fn: (env: DockerEnv) => Promise<void>): Promise<void> {
  const missing = await dockerEnvMissing();
  if (missing) throw new Error(`Docker test environment unavailable: ${missing}`);
  const root = await Deno.makeTempDir({ prefix: "dkenv-" });
  const socket = `${root}/docker.sock`;
  const env = { ...Deno.env.toObject(), DOCKER_HOST: `unix://${socket}` };
  let dockerd: Deno.ChildProcess | undefined;
  let registry: Deno.ChildProcess | undefined;
  const logs = { dockerd: `${root}/dockerd.log`, registry: `${root}/registry.log` };
  const spawnLogged = async (cmd: string, args: string[], log: string) => {
    const file = await Deno.open(log, { write: true, create: true });
    const child = new Deno.Command(cmd, {
      args,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    })
      .spawn();
    // Both streams go to the log; the writes are small lines, interleaving is fine.
    const writer = file.writable.getWriter();
    const drain = async (s: ReadableStream<Uint8Array>) => {
      for await (const chunk of s) await writer.write(chunk);
    };
    Promise.all([drain(child.stdout), drain(child.stderr)]).finally(() =>
      writer.close().catch(() => {})
    );
    return child;
  };
  const docker = async (args: string[], stdin?: Uint8Array): Promise<string> => {
    const child = new Deno.Command("docker", {
      args,
      env,
      stdin: stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (stdin) {
      const w = child.stdin.getWriter();
      await w.write(stdin);
      await w.close();
    }
    const out = await child.output();
    const text = new TextDecoder();
    if (!out.success) {
      throw new Error(`docker ${args.join(" ")} failed: ${text.decode(out.stderr)}`);
    }
    return text.decode(out.stdout);
  };
  try {
    dockerd = await spawnLogged("dockerd", [
      "--storage-driver",
      "vfs",
      "--iptables=false",
      "--bridge=none",
      "-H",
      `unix://${socket}`,
      "--data-root",
      `${root}/data`,
      "--exec-root",
      `${root}/exec`,
      "--pidfile",
      `${root}/dockerd.pid`,
    ], logs.dockerd);
    const port = freePort();
    await Deno.mkdir(`${root}/registry`);
    await Deno.writeTextFile(
      `${root}/registry.yml`,
      `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${root}/registry\n` +
        `http:\n  addr: 127.0.0.1:${port}\n`,
    );
    registry = await spawnLogged(
      "docker-registry",
      ["serve", `${root}/registry.yml`],
      logs.registry,
    );
    await waitFor(
      "dockerd",
      async () => (await docker(["version", "--format", "{{.Server.Version}}"])).trim() !== "",
      () => Deno.readTextFile(logs.dockerd),
    );
    await waitFor(
      "docker-registry",
      async () => (await fetch(`http://127.0.0.1:${port}/v2/`).then((
        r,
      ) => (r.body?.cancel(), r.ok))),
      () => Deno.readTextFile(logs.registry),
    );
    const baseImage = "test-busybox:latest";
    await docker(["import", "-", baseImage], await busyboxRootfs(`${root}/rootfs`));
    const tmp = `${root}/work`;
    await Deno.mkdir(tmp);
    await fn({ env, registry: `127.0.0.1:${port}`, baseImage, tmp, docker });
  } finally {
    await stop(registry);
    await stop(dockerd);
    await Deno.remove(root, { recursive: true });
  }
}
