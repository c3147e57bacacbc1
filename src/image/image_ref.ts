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
 * import { repositoryOf } from "./image_ref.ts";
 * console.assert(repositoryOf("localhost:5000/team/svc:1.0") === "localhost:5000/team/svc");
 * console.assert(repositoryOf("localhost:5000/team/svc") === "localhost:5000/team/svc");
 * console.assert(repositoryOf("svc@sha256:" + "0".repeat(64)) === "svc");
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
 * import { dockerHash } from "./image_ref.ts";
 * const digest = "sha256:" + "ab".repeat(32);
 * console.assert(dockerHash("localhost:5000/team/svc:1.0", digest) === `localhost:5000/team/svc@${digest}`);
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
 * import { registryOf } from "./image_ref.ts";
 * console.assert(registryOf("localhost:5000/team/svc:1.0") === "localhost:5000");
 * console.assert(registryOf("team/svc") === "docker.io");
 * ```
 */
export function registryOf(imageName: string): string {
  const first = imageName.split("/", 1)[0];
  const isHost = imageName.includes("/") &&
    (first.includes(".") || first.includes(":") || first === "localhost");
  return isHost ? first : "docker.io";
}
