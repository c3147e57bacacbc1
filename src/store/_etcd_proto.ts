/**
 * The protobuf of etcd's gRPC API (rpc.proto, kv.proto) that our own
 * clients encode and decode by hand (the KV calls of `etcd_kv.ts`, the watch
 * of `etcd_watch.ts`): a writer of requests, a reader of answers, and the parts
 * of messages both read.
 *
 * @module
 */
import type { KvEntry } from "./etcd_kv.ts";

/** Thrown when etcd answers a call with a gRPC error (`code` is its status). */
export class EtcdCallError extends Error {
  /**
   * @param code The gRPC status code.
   * @param message etcd's message.
   */
  constructor(readonly code: number, message: string) {
    super(message);
    this.name = "EtcdCallError";
  }
}

const encoder = new TextEncoder();

/**
 * A protobuf writer of one gRPC request: fields appended in order, nested
 * messages length-prefixed, after room for the gRPC frame's 5-byte prefix.
 */
export class Writer {
  #buf = new Uint8Array(256);
  #pos = 5;

  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const bigger = new Uint8Array(Math.max(this.#buf.length * 2, this.#pos + n));
    bigger.set(this.#buf.subarray(0, this.#pos));
    this.#buf = bigger;
  }

  varint(n: number): void {
    this.#room(10);
    while (n > 0x7f) {
      this.#buf[this.#pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.#buf[this.#pos++] = n;
  }

  /** A varint field (written even when 0: a oneof's member must be). */
  uint(field: number, n: number): void {
    this.varint(field << 3);
    this.varint(n);
  }

  string(field: number, text: string): void {
    this.varint((field << 3) | 2);
    // At most 3 bytes per UTF-16 unit: room for them after the longest length they may need.
    const reserved = varintSize(text.length * 3);
    this.#room(reserved + text.length * 3);
    const at = this.#pos;
    const { written } = encoder.encodeInto(text, this.#buf.subarray(at + reserved));
    this.#length(at, reserved, written);
  }

  bytes(field: number, bytes: Uint8Array): void {
    this.varint((field << 3) | 2);
    this.varint(bytes.length);
    this.#room(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  message(field: number, write: () => void): void {
    this.varint((field << 3) | 2);
    const reserved = 3;
    this.#room(reserved);
    const at = this.#pos;
    this.#pos += reserved;
    write();
    this.#length(at, reserved, this.#pos - at - reserved);
  }

  /**
   * Writes the varint `length` at `at`, where `reserved` bytes were left for
   * it before `length` bytes of data, moving the data to follow it.
   */
  #length(at: number, reserved: number, length: number): void {
    const size = varintSize(length);
    if (size > reserved) this.#room(size - reserved);
    this.#buf.copyWithin(at + size, at + reserved, at + reserved + length);
    for (let i = 0, n = length; i < size; i++, n >>>= 7) {
      this.#buf[at + i] = (n & 0x7f) | (i < size - 1 ? 0x80 : 0);
    }
    this.#pos = at + size + length;
  }

  /** The request as one uncompressed gRPC frame. */
  frame(): Uint8Array<ArrayBuffer> {
    new DataView(this.#buf.buffer).setUint32(1, this.#pos - 5);
    return this.#buf.subarray(0, this.#pos);
  }
}

export function varintSize(n: number): number {
  let size = 1;
  while (n > 0x7f) {
    n >>>= 7;
    size++;
  }
  return size;
}

/** The end of the key range of every key starting with `prefix` (etcd's `range_end`). */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = prefix.slice();
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return new Uint8Array([0]);
}

/** A protobuf reader over one message. */
export class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end = buf.length) {}

  varint(): number {
    let n = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.end) throw new EtcdCallError(2, "etcd's answer is cut short");
      const b = this.buf[this.pos++];
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 0x80;
    }
  }

  /** The fields of this message: calls `on(field, wireType)`, which reads or skips it. */
  fields(on: (field: number, wire: number) => boolean): void {
    while (this.pos < this.end) {
      const tag = this.varint();
      if (!on(tag >>> 3, tag & 7)) this.skip(tag & 7);
    }
  }

  /** A length-delimited field: a reader over it (and this one moves past it). */
  sub(): Reader {
    const length = this.varint();
    const start = this.pos;
    this.pos += length;
    if (this.pos > this.end) throw new EtcdCallError(2, "etcd's answer is cut short");
    const r = new Reader(this.buf, this.pos);
    r.pos = start;
    return r;
  }

  bytes(): Uint8Array {
    const r = this.sub();
    return this.buf.subarray(r.pos, r.end);
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.sub();
    else if (wire === 5) this.pos += 4;
    else throw new EtcdCallError(2, `etcd's answer has an unknown wire type ${wire}`);
  }
}

/** ResponseHeader's revision (field 3). */
export function readHeader(r: Reader): number {
  let revision = 0;
  r.fields((field, wire) => {
    if (field !== 3 || wire !== 0) return false;
    revision = r.varint();
    return true;
  });
  return revision;
}

/** KeyValue: key (1), mod_revision (3), value (5). */
export function readKeyValue(r: Reader): KvEntry {
  const kv: KvEntry = { key: new Uint8Array(), value: new Uint8Array(), modRevision: 0 };
  r.fields((field, wire) => {
    if (field === 1 && wire === 2) kv.key = r.bytes();
    else if (field === 3 && wire === 0) kv.modRevision = r.varint();
    else if (field === 5 && wire === 2) kv.value = r.bytes();
    else return false;
    return true;
  });
  return kv;
}
