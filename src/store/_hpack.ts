/**
 * HPACK (RFC 7541), as much as a client of unary calls needs: headers
 * encoded as literals (no state on the server for them), and a full decoder
 * for the server's headers (static and dynamic tables, Huffman strings), so
 * the connection's decoding state stays in step with the server's encoder.
 *
 * @module
 */

/** The static table (RFC 7541, Appendix A); index 1 is the first entry. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

/**
 * The Huffman code's lengths in bits, one character per symbol 0–256 (256 is
 * EOS), each `"0"` plus the length. The code is canonical (codes follow in
 * order of length, then of symbol), so the lengths define it.
 */
const HUFFMAN_LENGTHS =
  "=GLLLLLLLHNLLNLLLLLLLLNLLLLLLLLL6::<=68;::8;8666555666666678?6<:=67777777777777777777777878=C=>6?56565666577666567655677777?;>=LDFDDFFFGFGGGGGHGHHFGHGGGGEFGFGGHFEDFFGGEGFFHEFGGEEFEGFGGDFFFGFFGJJDCFGFIJJJKKJHICEJKKJKHEEJJLKKKDHDEFEEGFFIIHHJGJKJJKKKKKLKKKKKJN";
const EOS = 256;

/**
 * The decoding tree of the Huffman code, as an array: node `n`'s children
 * are at `2n` (bit 0) and `2n + 1` (bit 1); a leaf holds `-1 - symbol`.
 */
const HUFFMAN_TREE: Int32Array = (() => {
  const lengths = [...HUFFMAN_LENGTHS].map((c) => c.charCodeAt(0) - 48);
  const symbols = lengths.map((_, s) => s).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const tree = new Int32Array(1024);
  let nodes = 1; // node 0 is the root
  let code = 0;
  let previous = lengths[symbols[0]];
  for (const [i, symbol] of symbols.entries()) {
    const length = lengths[symbol];
    if (i > 0) code = (code + 1) * 2 ** (length - previous);
    previous = length;
    let node = 0;
    for (let bit = length - 1; bit >= 0; bit--) {
      const slot = 2 * node + ((code / 2 ** bit) & 1);
      if (bit === 0) tree[slot] = -1 - symbol;
      else node = tree[slot] ||= nodes++;
    }
  }
  return tree;
})();

/** Thrown on a header block that is not valid HPACK (the connection must end). */
export class HpackError extends Error {
  /** @param message What is wrong. */
  constructor(message: string) {
    super(`HPACK: ${message}`);
    this.name = "HpackError";
  }
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Decodes a Huffman-coded string (RFC 7541, 5.2). */
export function decodeHuffman(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  let node = 0;
  let depth = 0; // bits read since the last symbol
  let ones = true; // whether those bits were all ones
  for (const byte of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      const b = (byte >> bit) & 1;
      ones &&= b === 1;
      depth++;
      const next = HUFFMAN_TREE[2 * node + b];
      if (next < 0) {
        const symbol = -1 - next;
        if (symbol === EOS) throw new HpackError("EOS inside a Huffman string");
        out.push(symbol);
        node = 0;
        depth = 0;
        ones = true;
      } else {
        node = next;
      }
    }
  }
  // What is left must be a prefix of EOS (all ones) shorter than a byte.
  if (depth > 7 || !ones) throw new HpackError("bad padding of a Huffman string");
  return new Uint8Array(out);
}

/**
 * A decoder of one connection's header blocks: its dynamic table lives as
 * long as the connection, so every block must pass through it, in order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HpackDecoder } from "./_hpack.ts";
 *
 * // ":status: 200" (static entry 8), then "grpc-status: 0" as a new literal indexed.
 * const block = new Uint8Array([0x88, 0x40, 11, ...new TextEncoder().encode("grpc-status"), 1, 0x30]);
 * const hpack = new HpackDecoder();
 * assert.deepEqual(hpack.decode(block), [[":status", "200"], ["grpc-status", "0"]]);
 * // The literal went into the dynamic table: index 62 now names it.
 * assert.deepEqual(hpack.decode(new Uint8Array([0xbe])), [["grpc-status", "0"]]);
 * ```
 */
export class HpackDecoder {
  /** Newest entry first (index 62). */
  #dynamic: [string, string][] = [];
  #size = 0;
  #maxSize: number;
  readonly #limit: number;

  /**
   * @param maxTableSize Our SETTINGS_HEADER_TABLE_SIZE: the largest table the encoder may ask for.
   */
  constructor(maxTableSize = 4096) {
    this.#maxSize = maxTableSize;
    this.#limit = maxTableSize;
  }

  /** Decodes one complete header block (HEADERS plus its CONTINUATIONs). */
  decode(block: Uint8Array): [string, string][] {
    const headers: [string, string][] = [];
    let pos = 0;
    const integer = (prefixBits: number): number => {
      if (pos >= block.length) throw new HpackError("header block cut short");
      const max = (1 << prefixBits) - 1;
      let n = block[pos++] & max;
      if (n < max) return n;
      for (let scale = 1;; scale *= 128) {
        if (pos >= block.length) throw new HpackError("header block cut short");
        if (scale > 2 ** 28) throw new HpackError("integer too large");
        const b = block[pos++];
        n += (b & 0x7f) * scale;
        if (b < 0x80) return n;
      }
    };
    const string = (): string => {
      if (pos >= block.length) throw new HpackError("header block cut short");
      const huffman = (block[pos] & 0x80) !== 0;
      const length = integer(7);
      if (pos + length > block.length) throw new HpackError("header block cut short");
      const raw = block.subarray(pos, pos + length);
      pos += length;
      return decoder.decode(huffman ? decodeHuffman(raw) : raw);
    };
    while (pos < block.length) {
      const first = block[pos];
      if (first & 0x80) {
        headers.push(this.#entry(integer(7)));
      } else if ((first & 0xe0) === 0x20) {
        const size = integer(5);
        if (size > this.#limit) throw new HpackError(`table size ${size} over ${this.#limit}`);
        this.#maxSize = size;
        this.#evict(0);
      } else {
        // Literal: with incremental indexing (01), without (0000) or never indexed (0001).
        const indexing = (first & 0xc0) === 0x40;
        const nameIndex = integer(indexing ? 6 : 4);
        const name = nameIndex === 0 ? string() : this.#entry(nameIndex)[0];
        const value = string();
        headers.push([name, value]);
        if (indexing) this.#add(name, value);
      }
    }
    return headers;
  }

  #entry(index: number): [string, string] {
    if (index >= 1 && index <= STATIC_TABLE.length) {
      const [name, value] = STATIC_TABLE[index - 1];
      return [name, value];
    }
    const entry = this.#dynamic[index - STATIC_TABLE.length - 1];
    if (!entry) throw new HpackError(`no table entry ${index}`);
    return entry;
  }

  #add(name: string, value: string): void {
    const size = entrySize(name, value);
    this.#evict(size);
    // An entry larger than the table empties it and is not added (RFC 7541, 4.4).
    if (size > this.#maxSize) return;
    this.#dynamic.unshift([name, value]);
    this.#size += size;
  }

  /** Evicts the oldest entries until `room` more octets fit. */
  #evict(room: number): void {
    while (this.#dynamic.length > 0 && this.#size + room > this.#maxSize) {
      const [name, value] = this.#dynamic.pop()!;
      this.#size -= entrySize(name, value);
    }
  }
}

function entrySize(name: string, value: string): number {
  return encoder.encode(name).length + encoder.encode(value).length + 32;
}

/**
 * Encodes headers as literals that the server does not index (RFC 7541,
 * 6.2.2), with a static table name where there is one: the server keeps no
 * state for them, and nothing needs Huffman coding.
 */
export function encodeHeaders(headers: readonly (readonly [string, string])[]): Uint8Array {
  const out: number[] = [];
  const integer = (n: number, prefixBits: number, first: number) => {
    const max = (1 << prefixBits) - 1;
    if (n < max) return out.push(first | n);
    out.push(first | max);
    for (n -= max; n >= 128; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
    out.push(n);
  };
  const string = (s: string) => {
    const bytes = encoder.encode(s);
    integer(bytes.length, 7, 0);
    for (const b of bytes) out.push(b);
  };
  for (const [name, value] of headers) {
    const full = STATIC_TABLE.findIndex(([n, v]) => n === name && v === value);
    if (full >= 0) {
      integer(full + 1, 7, 0x80);
      continue;
    }
    const named = STATIC_TABLE.findIndex(([n]) => n === name);
    integer(named + 1, 4, 0);
    if (named < 0) string(name);
    string(value);
  }
  return new Uint8Array(out);
}
