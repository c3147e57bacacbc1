/**
 * The CLI's identity: one Ed25519 key kept in the user's config directory
 * (or `-keyfile`), so that the peer id a write policy checks and history
 * records is the same on every run.
 *
 * @module
 */
import { type LoadedIdentity, loadOrCreateIdentity } from "../p2p/identity.ts";
import { CommandError } from "./errors.ts";

/** The key file under the config directory. */
const KEY_FILE_NAME = "physarum/registry-cli.key";

/**
 * Where the CLI keeps its key when `-keyfile` is not given:
 * `$XDG_CONFIG_HOME/physarum/registry-cli.key`, else
 * `$HOME/.config/physarum/registry-cli.key`; `undefined` when neither
 * variable is set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultKeyFile } from "./identity.ts";
 * assert.equal(defaultKeyFile({ HOME: "/home/a" }), "/home/a/.config/physarum/registry-cli.key");
 * assert.equal(
 *   defaultKeyFile({ XDG_CONFIG_HOME: "/cfg", HOME: "/home/a" }),
 *   "/cfg/physarum/registry-cli.key",
 * );
 * assert.equal(defaultKeyFile({}), undefined);
 * ```
 */
export function defaultKeyFile(env: Record<string, string | undefined>): string | undefined {
  // The XDG spec ignores a relative XDG_CONFIG_HOME.
  const xdg = env.XDG_CONFIG_HOME;
  if (xdg?.startsWith("/")) return `${xdg}/${KEY_FILE_NAME}`;
  if (env.HOME) return `${env.HOME}/.config/${KEY_FILE_NAME}`;
  return undefined;
}

/**
 * Loads the CLI's key from `keyFile` (else {@linkcode defaultKeyFile}),
 * creating an Ed25519 key there (mode 0600, directory 0700) on first use.
 *
 * @throws {CommandError} When there is no key file and no config directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadCliIdentity } from "./identity.ts";
 * const dir = await Deno.makeTempDir();
 * const first = await loadCliIdentity(undefined, { XDG_CONFIG_HOME: dir });
 * const again = await loadCliIdentity(`${dir}/physarum/registry-cli.key`, {});
 * assert.equal(first.source, "created");
 * assert.ok(again.key.equals(first.key));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadCliIdentity(
  keyFile: string | undefined,
  env: Record<string, string | undefined>,
): Promise<LoadedIdentity> {
  const path = keyFile ?? defaultKeyFile(env);
  if (path === undefined) {
    throw new CommandError(
      "no place for the CLI's key: give -keyfile <path>, or set HOME or XDG_CONFIG_HOME",
    );
  }
  return await loadOrCreateIdentity({ keyFile: path, algorithm: "Ed25519", home: env.HOME });
}
