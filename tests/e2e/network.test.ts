import assert from "node:assert/strict";
import { createRegistryNode, RENDEZVOUS } from "../../mod.ts";
import { rendezvousCid } from "../../src/p2p/rendezvous.ts";
import { freePort, runCli, sampleInfo, startService } from "../_registry.ts";
import { addService, connectRegistry } from "../../mod.ts";

const PSK = "network-test";

Deno.test("discovery through a separate plain DHT node both sides bootstrap to", async () => {
  const dhtNode = await createRegistryNode({
    psk: PSK,
    listen: ["/ip4/127.0.0.1/tcp/0"],
  });
  const dhtAddr = dhtNode.getMultiaddrs()[0].toString();
  const service = await startService({ psk: PSK, bootstraps: [dhtAddr] });
  try {
    await addService("via-dht", sampleInfo(3), { bootstraps: [service.addr], psk: PSK });
    // The CLI only knows the DHT node, which does not speak the registry protocols.
    const res = await runCli(["-bootstrap", dhtAddr, "-psk", PSK, "get", "via-dht"]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, `Response:\n${JSON.stringify(sampleInfo(3))}\n`);

    // The library's client node runs no DHT; it searches through a second node only now.
    await using conn = await connectRegistry({ bootstraps: [dhtAddr], psk: PSK });
    assert.equal(conn.node.services.dht, undefined);
    assert.deepEqual(await conn.client.get("via-dht"), sampleInfo(3));
  } finally {
    await service.stop();
    await dhtNode.stop();
  }
});

Deno.test("a peer with another PSK, or none, cannot connect; the CLI says why, fast", async () => {
  const service = await startService({ psk: PSK });
  try {
    for (const args of [["-psk", "another-passphrase"], []]) {
      const started = Date.now();
      const res = await runCli(["-bootstrap", service.addr, ...args, "list"]);
      const took = Date.now() - started;
      assert.equal(res.code, 1, res.stderr);
      assert.ok(took < 30_000, `took ${took} ms`);
      assert.match(res.stderr, /failed to connect to any bootstrap/);
      assert.match(
        res.stderr,
        args.length > 0
          ? /the pre-shared key differs from the one 127\.0\.0\.1:\d+ uses/
          : /127\.0\.0\.1:\d+ runs a private network: give its pre-shared key/,
      );
    }
    // The service logs in batches: give a stray request time to show up.
    await new Promise((r) => setTimeout(r, 200));
    assert.doesNotMatch(service.log(), /\/list\/0\.1 from/);
  } finally {
    await service.stop();
  }
});

Deno.test("an unreachable bootstrap fails after its rounds, saying the connection was refused", async () => {
  const node = await createRegistryNode({ listen: ["/ip4/127.0.0.1/tcp/0"] });
  const addr = node.getMultiaddrs()[0].toString();
  await node.stop();
  const { connectRegistry } = await import("../../mod.ts");
  const started = Date.now();
  await assert.rejects(
    () =>
      connectRegistry({
        bootstraps: [addr],
        bootstrapRetry: { attempts: 3, initialDelayMs: 100, jitter: 0 },
      }),
    /failed to connect to any bootstrap: connection refused by 127\.0\.0\.1:\d+/,
  );
  // Three rounds with 100 + 200 ms between them.
  assert.ok(Date.now() - started >= 300);
});

Deno.test("a bootstrap that ends connections before the PSK handshake is retried, the key not blamed", async () => {
  // What a service too busy to take the connection does (see pendingHandshakesPerHost).
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted = 0;
  const refusing = (async () => {
    for await (const conn of listener) {
      accepted++;
      conn.close();
    }
  })();
  const { generateIdentity } = await import("../../src/p2p/identity.ts");
  const { peerIdFromPrivateKey } = await import("@libp2p/peer-id");
  const peer = peerIdFromPrivateKey(await generateIdentity("Ed25519"));
  const addr = `/ip4/127.0.0.1/tcp/${listener.addr.port}/p2p/${peer}`;
  try {
    const err = await connectRegistry({
      bootstraps: [addr],
      psk: PSK,
      bootstrapRetry: { attempts: 3, initialDelayMs: 100, jitter: 0 },
    })
      .then(() => undefined, (e: Error) => e);
    assert.ok(err, "connected to a listener that closes every connection");
    assert.match(err.message, /did not complete the pre-shared key handshake/);
    assert.doesNotMatch(err.message, /the pre-shared key differs/);
    assert.equal(accepted, 3, "one dial per round: first try, then after 100 and 200 ms");
  } finally {
    listener.close();
    await refusing.catch(() => {});
  }
});

Deno.test("a lost bootstrap is re-dialled and the service is findable through it again", async () => {
  const { generateIdentity } = await import("../../src/p2p/identity.ts");
  const privateKey = await generateIdentity("Ed25519");
  const port = freePort();
  const listen = [`/ip4/127.0.0.1/tcp/${port}`];
  let dhtNode = await createRegistryNode({ psk: PSK, privateKey, listen });
  const dhtAddr = dhtNode.getMultiaddrs()[0].toString();
  const service = await startService({ psk: PSK, bootstraps: [dhtAddr] });
  try {
    await dhtNode.stop();
    await service.waitForLog(/lost connection to bootstrap/);
    dhtNode = await createRegistryNode({ psk: PSK, privateKey, listen });
    await service.waitForLog(/reconnected to bootstrap/, 30_000);
    // The provider record went with the old node: it must be advertised again.
    const cid = await rendezvousCid(RENDEZVOUS);
    const serviceId = service.addr.split("/p2p/")[1];
    let found = false;
    const deadline = Date.now() + 20_000;
    while (!found && Date.now() < deadline) {
      for await (
        const provider of dhtNode.contentRouting.findProviders(cid, {
          signal: AbortSignal.timeout(2_000),
        })
      ) {
        if (provider.id.toString() === serviceId) found = true;
      }
      if (!found) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(found, "the service is not findable after the bootstrap came back");
  } finally {
    await service.stop();
    await dhtNode.stop();
  }
});

Deno.test("a client whose connection to its bootstrap was lost dials it again", async () => {
  const service = await startService({ psk: "redial" });
  try {
    await using conn = await connectRegistry({ bootstraps: [service.addr], psk: "redial" });
    await conn.client.add("svc", sampleInfo(1));
    // The service's end goes, as after a restart of the connection or an idle timeout.
    for (const peer of conn.node.getPeers()) await conn.node.hangUp(peer);
    assert.equal(conn.node.getPeers().length, 0);
    assert.deepEqual(await conn.client.get("svc"), sampleInfo(1));
  } finally {
    await service.stop();
  }
});
