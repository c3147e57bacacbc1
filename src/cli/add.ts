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

/** What `add` needs from the outside world. */
export interface AddDeps {
  /** Registers the service; returns the registry-service's answer (e.g. `Added {svc: {...}}`). */
  register(name: string, info: ServiceInfo): Promise<string>;
  /** Writes progress and results. */
  stdout(text: string): void;
  /** Writes warnings. */
  stderr(text: string): void;
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

async function add(options: AddOptions, deps: AddDeps): Promise<void> {
  const { imageName, serviceName } = options;
  let configText: string;
  try {
    configText = await Deno.readTextFile(options.configPath);
  } catch (cause) {
    throw new AddConfigError(
      `cannot read config ${options.configPath}: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  const { config, warnings } = parseAddConfig(configText, options.configPath);
  for (const warning of warnings) deps.stderr(`warning: ${warning}`);

  const docker = new Docker({ env: deps.env, onOutput: (text) => deps.stdout(text.trimEnd()) });
  let imageId: string;
  let pulledDigest: string | undefined;
  if (options.useExistingImage) {
    await docker.checkEngine();
    deps.stdout(`Pulling ${imageName}`);
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
    deps.stdout(
      options.customProxy !== undefined ? `Using proxy ${options.customProxy}` : "Getting proxy",
    );
    await obtainProxy({
      customProxy: options.customProxy,
      repo: options.proxyRepo,
      version: options.proxyVersion,
      build: options.proxyBuild,
      env: deps.env,
      onOutput: (text) => deps.stdout(text.trimEnd()),
    }, context.proxyPath);
    deps.stdout(`Dockerfile:\n${dockerfile}`);
    deps.stdout(`Building ${imageName}`);
    imageId = await docker.build(context.dir, imageName);
    deps.stdout(`Built ${imageName} (${imageId})`);
  }
  if (options.noAdd) {
    deps.stdout("-no-add given: not pushing or registering");
    return;
  }

  let hash = options.contentId;
  if (hash === undefined) {
    deps.stdout(`Hashing ${imageName} (docker save)`);
    const { stream, done } = docker.save(imageName);
    [hash] = await Promise.all([contentHash(stream), done]);
    await ensureSameImage(docker, imageName, imageId, "hashing");
  }
  deps.stdout(`Content hash: ${hash}`);

  let digest = pulledDigest;
  if (digest === undefined) {
    deps.stdout(`Pushing ${imageName}`);
    digest = await docker.push(imageName);
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
  deps.stdout(`Docker hash: ${info.DockerHash}`);
  deps.stdout(`Registering ${serviceName}`);
  const answer = await deps.register(serviceName, info);
  deps.stdout(`Response:\n${answer}`);
}
