import assert from "node:assert/strict";
import xsalsa20 from "xsalsa20";
import { shareXsalsa20MemoryView } from "../../src/p2p/_xsalsa20_memory.ts";

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
});

Deno.test("pnet's cipher still encrypts: the stream differs from its input and from another nonce's", () => {
  shareXsalsa20MemoryView();
  const data = new Uint8Array(4096);
  const one = direction(3).send.update(data);
  const other = direction(4).send.update(data);
  assert.notDeepEqual(one, data);
  assert.notDeepEqual(one, other);
});
