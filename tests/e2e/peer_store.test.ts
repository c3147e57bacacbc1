import assert from "node:assert/strict";
import { createRegistryNode, type RegistryNode } from "../../mod.ts";
import { readToEnd, sendAndClose } from "../../src/protocol/stream_io.ts";

// Repeated protocol merges are answered from memory (src/p2p/_protocol_merges.ts); the peer
// store must still end up with what js-libp2p's merges would have written.

const ECHO = "/test/echo/1";

/** Runs `fn` with a server and a client connected to it, and stops both. */
async function withConnectedPair(
  fn: (server: RegistryNode, client: RegistryNode) => Promise<void>,
): Promise<void> {
  const server = await createRegistryNode({ listen: ["/ip4/127.0.0.1/tcp/0"] });
  // A client without identify: identify would replace the record's protocols with its own list.
  const client = await createRegistryNode({ clientOnly: true });
  try {
    await server.handle(ECHO, async (stream) => {
      await sendAndClose(stream, await readToEnd(stream, { maxBytes: 1024 }));
    });
    await client.dial(server.getMultiaddrs()[0]);
    await fn(server, client);
  } finally {
    await client.stop();
    await server.stop();
  }
}

async function echo(client: RegistryNode, server: RegistryNode): Promise<void> {
  const stream = await client.dialProtocol(server.peerId, ECHO);
  const reading = readToEnd(stream, { maxBytes: 1024, idleMs: 5_000 });
  await sendAndClose(stream, new TextEncoder().encode("hi"));
  assert.equal(new TextDecoder().decode(await reading), "hi");
}

async function assertEchoRecorded(server: RegistryNode, client: RegistryNode): Promise<void> {
  const peer = await server.peerStore.get(client.peerId);
  assert.ok(peer.protocols.includes(ECHO), `recorded: ${peer.protocols.join(", ")}`);
}

Deno.test("the protocol of an inbound stream is recorded for the remote peer", () =>
  withConnectedPair(async (server, client) => {
    await echo(client, server);
    await assertEchoRecorded(server, client);
  }));

Deno.test("a protocol removed from a record is merged back by the next stream", () =>
  withConnectedPair(async (server, client) => {
    await echo(client, server);
    await server.peerStore.patch(client.peerId, { protocols: ["/other/1"] });
    await echo(client, server);
    const peer = await server.peerStore.get(client.peerId);
    assert.deepEqual(peer.protocols.toSorted(), ["/other/1", ECHO]);
  }));

Deno.test("a deleted peer is recorded again by its next stream", () =>
  withConnectedPair(async (server, client) => {
    await echo(client, server);
    await server.peerStore.delete(client.peerId);
    assert.equal(await server.peerStore.has(client.peerId), false);
    await echo(client, server);
    await assertEchoRecorded(server, client);
  }));

Deno.test("a merge that adds a new protocol or other data reaches the store", () =>
  withConnectedPair(async (server, client) => {
    await echo(client, server);
    const merged = await server.peerStore.merge(client.peerId, { protocols: ["/new/1"] });
    assert.ok(merged.protocols.includes("/new/1"));
    await server.peerStore.merge(client.peerId, { tags: { kept: { value: 7 } } });
    const peer = await server.peerStore.get(client.peerId);
    assert.ok(peer.protocols.includes(ECHO) && peer.protocols.includes("/new/1"));
    assert.equal(peer.tags.get("kept")?.value, 7);
  }));
