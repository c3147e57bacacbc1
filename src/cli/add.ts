/**
 * `registry-cli add`: build an image that bundles the proxy, push it, hash
 * it and register the service (SPEC §5).
 *
 * @module
 */
import type { ServiceInfo } from "../protocol/service_info.ts";
import { validateServiceInfo } from "../protocol/service_info.ts";
import {
  AddConfigError,
  type CopySource,
  parseAddConfig,
  resolveCopySources,
} from "../image/add_config.ts";
import { createBuildContext } from "../image/build_context.ts";
import { contentHash } from "../image/content_hash.ts";
import { Docker, DockerError } from "../image/docker.ts";
import { renderDockerfile, renderProxyConf } from "../image/dockerfile.ts";
import { dockerHash } from "../image/image_ref.ts";
import { obtainProxy } from "../image/proxy.ts";
import { CommandError, UsageError } from "./errors.ts";
import { isAbsolute, join, resolve } from "node:path";
import { formatBytes, type Progress } from "./progress.ts";

/** What `add` needs from the outside world. */
export interface AddDeps {
  /**
   * Resolves and reaches the registry (connects and asks a registry-service),
   * started while the image builds; `add` fails before pushing when it
   * rejects. Not called with `noAdd`.
   */
  reach(): Promise<void>;
  /** Registers the service; returns the registry-service's answer (e.g. `Added {svc: {...}}`). */
  register(name: string, info: ServiceInfo): Promise<string>;
  /** Writes the result (a newline is added). */
  stdout(text: string): void;
  /** Writes warnings (a newline is added). */
  stderr(text: string): void;
  /** Where progress goes: steps, the Dockerfile, docker's, git's and the build's output. */
  progress: Progress;
  /** Environment for docker and git (PATH, DOCKER_HOST, HOME for docker login credentials). */
  env: Record<string, string | undefined>;
}

/** What to add, from the command line (see `commands/add.ts`). */
export interface AddOptions {
  /** The add config (JSON). */
  configPath: string;
  /** The image to build (or pull) and push. */
  imageName: string;
  /** The name to register. */
  serviceName: string;
  /** Directory the config's Copy sources are relative to. */
  dir: string;
  /** A proxy executable to use instead of building one. */
  customProxy?: string;
  /** Proxy git ref to build. */
  proxyVersion?: string;
  /** Proxy git repository. */
  proxyRepo?: string;
  /** Shell command that builds the proxy. */
  proxyBuild?: string;
  /** Command that starts the proxy in the image. */
  proxyCmd?: string;
  /** Build (or pull) only. */
  noAdd: boolean;
  /** Pull and register an existing image instead of building. */
  useExistingImage: boolean;
  /** A content hash to register instead of hashing the image. */
  contentId?: string;
  /** Print the result as one JSON object. */
  json: boolean;
}

/** What `add -json` prints: one object. */
export interface AddResult {
  /** The service name. */
  service: string;
  /** The image built (or pulled). */
  image: string;
  /** Its local image ID. */
  imageId: string;
  /** Whether it was pushed and registered (not with `-no-add`). */
  registered: boolean;
  /** The registered entry. */
  info?: ServiceInfo;
  /** The registry-service's answer. */
  response?: string;
}

/** Fails when the image behind `name` is no longer `id` (rebuilt or retagged meanwhile). */
async function ensureSameImage(
  docker: Docker,
  name: string,
  id: string,
  step: string,
): Promise<void> {
  const now = await docker.imageId(name);
  if (now !== id) {
    throw new DockerError(
      `${name} changed during ${step} (was ${id}, now ${now}); another build or tag ` +
        `replaced it. Run add again.`,
    );
  }
}

/**
 * Runs `registry-cli add`: builds the image from the config (or pulls it with
 * `useExistingImage`), hashes the exact image that is pushed, pushes it and
 * registers the service. Prints progress, the generated Dockerfile, then
 * `Response:` and the registry's answer. Nothing is registered when any step
 * fails.
 *
 * @param options What to add (see `commands/add.ts` for the flags).
 * @param deps Registration, output and environment.
 * @throws {CommandError} When a step fails (config, proxy, docker, registration); `cause` holds the original error.
 *
 * @example
 * ```ts ignore
 * import { runAdd } from "./add.ts";
 * await runAdd({
 *   configPath: "svc/config.json",
 *   imageName: "localhost:5000/svc:1.0",
 *   serviceName: "svc",
 *   dir: "svc",
 *   customProxy: "proxy",
 *   noAdd: false,
 *   useExistingImage: false,
 * }, {
 *   register: (name, info) => Promise.resolve(`Added {${name}: ${JSON.stringify(info)}}`),
 *   stdout: (t) => console.log(t),
 *   stderr: (t) => console.error(t),
 *   env: Deno.env.toObject(),
 * });
 * ```
 */
export async function runAdd(options: AddOptions, deps: AddDeps): Promise<void> {
  try {
    await add(options, deps);
  } catch (error) {
    if (error instanceof UsageError || error instanceof CommandError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new CommandError(`add ${options.serviceName} failed: ${message}`, { cause: error });
  }
}

/**
 * The config's text. A missing one says where it was looked for: `<config>`
 * is relative to the current directory, not to `-dir` (a likely mix-up).
 */
async function readConfig(path: string, dir: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (cause) {
    let where = "";
    if (cause instanceof Deno.errors.NotFound && !isAbsolute(path)) {
      const underDir = join(dir, path);
      const found = dir !== "." && await Deno.stat(underDir).then(() => true, () => false);
      where = ` (looked for ${resolve(path)}: <config> is relative to the current directory; ` +
        `-dir ${dir} is where the config's Copy sources are${
          found ? `; did you mean ${underDir}?` : ""
        })`;
    }
    throw new AddConfigError(`cannot read config ${path}: ${(cause as Error).message}${where}`, {
      cause,
    });
  }
}

async function add(options: AddOptions, deps: AddDeps): Promise<void> {
  const { imageName, serviceName, json } = options;
  const { progress } = deps;
  const configText = await readConfig(options.configPath, options.dir);
  const { config, warnings } = parseAddConfig(configText, options.configPath);
  for (const warning of warnings) deps.stderr(`warning: ${warning}`);

  // The registry is looked for while the image builds; it must answer before anything is pushed.
  const reached = options.noAdd ? undefined : deps.reach();
  reached?.catch(() => {}); // awaited below
  const docker = new Docker({ env: deps.env, onOutput: progress.output });
  let imageId: string;
  let pulledDigest: string | undefined;
  if (options.useExistingImage) {
    await docker.checkEngine();
    progress.line(`Pulling ${imageName}`);
    pulledDigest = await docker.pull(imageName);
    imageId = await docker.imageId(imageName);
  } else {
    // Everything the config can get wrong is checked before the proxy or image is built.
    const copies: CopySource[] = await resolveCopySources(config.DockerConf.Copy, options.dir);
    const dockerfile = renderDockerfile(config.DockerConf, {
      serviceName,
      proxyCmd: options.proxyCmd,
    });
    await docker.checkEngine();
    await using context = await createBuildContext({
      dockerfile,
      proxyConf: renderProxyConf(config.NetworkSoftReq, config.NetworkHardReq),
      copies,
    });
    progress.line(
      options.customProxy !== undefined ? `Using proxy ${options.customProxy}` : "Getting proxy",
    );
    await obtainProxy({
      customProxy: options.customProxy,
      repo: options.proxyRepo,
      version: options.proxyVersion,
      build: options.proxyBuild,
      env: deps.env,
      onOutput: progress.output,
    }, context.proxyPath);
    progress.done();
    progress.line(`Dockerfile:\n${dockerfile}`);
    progress.line(`Building ${imageName}`);
    imageId = await docker.build(context.dir, imageName);
    progress.done();
    progress.line(`Built ${imageName} (${imageId})`);
  }
  const result: AddResult = { service: serviceName, image: imageName, imageId, registered: false };
  if (reached === undefined) {
    progress.line("-no-add given: not pushing or registering");
    deps.stdout(json ? JSON.stringify(result) : `Built ${imageName} (${imageId})`);
    return;
  }
  try {
    await reached;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new CommandError(
      `add ${serviceName}: the registry cannot be reached, so nothing was pushed or ` +
        `registered: ${(error as Error).message}`,
      { cause: error },
    );
  }

  let hash = options.contentId;
  if (hash === undefined) {
    hash = await hashImage(docker, imageName, progress);
    await ensureSameImage(docker, imageName, imageId, "hashing");
  }
  progress.line(`Content hash: ${hash}`);

  let digest = pulledDigest;
  if (digest === undefined) {
    progress.line(`Pushing ${imageName}`);
    digest = await docker.push(imageName);
    progress.done();
    await ensureSameImage(docker, imageName, imageId, "pushing");
  }
  const info = validateServiceInfo({
    ContentHash: hash,
    DockerHash: dockerHash(imageName, digest),
    NetworkSoftReq: config.NetworkSoftReq,
    NetworkHardReq: config.NetworkHardReq,
    CpuReq: config.CpuReq,
    MemoryReq: config.MemoryReq,
  });
  progress.line(`Docker hash: ${info.DockerHash}`);
  progress.line(`Registering ${serviceName}`);
  const answer = await deps.register(serviceName, info);
  deps.stdout(
    json
      ? JSON.stringify({ ...result, registered: true, info, response: answer })
      : `Response:\n${answer}`,
  );
}

/** The content hash of `docker save` of the image, with bytes done / total as progress. */
async function hashImage(docker: Docker, imageName: string, progress: Progress): Promise<string> {
  const total = await docker.imageSize(imageName);
  progress.line(`Hashing ${imageName} (docker save, about ${formatBytes(total)})`);
  await using save = docker.save(imageName);
  let done = 0;
  const counted = save.stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        done += chunk.length;
        progress.status(`Hashing: ${formatBytes(done)} of about ${formatBytes(total)}`);
        controller.enqueue(chunk);
      },
    }),
  );
  const [hash] = await Promise.all([contentHash(counted), save.done]);
  progress.status(`Hashing: ${formatBytes(done)} done`);
  progress.done();
  return hash;
}
