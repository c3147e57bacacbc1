import assert from "node:assert/strict";
import {
  bootstrapAddresses,
  InvalidBootstrapError,
  parseBootstraps,
} from "../../src/p2p/bootstrap.ts";

const ID = "12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8";

Deno.test("bootstraps: full multiaddrs parse, duplicates are dropped", () => {
  const a = `/ip4/127.0.0.1/tcp/4001/p2p/${ID}`;
  const parsed = parseBootstraps([a, a, ` ${a} `]);
  assert.equal(parsed.length, 1);
  assert.equal(parsed[0].peerId.toString(), ID);
});

Deno.test("bootstraps: malformed ones are errors naming them", () => {
  const bad = [
    "not-a-multiaddr",
    "/ip4/127.0.0.1/tcp/4001",
    `/ip4/127.0.0.1/udp/4001/p2p/${ID}`,
    "/ip4/127.0.0.1/tcp/4001/p2p/notapeerid",
    "/ip4/999.0.0.1/tcp/4001",
  ];
  for (const address of bad) {
    assert.throws(
      () => parseBootstraps([address]),
      (err: Error) => err instanceof InvalidBootstrapError && err.message.includes(address),
      address,
    );
  }
});

Deno.test("bootstraps: flags win over P2P_BOOTSTRAPS, which is whitespace-separated", () => {
  assert.deepEqual(bootstrapAddresses(["/a"], "/b /c"), ["/a"]);
  assert.deepEqual(bootstrapAddresses([], " /b\n\t/c "), ["/b", "/c"]);
  assert.deepEqual(bootstrapAddresses([], undefined), []);
});
