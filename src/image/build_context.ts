/**
 * The directory `docker build` runs on: Dockerfile, conf.json, the proxy and
 * the config's Copy sources at their relative paths.
 *
 * @module
 */
import { dirname, join } from "node:path";
import type { CopySource } from "./add_config.ts";

/** What goes into a build context (besides the proxy, written by the caller). */
export interface BuildContextFiles {
  /** The Dockerfile text. */
  dockerfile: string;
  /** The proxy's conf.json text. */
  proxyConf: string;
  /** Checked Copy sources, copied to their `source` path inside the context. */
  copies: readonly CopySource[];
}

/** A build context on disk; disposing it removes it. */
export interface BuildContext extends AsyncDisposable {
  /** The context directory. */
  dir: string;
  /** Where the proxy executable belongs (`<dir>/proxy`). */
  proxyPath: string;
}

async function copyInto(from: string, to: string): Promise<void> {
  await Deno.mkdir(dirname(to), { recursive: true });
  // cp -a keeps modes (executables stay executable) and copies directories whole; -T merges
  // into a directory an earlier Copy entry already made instead of nesting inside it.
  const out = await new Deno.Command("cp", { args: ["-aT", from, to], stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(
      `copying ${from} into the build context failed: ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
}

/**
 * Creates a temporary build context holding `Dockerfile`, `conf.json` and
 * each Copy source at its relative path (files and directories). The caller
 * writes the proxy to {@linkcode BuildContext.proxyPath}. Use with
 * `await using` so the directory is removed afterwards.
 *
 * @param files The generated texts and the checked Copy sources.
 * @returns The context; dispose it to remove the directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createBuildContext } from "./build_context.ts";
 * await using context = await createBuildContext({ dockerfile: "FROM scratch\n", proxyConf: "{}", copies: [] });
 * assert.ok((await Deno.readTextFile(`${context.dir}/Dockerfile`)).startsWith("FROM"));
 * ```
 */
export async function createBuildContext(files: BuildContextFiles): Promise<BuildContext> {
  const dir = await Deno.makeTempDir({ prefix: "registry-cli-build-" });
  const context: BuildContext = {
    dir,
    proxyPath: join(dir, "proxy"),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
  try {
    await Deno.writeTextFile(join(dir, "Dockerfile"), files.dockerfile);
    await Deno.writeTextFile(join(dir, "conf.json"), files.proxyConf);
    for (const copy of files.copies) await copyInto(copy.path, join(dir, copy.source));
    return context;
  } catch (error) {
    await context[Symbol.asyncDispose]();
    throw error;
  }
}
