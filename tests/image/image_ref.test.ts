import { equal, throws } from "node:assert/strict";
import { dockerHash, registryOf, repositoryOf } from "../../src/image/image_ref.ts";

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
