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

/** What {@linkcode echoStripper} returns. */
export interface EchoStripper {
  /** Takes the next bytes of the answer. */
  push(bytes: Uint8Array): void;
  /** Ends the answer; throws as {@linkcode stripSelectionEcho} for an answer it refuses. */
  end(): void;
}

/**
 * {@linkcode stripSelectionEcho} for an answer that arrives in pieces: what
 * follows the echo goes to `take` as it comes. An echo that is not byte for
 * byte the one a dialer sends is left to `stripSelectionEcho` over the whole
 * answer at `end()`, which accepts or refuses it as it would without pieces.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { echoStripper, selectionPrefix } from "./_lazy_select.ts";
 * const taken: number[] = [];
 * const stripper = echoStripper("/list/0.1", (bytes) => taken.push(...bytes));
 * const answer = new Uint8Array([...selectionPrefix("/list/0.1"), 123, 125]);
 * stripper.push(answer.subarray(0, 5));
 * stripper.push(answer.subarray(5));
 * stripper.end();
 * assert.deepEqual(taken, [123, 125]);
 * ```
 */
export function echoStripper(protocol: string, take: (bytes: Uint8Array) => void): EchoStripper {
  const expected = selectionPrefix(protocol);
  // The answer so far, while the echo is not known to be the expected one.
  let head: Uint8Array[] | undefined = [];
  let headBytes = 0;
  let unexpected = false;
  return {
    push(bytes) {
      if (head === undefined) return take(bytes);
      head.push(bytes);
      headBytes += bytes.byteLength;
      if (unexpected || headBytes < expected.byteLength) return;
      const answer = concatBytes(head);
      if (!expected.every((byte, i) => answer[i] === byte)) {
        head = [answer];
        unexpected = true;
        return;
      }
      head = undefined;
      if (answer.byteLength > expected.byteLength) take(answer.subarray(expected.byteLength));
    },
    end() {
      if (head === undefined) return;
      const rest = stripSelectionEcho(concatBytes(head), protocol);
      if (rest.byteLength > 0) take(rest);
    },
  };
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
