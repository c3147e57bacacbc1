/**
 * HPACK decoding against an independent encoder: the blocks below were made
 * by Python's `hpack` 4.0 (Debian's python3-hpack), as etcd's Go encoder makes
 * them: Huffman and plain strings, the dynamic table, eviction and a table
 * size update.
 */
import assert from "node:assert/strict";
import { decodeHuffman, encodeHeaders, HpackDecoder, HpackError } from "../../src/store/_hpack.ts";

const hex = (s: string) => new Uint8Array(s.match(/../g)!.map((b) => parseInt(b, 16)));
const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("hpack: a connection's blocks decode in order, through the dynamic table", () => {
  const blocks: [string, [string, string][]][] = [
    [
      "885f8b1d75d0620d263d4c4d6564408e9acac8b0c842d6958b510f21aa9b903485a9264fafa90b2d03497ea6f66aff",
      [[":status", "200"], ["content-type", "application/grpc"], [
        "grpc-accept-encoding",
        "identity,deflate,gzip",
      ]],
    ],
    [
      "400b677270632d7374617475730130400c677270632d6d65737361676500",
      [["grpc-status", "0"], ["grpc-message", ""]],
    ],
    ["88c1", [[":status", "200"], ["content-type", "application/grpc"]]],
    [
      "7f0001397f0040657463647365727665723a206d7663633a207265717569726564207265766973696f6e20686173206265656e20636f6d70616374656420254532253943253933",
      [["grpc-status", "9"], [
        "grpc-message",
        "etcdserver: mvcc: required revision has been compacted %E2%9C%93",
      ]],
    ],
    ["c1", [["grpc-status", "0"]]],
  ];
  const hpack = new HpackDecoder();
  for (const [block, headers] of blocks) assert.deepEqual(hpack.decode(hex(block)), headers);
});

Deno.test("hpack: a smaller table evicts the oldest entries", () => {
  const a: [string, string] = ["x-a", "1".repeat(40)];
  const b: [string, string] = ["x-b", "2".repeat(40)];
  const hpack = new HpackDecoder();
  // A size update to 100 octets, then x-a indexed (75 octets).
  assert.deepEqual(
    hpack.decode(hex("3f454083f2b0ff9908421084210842108421084210842108421084210842108421")),
    [a],
  );
  // x-b indexed: x-a no longer fits beside it and is evicted ...
  assert.deepEqual(
    hpack.decode(hex("4083f2b47f9910842108421084210842108421084210842108421084210842")),
    [b],
  );
  // ... so the encoder sends both as literals again; index 62 is the newest entry.
  assert.deepEqual(
    hpack.decode(hex(
      "4083f2b0ff99084210842108421084210842108421084210842108421084214083f2b47f9910842108421084210842108421084210842108421084210842",
    )),
    [a, b],
  );
  assert.deepEqual(hpack.decode(hex("be")), [b]);
  // x-a was evicted by x-b: index 63 is gone.
  assert.throws(() => hpack.decode(hex("bf")), HpackError);
});

Deno.test("hpack: Huffman strings decode (RFC 7541, C.4.1); bad padding and EOS are refused", () => {
  assert.equal(text(decodeHuffman(hex("f1e3c2e5f23a6ba0ab90f4ff"))), "www.example.com");
  assert.equal(text(decodeHuffman(new Uint8Array(0))), "");
  // "0" is 00000: padded with ones it is one byte; padded with zeros it is not valid.
  assert.equal(text(decodeHuffman(hex("07"))), "0");
  assert.throws(() => decodeHuffman(hex("00")), /padding/);
  // Eight bits of padding (a whole byte of ones) is too much.
  assert.throws(() => decodeHuffman(hex("07ff")), /padding/);
  // EOS is 30 ones: it may not appear in a string.
  assert.throws(() => decodeHuffman(hex("ffffffff")), /EOS/);
});

Deno.test("hpack: a block cut short, an index past the tables or a table over our limit is an error", () => {
  assert.throws(() => new HpackDecoder().decode(hex("40")), /cut short/);
  assert.throws(() => new HpackDecoder().decode(hex("400b6772")), /cut short/);
  assert.throws(() => new HpackDecoder().decode(hex("be")), /no table entry 62/);
  // A size update to 8,192 octets: over the 4,096 we allow (SETTINGS_HEADER_TABLE_SIZE).
  assert.throws(() => new HpackDecoder().decode(hex("3fe13f")), /8192 over 4096/);
});

Deno.test("hpack: what we encode decodes to the same headers, leaving the table empty", () => {
  const headers: [string, string][] = [
    [":method", "POST"],
    [":scheme", "https"],
    [":path", "/etcdserverpb.KV/Txn"],
    [":authority", "127.0.0.1:2379"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
    ["x-long", "v".repeat(300)],
  ];
  const hpack = new HpackDecoder();
  assert.deepEqual(hpack.decode(encodeHeaders(headers)), headers);
  // Not indexed: a reference to the dynamic table finds nothing.
  assert.throws(() => hpack.decode(hex("be")), HpackError);
});
