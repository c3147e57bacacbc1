/**
 * Lazy multistream-select for one request: the negotiation, the request and
 * the close go out in one write, and the peer's negotiation echo is checked
 * at the start of its answer. One round trip per request instead of two.
 *
 * js-libp2p 3.3 documents `negotiateFully: false` for exactly this but its
 * `Connection.newStream` always negotiates in full, so the stream is opened
 * on the connection's muxer directly. On the wire this is what go-libp2p
 * sends for a single protocol, and any multistream-select listener answers it.
 *
 * @module
 */
import type { Connection, StreamMuxer } from "@libp2p/interface";
import { InvalidMessageError, UnsupportedProtocolError } from "@libp2p/interface";
import { concatBytes } from "../_bytes.ts";

const MULTISTREAM_ID = "/multistream/1.0.0";
const encoder = new TextEncoder();

/**
 * The muxer of an open connection, or `undefined` when this libp2p version
 * does not expose one (callers then negotiate in full with `newStream`).
 *
 * @example
 * ```ts ignore
 * const stream = await connectionMuxer(connection)?.createStream();
 * ```
 */
export function connectionMuxer(connection: Connection): StreamMuxer | undefined {
  const muxer = (connection as unknown as { muxer?: StreamMuxer }).muxer;
  return typeof muxer?.createStream === "function" && muxer.status === "open" ? muxer : undefined;
}

/**
 * The bytes a dialer sends to select `protocol`: header and protocol, each length-prefixed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { selectionPrefix } from "./_lazy_select.ts";
 * assert.ok(selectionPrefix("/get/0.1")[0] === 19); // "/multistream/1.0.0\n"
 * ```
 */
export function selectionPrefix(protocol: string): Uint8Array {
  return concatBytes([lengthPrefixed(`${MULTISTREAM_ID}\n`), lengthPrefixed(`${protocol}\n`)]);
}

/**
 * Strips the listener's negotiation echo from the start of `answer` and
 * returns the rest. Throws `UnsupportedProtocolError` when the listener
 * declined `protocol`, `InvalidMessageError` for anything else unexpected.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { selectionPrefix, stripSelectionEcho } from "./_lazy_select.ts";
 * const answer = new Uint8Array([...selectionPrefix("/list/0.1"), 123, 125]);
 * assert.ok(stripSelectionEcho(answer, "/list/0.1").length === 2);
 * ```
 */
export function stripSelectionEcho(answer: Uint8Array, protocol: string): Uint8Array {
  let offset = 0;
  const next = (): string => {
    const [length, lengthBytes] = readVarint(answer, offset);
    const start = offset + lengthBytes;
    if (start + length > answer.byteLength) {
      throw new InvalidMessageError("the answer ended inside protocol negotiation");
    }
    offset = start + length;
    return new TextDecoder().decode(answer.subarray(start, offset));
  };
  const header = next();
  if (header !== `${MULTISTREAM_ID}\n`) {
    throw new InvalidMessageError(`expected the multistream-select header, got ${header.trim()}`);
  }
  const selected = next();
  if (selected === "na\n") throw new UnsupportedProtocolError(`${protocol} is not supported`);
  if (selected !== `${protocol}\n`) {
    throw new InvalidMessageError(`asked for ${protocol}, the peer selected ${selected.trim()}`);
  }
  return answer.subarray(offset);
}

function lengthPrefixed(text: string): Uint8Array {
  const bytes = encoder.encode(text);
  // Protocol ids are short; two varint bytes cover anything multistream-select allows (1 KiB).
  if (bytes.byteLength >= 1 << 14) throw new RangeError(`protocol id too long: ${text}`);
  const prefix = bytes.byteLength < 0x80
    ? [bytes.byteLength]
    : [(bytes.byteLength & 0x7f) | 0x80, bytes.byteLength >> 7];
  return concatBytes([new Uint8Array(prefix), bytes]);
}

function readVarint(bytes: Uint8Array, offset: number): [value: number, length: number] {
  let value = 0;
  for (let i = 0; i < 2; i++) {
    if (offset + i >= bytes.byteLength) break;
    const byte = bytes[offset + i];
    value |= (byte & 0x7f) << (7 * i);
    if ((byte & 0x80) === 0) return [value, i + 1];
  }
  throw new InvalidMessageError("bad length prefix in protocol negotiation");
}
