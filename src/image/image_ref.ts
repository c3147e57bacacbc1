/**
 * Docker image references: turning `name[:tag]` plus a digest into the
 * registry's DockerHash (`name@sha256:...`).
 *
 * @module
 */

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * Returns the repository part of an image reference: the name without its
 * tag or digest. A registry host's port is not a tag.
 *
 * @param imageName An image reference such as `localhost:5000/team/svc:1.0`.
 * @returns The repository, e.g. `localhost:5000/team/svc`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { repositoryOf } from "./image_ref.ts";
 * assert.ok(repositoryOf("localhost:5000/team/svc:1.0") === "localhost:5000/team/svc");
 * assert.ok(repositoryOf("localhost:5000/team/svc") === "localhost:5000/team/svc");
 * assert.ok(repositoryOf("svc@sha256:" + "0".repeat(64)) === "svc");
 * ```
 */
export function repositoryOf(imageName: string): string {
  const withoutDigest = imageName.split("@", 1)[0];
  const slash = withoutDigest.lastIndexOf("/");
  const colon = withoutDigest.lastIndexOf(":");
  // Only a colon in the last path component starts a tag; one before a "/" is a port.
  return colon > slash ? withoutDigest.slice(0, colon) : withoutDigest;
}

/**
 * Builds the DockerHash the registry stores: repository, `@`, digest.
 *
 * @param imageName The image reference that was pushed or pulled (tag allowed).
 * @param digest The manifest digest, `sha256:<64 hex>`.
 * @returns `<repository>@<digest>`.
 * @throws {TypeError} When `digest` is not a sha256 digest.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dockerHash } from "./image_ref.ts";
 * const digest = "sha256:" + "ab".repeat(32);
 * assert.ok(dockerHash("localhost:5000/team/svc:1.0", digest) === `localhost:5000/team/svc@${digest}`);
 * ```
 */
export function dockerHash(imageName: string, digest: string): string {
  if (!DIGEST.test(digest)) throw new TypeError(`not a sha256 digest: ${digest}`);
  return `${repositoryOf(imageName)}@${digest}`;
}

/**
 * Returns the registry host an image reference points at, as `docker login`
 * expects it (`docker.io` when the name has no registry host).
 *
 * @param imageName An image reference.
 * @returns The registry host, with its port if any.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { registryOf } from "./image_ref.ts";
 * assert.ok(registryOf("localhost:5000/team/svc:1.0") === "localhost:5000");
 * assert.ok(registryOf("team/svc") === "docker.io");
 * ```
 */
export function registryOf(imageName: string): string {
  const first = imageName.split("/", 1)[0];
  const isHost = imageName.includes("/") &&
    (first.includes(".") || first.includes(":") || first === "localhost");
  return isHost ? first : "docker.io";
}

/** The parts of a Docker image reference; see {@linkcode parseImageReference}. */
export interface ImageReference {
  /** The repository, with its registry host if any: `localhost:5000/team/svc`. */
  name: string;
  /** The tag, when the reference has one. */
  tag?: string;
  /** The digest (`<algorithm>:<hex>`), when the reference has one. */
  digest?: string;
}

// The grammar of github.com/distribution/reference, which `docker pull` uses.
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const NAME = new RegExp(`^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const ANY_DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const NAME_MAX = 255;
/**
 * The common case in one pass: `name[:tag]@sha256:<64 lowercase hex>` or
 * `name:tag`. What it matches, {@linkcode parseImageReference} accepts: a tag
 * holds no `:` or `/` and a name holds a `:` only in a registry host's port,
 * before a `/`, so its split is the one `repositoryOf` makes.
 */
const COMMON = new RegExp(
  `^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*` +
    `(?::[\\w][\\w.-]{0,127}(?:@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})$`,
);

/**
 * Whether `reference` is a well-formed image reference by tag or digest:
 * exactly what {@linkcode parseImageReference} accepts, checked in one
 * regular expression for the common shapes (a listing checks thousands).
 *
 * @param reference The reference, e.g. `localhost:5000/team/svc@sha256:<64 hex>`.
 * @returns Whether it is valid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isImageReference } from "./image_ref.ts";
 * assert.equal(isImageReference(`svc@sha256:${"ab".repeat(32)}`), true);
 * assert.equal(isImageReference("nginx"), false);
 * ```
 */
export function isImageReference(reference: string): boolean {
  // Within NAME_MAX as a whole, the name is too.
  if (reference.length <= NAME_MAX && COMMON.test(reference)) return true;
  try {
    parseImageReference(reference);
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses a Docker image reference (`name[:tag][@digest]`) by the grammar
 * `docker pull` uses, and requires a tag or a digest: what a node would run
 * must be named exactly.
 *
 * @param reference The reference, e.g. `localhost:5000/team/svc@sha256:<64 hex>`.
 * @returns Its parts.
 * @throws {TypeError} When it is not a well-formed reference by tag or digest.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseImageReference } from "./image_ref.ts";
 * const digest = "sha256:" + "ab".repeat(32);
 * assert.deepEqual(parseImageReference(`localhost:5000/team/svc@${digest}`), {
 *   name: "localhost:5000/team/svc",
 *   digest,
 * });
 * assert.deepEqual(parseImageReference("nginx:1.27"), { name: "nginx", tag: "1.27" });
 * assert.throws(() => parseImageReference("nginx"), /tag or a digest/);
 * assert.throws(() => parseImageReference("Team/Svc:1"), /not a valid image name/);
 * assert.throws(() => parseImageReference("svc@sha256:00"), /not a valid digest/);
 * ```
 */
export function parseImageReference(reference: string): ImageReference {
  const at = reference.indexOf("@");
  const digest = at < 0 ? undefined : reference.slice(at + 1);
  const withoutDigest = at < 0 ? reference : reference.slice(0, at);
  const name = repositoryOf(withoutDigest);
  const tag = name.length < withoutDigest.length ? withoutDigest.slice(name.length + 1) : undefined;
  if (!NAME.test(name) || name.length > NAME_MAX) {
    throw new TypeError(`not a valid image name: ${JSON.stringify(name.slice(0, 300))}`);
  }
  if (tag !== undefined && !TAG.test(tag)) {
    throw new TypeError(`not a valid image tag: ${JSON.stringify(tag.slice(0, 200))}`);
  }
  if (
    digest !== undefined &&
    (!ANY_DIGEST.test(digest) || (digest.startsWith("sha256:") && !DIGEST.test(digest)))
  ) {
    throw new TypeError(`not a valid digest: ${JSON.stringify(digest.slice(0, 200))}`);
  }
  if (tag === undefined && digest === undefined) {
    throw new TypeError(`image reference ${JSON.stringify(name)} needs a tag or a digest`);
  }
  return {
    name,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  };
}
