/**
 * `registry-cli add <config> <image-name> <service-name>`: its options and
 * their checks. The build itself (`../add.ts`, with Docker and hashing) loads
 * only when the command runs.
 *
 * @module
 */
import type { Command } from "../command.ts";
import type { ParsedFlags } from "../flags.ts";
import { UsageError } from "../errors.ts";
import type { AddOptions } from "../add.ts";
import { DEFAULT_PROXY_BUILD, DEFAULT_PROXY_REPO } from "../../image/proxy.ts";
import { createProgress } from "../progress.ts";
import { ServiceNotFoundError } from "../../client/errors.ts";

/**
 * Checks `add`'s arguments and flags and turns them into {@linkcode AddOptions}.
 *
 * @throws {UsageError} For an empty argument or `-content-id`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { addOptions } from "./add.ts";
 * const options = addOptions(["svc.json", "img:1", "svc"], { dir: "src" });
 * assert.equal(options.dir, "src");
 * assert.throws(() => addOptions(["svc.json", "", "svc"], {}), /<image-name> is empty/);
 * ```
 */
export function addOptions(args: readonly string[], flags: ParsedFlags["values"]): AddOptions {
  const [configPath, imageName, serviceName] = args;
  for (
    const [name, value] of Object.entries({
      config: configPath,
      "image-name": imageName,
      "service-name": serviceName,
    })
  ) {
    if (value.trim() === "") throw new UsageError(`<${name}> is empty`, "add");
  }
  const text = (name: string) => flags[name] as string | undefined;
  if (text("content-id") === "") throw new UsageError("-content-id is empty", "add");
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
    noAdd: flags["no-add"] === true,
    useExistingImage: flags["use-existing-image"] === true,
    contentId: text("content-id"),
    json: flags.json === true,
  };
}

/** The `add` command. */
export const addCommand: Command = {
  name: "add",
  args: ["<config>", "<image-name>", "<service-name>"],
  summary: "build, push and register a service image",
  description:
    "Builds a Docker image of the service with the proxy bundled, pushes it, computes its\n" +
    "content hash and registers <service-name> with the registry.",
  flags: {
    dir: {
      type: "string",
      valueName: "path",
      description: "directory the config's Copy sources are relative to",
      defaultText: ".",
    },
    "custom-proxy": {
      type: "string",
      valueName: "path",
      description: "use this proxy executable instead of building one from git",
    },
    "proxy-version": {
      type: "string",
      valueName: "git ref",
      description:
        "proxy version to build: commit, branch or tags/<name> (default: the default branch)",
    },
    "proxy-repo": {
      type: "string",
      valueName: "url",
      description: "git repository of the proxy source",
      defaultText: DEFAULT_PROXY_REPO,
    },
    "proxy-build": {
      type: "string",
      valueName: "command",
      description: "shell command that builds proxy/proxy, run in the repository's proxy/ folder",
      defaultText: `"${DEFAULT_PROXY_BUILD}"`,
    },
    "proxy-cmd": {
      type: "string",
      valueName: "command",
      description: "command that starts the proxy in the image, replacing the default one",
    },
    "no-add": {
      type: "boolean",
      description: "build (or pull) the image only; do not hash, push or register it",
    },
    "use-existing-image": {
      type: "boolean",
      description: "do not build: pull <image-name> and register that image",
    },
    "content-id": {
      type: "string",
      valueName: "string",
      description: "register this content hash instead of hashing the image",
    },
    q: {
      type: "boolean",
      description: "quiet: no progress on stderr, only the result (and warnings)",
    },
  },
  async run(args, flags, ctx) {
    const options = addOptions(args, flags);
    options.json ||= ctx.json;
    // Bootstrap mistakes are usage errors before anything is built.
    if (!options.noAdd) await ctx.checkRegistry();
    const { runAdd } = await import("../add.ts");
    const { io } = ctx;
    await runAdd(options, {
      reach: async () => {
        const signal = AbortSignal.timeout(ctx.timeoutMs);
        const client = await ctx.client(signal);
        // Any answer will do, "not registered" included: a registry-service is there.
        await client.get(options.serviceName, signal).catch((err) => {
          if (!(err instanceof ServiceNotFoundError)) throw err;
        });
      },
      register: async (name, info) => {
        const signal = AbortSignal.timeout(ctx.timeoutMs);
        return await (await ctx.client(signal)).add(name, info, signal);
      },
      stdout: io.stdout,
      stderr: io.stderr,
      progress: createProgress({
        write: io.stderrRaw ?? ((text) => io.stderr(text.replace(/\n$/, ""))),
        isTerminal: io.stderrRaw !== undefined && io.stderrIsTerminal === true,
      }, { quiet: flags.q === true }),
      env: io.env,
    });
    return 0;
  },
};
