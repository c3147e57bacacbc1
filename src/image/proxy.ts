/**
 * Getting the platform's proxy binary for an image: a given file, or a build
 * from the proxy's git repository at a chosen version.
 *
 * @module
 */
import { join } from "node:path";

/** The original proxy's repository (PhysarumSM service-manager). */
export const DEFAULT_PROXY_REPO = "https://github.com/PhysarumSM/service-manager.git";
/** How the original proxy is built, inside the repository's `proxy/` folder. */
export const DEFAULT_PROXY_BUILD = "go build -o proxy";

/** Where the proxy comes from. */
export interface ProxySource {
  /** `-custom-proxy`: use this file as is. */
  customProxy?: string;
  /** `-proxy-repo`: the git repository to clone (default {@linkcode DEFAULT_PROXY_REPO}). */
  repo?: string;
  /** `-proxy-version`: what to `git checkout` (commit, branch or `tags/<name>`). */
  version?: string;
  /** `-proxy-build`: shell command run in the checkout's `proxy/` folder (default {@linkcode DEFAULT_PROXY_BUILD}). */
  build?: string;
  /** Environment for git and the build command. */
  env: Record<string, string | undefined>;
  /** Receives progress and the clone's and build's output as it comes, in any chunking. */
  onOutput?: (text: string) => void;
}

/** A step of getting the proxy failed (the message names the step). */
export class ProxyError extends Error {
  /**
   * @param message Which step failed and why.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProxyError";
  }
}

/** The end of a failed step's output kept for its error message. */
const OUTPUT_TAIL = 4_000;

/** Runs a step, streaming its output to `onOutput` as it comes. */
async function run(
  step: string,
  command: string,
  args: string[],
  options: { cwd?: string; env: Record<string, string>; onOutput: (text: string) => void },
): Promise<void> {
  let child;
  try {
    child = new Deno.Command(command, {
      args,
      cwd: options.cwd,
      env: options.env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (cause) {
    const hint = cause instanceof Deno.errors.NotFound ? ` (${command} is not installed)` : "";
    throw new ProxyError(`proxy ${step} failed: cannot run ${command}${hint}`, { cause });
  }
  let tail = "";
  const pump = async (readable: ReadableStream<Uint8Array>) => {
    for await (const text of readable.pipeThrough(new TextDecoderStream())) {
      tail = (tail + text).slice(-OUTPUT_TAIL);
      options.onOutput(text);
    }
  };
  const [status] = await Promise.all([child.status, pump(child.stdout), pump(child.stderr)]);
  if (!status.success) {
    throw new ProxyError(`proxy ${step} failed (exit code ${status.code}):\n${tail.trim()}`);
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function install(from: string, destination: string): Promise<void> {
  await Deno.copyFile(from, destination);
  // The image runs ./proxy directly, so it must stay executable whatever the source mode was.
  await Deno.chmod(destination, 0o755);
}

/**
 * Puts the proxy binary at `destination` (mode 0755). With `customProxy`,
 * copies that file. Otherwise clones `repo`, checks out `version` when given,
 * runs `build` with `sh -c` in the checkout's `proxy/` folder and takes
 * `proxy/proxy`; the checkout is removed afterwards, also on failure. Git
 * never prompts for credentials.
 *
 * @param source Where the proxy comes from.
 * @param destination Where to write the executable.
 * @throws {ProxyError} Naming the failed step: custom proxy, clone, checkout, build or missing output.
 *
 * @example
 * ```ts ignore
 * import { obtainProxy } from "./proxy.ts";
 * await obtainProxy({ repo: "file:///srv/proxy.git", version: "tags/v1", env: Deno.env.toObject() }, "./ctx/proxy");
 * ```
 */
export async function obtainProxy(source: ProxySource, destination: string): Promise<void> {
  if (source.customProxy !== undefined) {
    if (!(await isFile(source.customProxy))) {
      throw new ProxyError(`-custom-proxy ${source.customProxy} is not a readable file`);
    }
    await install(source.customProxy, destination);
    return;
  }
  const env = Object.fromEntries(
    Object.entries({ ...source.env, GIT_TERMINAL_PROMPT: "0" }).filter((
      entry,
    ): entry is [string, string] => entry[1] !== undefined),
  );
  const onOutput = source.onOutput ?? (() => {});
  const repo = source.repo ?? DEFAULT_PROXY_REPO;
  const checkoutRoot = await Deno.makeTempDir({ prefix: "registry-cli-proxy-" });
  const checkout = join(checkoutRoot, "src");
  try {
    onOutput(`Cloning proxy from ${repo}\n`);
    // --progress: git reports it even though its stderr is a pipe (it is streamed on).
    await run("clone", "git", ["clone", "--progress", repo, checkout], { env, onOutput });
    if (source.version !== undefined) {
      onOutput(`Checking out proxy version ${source.version}\n`);
      await run("checkout", "git", ["checkout", "--quiet", source.version], {
        cwd: checkout,
        env,
        onOutput,
      });
    }
    const proxyDir = join(checkout, "proxy");
    try {
      if (!(await Deno.stat(proxyDir)).isDirectory) throw new Deno.errors.NotFound();
    } catch (cause) {
      throw new ProxyError(`proxy build failed: ${repo} has no proxy/ folder`, { cause });
    }
    const build = source.build ?? DEFAULT_PROXY_BUILD;
    onOutput(`Building proxy: ${build}\n`);
    await run("build", "sh", ["-c", build], { cwd: proxyDir, env, onOutput });
    const output = join(proxyDir, "proxy");
    if (!(await isFile(output))) {
      throw new ProxyError(
        `proxy build output missing: "${build}" did not produce proxy/proxy in ${repo}`,
      );
    }
    await install(output, destination);
  } finally {
    await Deno.remove(checkoutRoot, { recursive: true });
  }
}
