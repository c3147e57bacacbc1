import assert from "node:assert/strict";
import xsalsa20 from "xsalsa20";
import { shareXsalsa20MemoryView } from "../../src/p2p/_pnet_cipher.ts";
import { createRegistryNode } from "../../mod.ts";

const KEY = new Uint8Array(32).fill(7);

/** One direction of a pnet connection: the sender's cipher and the receiver's. */
function direction(id: number) {
  const nonce = new Uint8Array(24).fill(id);
  return { send: xsalsa20(nonce, KEY), receive: xsalsa20(nonce, KEY) };
}

Deno.test("pnet's cipher survives connections taking turns after a large message", () => {
  shareXsalsa20MemoryView();
  shareXsalsa20MemoryView(); // idempotent
  const a = direction(1);
  const b = direction(2);
  const large = new Uint8Array(2 * 1024 * 1024).map((_, i) => i * 31);
  assert.deepEqual(a.receive.update(a.send.update(large)), large);
  // Unfixed, every update here grew the shared memory by its own size until
  // WebAssembly refused at 64 MiB (RangeError after about 500 updates).
  const chunk = crypto.getRandomValues(new Uint8Array(64 * 1024));
  for (let i = 0; i < 3_000; i++) {
    const { send, receive } = i % 2 ? a : b;
    assert.deepEqual(receive.update(send.update(chunk)), chunk);
  }
  // Finalizing zeroes the cipher's slot through its view: unfixed, a view
  // detached by another cipher's growth threw.
  const idle = xsalsa20(new Uint8Array(24).fill(5), KEY);
  a.send.update(new Uint8Array(4 * 1024 * 1024));
  idle.finalize();
  for (const cipher of [a.send, a.receive, b.send, b.receive]) cipher.finalize();
});

Deno.test("pnet's cipher still encrypts: the stream differs from its input and from another nonce's", () => {
  shareXsalsa20MemoryView();
  const data = new Uint8Array(4096);
  const one = direction(3).send.update(data);
  const other = direction(4).send.update(data);
  assert.notDeepEqual(one, data);
  assert.notDeepEqual(one, other);
});

/** Where a new cipher's state lands in xsalsa20's shared memory (its slot). */
function newSlots(count: number): number[] {
  const ciphers = Array.from({ length: count }, () => xsalsa20(new Uint8Array(24), KEY));
  const slots = ciphers.map((c) => (c._xor as { _pointer: number })._pointer);
  for (const c of ciphers) c.finalize();
  return slots;
}

Deno.test("closed PSK connections give their cipher slots back", async () => {
  const psk = "cipher slots";
  const server = await createRegistryNode({ psk, listen: ["/ip4/127.0.0.1/tcp/0"] });
  try {
    const [first] = newSlots(1);
    const connections = 20; // four ciphers each: two per side
    for (let i = 0; i < connections; i++) {
      const client = await createRegistryNode({ psk, clientOnly: true });
      await client.dial(server.getMultiaddrs()[0]);
      await client.stop();
    }
    await waitFor(() => server.getConnections().length === 0);
    // Unreleased, these would land past the 80 slots the connections took.
    const slots = newSlots(4 * connections);
    assert.ok(Math.max(...slots) < first + 64 * (4 * connections + 8), `slots ${slots}`);
  } finally {
    await server.stop();
  }
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(condition(), "timed out");
}
