/**
 * Who may change a registry entry: the write policy (`open`, the original's
 * behaviour, or `owner`: only a name's owner or an admin may overwrite or
 * delete it) and the admins.
 *
 * The policy decides; the store applies the decision inside the
 * transaction that writes, against the owner it compares there (see
 * `WriteAuthor` in `registry_store.ts`).
 *
 * @module
 */
import type { WriteAuthor, WriteChange } from "../store/registry_store.ts";
import { validatePeerId } from "../protocol/messages.ts";

/** `open`: anyone may write any name; `owner`: only its owner or an admin may change a name. */
export type WritePolicyMode = "open" | "owner";

/** The write policy modes, for flag parsing. */
export const WRITE_POLICY_MODES: readonly WritePolicyMode[] = ["open", "owner"];

/** Settings of a {@linkcode WritePolicy}. */
export interface WritePolicyInit {
  /** The mode (default `open`). */
  mode?: WritePolicyMode;
  /** Peer ids that may change and give away any name. */
  admins?: Iterable<string>;
}

/**
 * A write policy: makes the {@linkcode WriteAuthor} a request's writes are
 * checked as. Under both modes a name's first put records its owner, and
 * `chown` needs the owner or an admin (a name with no owner: an admin).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WritePolicy } from "./policy.ts";
 * const A = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
 * const B = "12D3KooWJbtXzDZKLruaNjroQ5cAJQL6QDofLLkERixdhTmNzYu7";
 * const policy = new WritePolicy({ mode: "owner" });
 * assert.equal(policy.author(A).refusal({ op: "put", name: "svc", owner: undefined }), undefined);
 * assert.equal(policy.author(A).refusal({ op: "put", name: "svc", owner: A }), undefined);
 * assert.match(
 *   policy.author(B).refusal({ op: "delete", name: "svc", owner: A })!,
 *   /^not authorized: "svc" is owned by 12D3KooWD3e.*; only its owner or an admin may change it$/,
 * );
 * const open = new WritePolicy({ mode: "open", admins: [B] });
 * assert.equal(open.author(B).refusal({ op: "put", name: "svc", owner: A }), undefined);
 * assert.match(open.author(A).refusal({ op: "chown", name: "x", owner: undefined })!, /admin/);
 * assert.equal(open.author(B).refusal({ op: "chown", name: "x", owner: A }), undefined);
 * ```
 */
export class WritePolicy {
  /** The mode. */
  readonly mode: WritePolicyMode;
  readonly #admins: ReadonlySet<string>;

  /** @param init Mode and admins (peer ids, checked). */
  constructor(init: WritePolicyInit = {}) {
    this.mode = init.mode ?? "open";
    this.#admins = new Set([...init.admins ?? []].map(validatePeerId));
  }

  /** Number of admins. */
  get adminCount(): number {
    return this.#admins.size;
  }

  /** Whether `peer` is an admin. */
  isAdmin(peer: string): boolean {
    return this.#admins.has(peer);
  }

  /** The author that `peer`'s writes are checked as. */
  author(peer: string): WriteAuthor {
    return { peer, refusal: (change) => this.refusal(peer, change) };
  }

  /** Why `peer` may not make `change`; `undefined` when it may. */
  refusal(peer: string, change: WriteChange): string | undefined {
    const { name, owner } = change;
    if (owner === peer || this.#admins.has(peer)) return undefined;
    const quoted = JSON.stringify(name);
    if (change.lookAlike) {
      // Under either mode: a name that can pass for another's would impersonate it everywhere.
      const other = change.lookAlike;
      return `not authorized: ${quoted} looks like ${JSON.stringify(other.name)} (` +
        (other.owner === undefined ? "which has no owner" : `owned by ${other.owner}`) +
        "); a name that can pass for another's is refused: choose a distinct name, or ask an admin";
    }
    if (change.op === "chown") {
      return owner === undefined
        ? `not authorized: ${quoted} has no owner; only an admin may give it one`
        : `not authorized: ${quoted} is owned by ${owner}; only its owner or an admin may ` +
          "give it to another owner";
    }
    if (this.mode === "open" || owner === undefined) return undefined;
    return `not authorized: ${quoted} is owned by ${owner}; only its owner or an admin may ` +
      "change it";
  }
}

/**
 * Reads the peer ids of an admins file: one per line; blank lines and `#`
 * comments (whole-line or trailing) are ignored.
 *
 * @throws {TypeError} Naming the line of anything that is not a peer id.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseAdmins } from "./policy.ts";
 * const id = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
 * assert.deepEqual(parseAdmins(`# ops team\n${id}  # alice\n\n`, "admins.txt"), [id]);
 * assert.throws(() => parseAdmins("alice\n", "admins.txt"), /admins.txt:1: not a peer id/);
 * ```
 */
export function parseAdmins(text: string, source: string): string[] {
  const admins: string[] = [];
  for (const [index, line] of text.split(/\r?\n/).entries()) {
    const id = line.replace(/#.*/, "").trim();
    if (id === "") continue;
    try {
      admins.push(validatePeerId(id));
    } catch (err) {
      throw new TypeError(`${source}:${index + 1}: ${(err as Error).message}`, { cause: err });
    }
  }
  return admins;
}

/**
 * Reads an admins file (see {@linkcode parseAdmins}).
 *
 * @example
 * ```ts ignore
 * const admins = await readAdminsFile("/etc/registry/admins");
 * ```
 */
export async function readAdminsFile(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new TypeError(`cannot read the admins file ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseAdmins(text, path);
}
