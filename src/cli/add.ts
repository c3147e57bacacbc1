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
import { DEFAULT_PROXY_BUILD, DEFAULT_PROXY_REPO, obtainProxy } from "../image/proxy.ts";
import { CommandError, UsageError } from "./errors.ts";
import { type FlagSpecs, formatFlags, parseGoFlags } from "./flags.ts";

/** The `add` command's flags. */
/**
 * The `add` command's flags. `multiple: false` is spelled out because `node:util`
 * parseArgs in Deno rejects an undefined `multiple`.
 */
export const ADD_FLAGS: FlagSpecs = {
  dir: {
    type: "string",
    multiple: false,
    valueName: "path",
    description: "directory the config's Copy sources are relative to",
    defaultText: ".",
  },
  "custom-proxy": {
    type: "string",
    multiple: false,
    valueName: "path",
    description: "use this proxy executable instead of building one from git",
  },
  "proxy-version": {
    type: "string",
    multiple: false,
    valueName: "git ref",
    description:
      "proxy version to build: commit, branch or tags/<name> (default: the default branch)",
  },
  "proxy-repo": {
    type: "string",
    multiple: false,
    valueName: "url",
    description: "git repository of the proxy source",
    defaultText: DEFAULT_PROXY_REPO,
  },
  "proxy-build": {
    type: "string",
    multiple: false,
    valueName: "command",
    description: "shell command that builds proxy/proxy, run in the repository's proxy/ folder",
    defaultText: `"${DEFAULT_PROXY_BUILD}"`,
  },
  "proxy-cmd": {
    type: "string",
    multiple: false,
    valueName: "command",
    description: "command that starts the proxy in the image, replacing the default one",
  },
  "no-add": {
    type: "boolean",
    multiple: false,
    description: "build (or pull) the image only; do not hash, push or register it",
  },
  "use-existing-image": {
    type: "boolean",
    multiple: false,
    description: "do not build: pull <image-name> and register that image",
  },
  "content-id": {
    type: "string",
    multiple: false,
    valueName: "string",
    description: "register this content hash instead of hashing the image",
  },
  help: { type: "boolean", multiple: false, description: "show this help" },
};

/** Usage text of the `add` command. */
export const ADD_USAGE: string =
  `Usage: registry-cli add [options] <config> <image-name> <service-name>

Builds a Docker image of the service with the proxy bundled, pushes it, computes its
content hash and registers <service-name> with the registry.

Options:
${formatFlags(ADD_FLAGS)}`;

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

interface AddOptions {
  configPath: string;
  imageName: string;
  serviceName: string;
  dir: string;
  customProxy?: string;
  proxyVersion?: string;
  proxyRepo?: string;
  proxyBuild?: string;
  proxyCmd?: string;
  noAdd: boolean;
  useExistingImage: boolean;
  contentId?: string;
}

function parseOptions(args: string[]): AddOptions | undefined {
  const { values, positionals } = parseGoFlags(args, ADD_FLAGS, { command: "add" });
  if (values.help) return undefined;
  if (positionals.length !== 3) {
    const problem = positionals.length < 3 ? "missing" : "too many";
    throw new UsageError(
      `add: ${problem} arguments: want <config> <image-name> <service-name>, got ${positionals.length}`,
      "add",
    );
  }
  const [configPath, imageName, serviceName] = positionals;
  for (
    const [name, value] of Object.entries({
      config: configPath,
      "image-name": imageName,
      "service-name": serviceName,
    })
  ) {
    if (value.trim() === "") throw new UsageError(`add: <${name}> is empty`, "add");
  }
  const text = (name: string) => values[name] as string | undefined;
  if (text("content-id") === "") throw new UsageError("add: -content-id is empty", "add");
  return {
    configPath,
    imageName,
    serviceName,
    dir: text("dir") ?? ".",
    customProxy: text("custom-proxy"),
    proxyVersion: text("proxy-version"),
    proxyRepo: text("proxy-repo"),
    proxyBuild: text("proxy-build"),
    proxyCmd: text("proxy-cmd"),
    noAdd: values["no-add"] === true,
    useExistingImage: values["use-existing-image"] === true,
    contentId: text("content-id"),
  };
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
 * Runs `registry-cli add [options] <config> <image-name> <service-name>`:
 * builds `<image-name>` from the config (or pulls it with
 * `-use-existing-image`), hashes the exact image that is pushed, pushes it
 * and registers `<service-name>`. Prints progress, the generated Dockerfile,
 * then `Response:` and the registry's answer. Nothing is registered when any
 * step fails.
 *
 * @param args The arguments after `add`.
 * @param deps Registration, output and environment.
 * @throws {UsageError} On missing or extra arguments or unknown flags.
 * @throws {CommandError} When a step fails (config, proxy, docker, registration); `cause` holds the original error.
 *
 * @example
 * ```ts ignore
 * import { runAdd } from "./add.ts";
 * await runAdd(["-dir", "svc", "-custom-proxy", "proxy", "svc/config.json", "localhost:5000/svc:1.0", "svc"], {
 *   register: (name, info) => Promise.resolve(`Added {${name}: ${JSON.stringify(info)}}`),
 *   stdout: (t) => console.log(t),
 *   stderr: (t) => console.error(t),
 *   env: Deno.env.toObject(),
 * });
 * ```
 */
export async function runAdd(args: string[], deps: AddDeps): Promise<void> {
  const options = parseOptions(args);
  if (options === undefined) {
    deps.stdout(ADD_USAGE);
    return;
  }
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
