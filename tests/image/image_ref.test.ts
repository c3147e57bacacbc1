import { equal, throws } from "node:assert/strict";
import {
  dockerHash,
  isImageReference,
  parseImageReference,
  registryOf,
  repositoryOf,
} from "../../src/image/image_ref.ts";

const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;

Deno.test("repositoryOf strips tags and digests but keeps registry ports", () => {
  equal(repositoryOf("localhost:5000/team/svc:1.0"), "localhost:5000/team/svc");
  equal(repositoryOf("localhost:5000/team/svc"), "localhost:5000/team/svc");
  equal(repositoryOf("127.0.0.1:5000/svc:latest"), "127.0.0.1:5000/svc");
  equal(repositoryOf("user/repo:v2"), "user/repo");
  equal(repositoryOf("repo"), "repo");
  equal(repositoryOf(`localhost:5000/team/svc@${DIGEST}`), "localhost:5000/team/svc");
  equal(repositoryOf(`team/svc:1.0@${DIGEST}`), "team/svc");
});

Deno.test("dockerHash joins repository and digest", () => {
  equal(dockerHash("localhost:5000/team/svc:1.0", DIGEST), `localhost:5000/team/svc@${DIGEST}`);
  equal(dockerHash(`a/b@${DIGEST}`, DIGEST), `a/b@${DIGEST}`);
  throws(() => dockerHash("a/b", "sha256:xyz"), TypeError);
});

Deno.test("registryOf names the host docker login needs", () => {
  equal(registryOf("localhost:5000/team/svc:1.0"), "localhost:5000");
  equal(registryOf("registry.example.com/svc"), "registry.example.com");
  equal(registryOf("localhost/svc"), "localhost");
  equal(registryOf("team/svc:1.0"), "docker.io");
  equal(registryOf("svc"), "docker.io");
});

/** parseImageReference's verdict, the reference of the fast check. */
function parses(reference: string): boolean {
  try {
    parseImageReference(reference);
    return true;
  } catch {
    return false;
  }
}

Deno.test("isImageReference accepts exactly what parseImageReference accepts", () => {
  const hex64 = "0f".repeat(32);
  const cases = [
    // Valid: by tag, by digest, both; hosts, ports, IPv6, nested paths, separators.
    "nginx:1.27",
    "registry.example.com:5000/team/sub/svc:v1.2-rc_3",
    `localhost:5000/team/svc@sha256:${hex64}`,
    `svc:1@sha256:${hex64}`,
    `[::1]:5000/svc:1`,
    `a.b-c.d/x__y/z.w-v:latest`,
    `a/b@sha512:${"ab".repeat(64)}`,
    `a/b@md5+x.y:${"ab".repeat(16)}`,
    `svc:${"t".repeat(128)}`,
    `${"a/".repeat(126)}b:1`,
    // Invalid: no tag or digest, bad names, tags, digests, lengths, stray characters.
    "nginx",
    "team/Svc:1",
    "svc@sha256:00",
    "svc:-bad",
    "svc:1 ; rm -rf /",
    `svc:${"t".repeat(129)}`,
    `${"a/".repeat(127)}b:1`,
    `${"a/".repeat(127)}b@sha256:${hex64}`,
    `svc@sha256:${hex64.toUpperCase()}`,
    `svc@sha256:${hex64}0`,
    `svc@@sha256:${hex64}`,
    `svc:1@sha256:${hex64}@x`,
    "svc:1:2",
    "localhost:5000/svc",
    "localhost:5000:1/svc:1",
    "-svc:1",
    "svc-:1",
    "a//b:1",
    "a/:1",
    ":1",
    "@sha256:" + hex64,
    "svc:",
    "svc@",
    "",
    "svc:1\n",
    "svc\u00e9:1",
    "svc:1\u0000",
    "a..b:1",
    "a.__b:1",
    "[::1/svc:1",
    "a_/b:1",
  ];
  for (const reference of cases) {
    equal(isImageReference(reference), parses(reference), JSON.stringify(reference));
  }
  // And over references built from random pieces of the grammar and beyond it.
  // Mostly name characters, so that both verdicts are common.
  const pieces = [
    ..."abcdefgh0123".split(""),
    ..."./_-".split(""),
    "__",
    "--",
    "/",
    "/",
    "localhost:5000/",
    "[::1]:5/",
    ":",
    "@",
    "Z",
    "é",
    " ",
    "[",
  ];
  let seed = 7;
  const random = (n: number) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  let valid = 0;
  for (let i = 0; i < 20_000; i++) {
    let reference = Array.from({ length: 1 + random(8) }, () => pieces[random(pieces.length)]).join(
      "",
    );
    const tail = random(4);
    if (tail === 1) reference += `@sha256:${hex64}`;
    if (tail === 2) reference += `:v${random(100)}`;
    if (tail === 3) reference += `:v${random(100)}@sha256:${hex64}`;
    const verdict = parses(reference);
    if (verdict) valid++;
    equal(isImageReference(reference), verdict, JSON.stringify(reference));
  }
  // The random references cover both verdicts.
  equal(valid > 1_000 && valid < 19_000, true, `${valid} valid of 20000`);
});
