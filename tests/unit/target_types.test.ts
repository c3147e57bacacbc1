import assert from "node:assert/strict";
import {
  connectRegistry,
  createRegistryNode,
  getService,
  parseBootstraps,
  type RegistryTarget,
} from "../../mod.ts";
import { loadOrCreateIdentity } from "../../src/p2p/identity.ts";

Deno.test("a target is a node of one's own or bootstraps for a temporary node, never both", async () => {
  const node = await createRegistryNode({ listen: ["/ip4/127.0.0.1/tcp/0"] });
  try {
    const addr = node.getMultiaddrs()[0].toString();
    const targets: RegistryTarget[] = [
      { node },
      { node, bootstraps: parseBootstraps([addr]) },
      { bootstraps: [addr], psk: "x", keyFile: "/nonexistent/key" },
    ];
    assert.equal(targets.length, 3);
    // @ts-expect-error: multiaddr strings need a temporary node; a node takes parsed bootstraps
    const mixed: RegistryTarget = { node, bootstraps: [addr] };
    // @ts-expect-error: a node's network key was set when it was created
    const nodeWithPsk: RegistryTarget = { node, psk: "secret" };
    // @ts-expect-error: a node signs in with its own key
    const nodeWithKey: RegistryTarget = { node, keyFile: "/tmp/k" };
    assert.ok(nodeWithPsk && nodeWithKey);
    // Without a type checker the mix is a clear TypeError, not a crash deep inside.
    await assert.rejects(
      () => getService("svc", mixed),
      (err: Error) => err instanceof TypeError && /parseBootstraps/.test(err.message),
    );
  } finally {
    await node.stop();
  }
});

Deno.test("connectRegistry signs in with the key of keyFile, creating it once", async () => {
  const dir = await Deno.makeTempDir();
  const server = await createRegistryNode({ psk: "keys", listen: ["/ip4/127.0.0.1/tcp/0"] });
  try {
    const keyFile = `${dir}/sub/client.key`;
    const options = { bootstraps: [server.getMultiaddrs()[0].toString()], psk: "keys", keyFile };
    let first: string;
    {
      await using conn = await connectRegistry(options);
      first = conn.node.peerId.toString();
    }
    assert.equal((await Deno.stat(keyFile)).mode! & 0o777, 0o600);
    {
      await using conn = await connectRegistry(options);
      assert.equal(conn.node.peerId.toString(), first);
    }
    const { key } = await loadOrCreateIdentity({ keyFile, algorithm: "Ed25519" });
    assert.equal(key.type, "Ed25519");
    {
      await using conn = await connectRegistry({ ...options, keyFile: undefined, privateKey: key });
      assert.equal(conn.node.peerId.toString(), first);
    }
    await assert.rejects(
      () => connectRegistry({ ...options, privateKey: key }),
      /privateKey or keyFile, not both/,
    );
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
