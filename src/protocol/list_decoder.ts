/**
 * Decoding a `/list/0.1` answer while it arrives, so the client parses and
 * checks the entries already received while later ones are still on the wire.
 *
 * @module
 */
import { decodeListResponse } from "./messages.ts";

/** What {@linkcode ListAnswerDecoder.end} returns. */
export interface DecodedList<T> {
  /** The answer's LookupOk. */
  LookupOk: boolean;
  /**
   * Each entry's InfoStr as given to the decoder's `map`, by name. A name
   * given twice keeps its last value, as `JSON.parse` of the answer does;
   * an object made of them (`Object.fromEntries`) has that parse's key order.
   */
  entries: Map<string, T>;
}

/** How an answer this service encodes begins (`encodeListResponse`). */
const PREFIX = '{"NameToInfoStr":{';
/** …and how it ends, after the map's `}` (JSON allows white space after the value). */
const SUFFIX = /^,"LookupOk":(true|false)\}[ \t\n\r]*$/;
/**
 * Longest unfinished entry kept for scanning: a stored InfoStr is at most 64 KiB, at most 6
 * characters each once escaped. Anything longer goes to the whole-answer decoding, so an answer
 * that never ends a string costs no more than it does there.
 */
const MAX_PENDING = 1 << 20;
/**
 * A JSON string literal as the JSON grammar delimits it: from a quote to the next quote that is not
 * escaped. It fails only for a literal that has not ended yet; its escapes are JSON.parse's to check.
 */
const STRING = /"[^"\\]*(?:\\[^][^"\\]*)*"/y;
const QUOTE = 0x22;
const COLON = 0x3a;
const COMMA = 0x2c;
const CLOSE = 0x7d;

type State = "prefix" | "first" | "next" | "suffix" | "whole";

/**
 * Decodes a `/list/0.1` answer from its bytes as they arrive: each complete
 * entry (name and InfoStr) is decoded and given to `map` at once, so the
 * work on an entry overlaps the transfer of the ones after it.
 *
 * The result equals decoding the whole answer with `decodeListResponse`
 * and mapping each entry: the scan takes only the exact form this service
 * sends (`{"NameToInfoStr":{"name":"InfoStr",…},"LookupOk":true}`), every
 * name and InfoStr still decoded by `JSON.parse` on its own; any other form
 * (white space, Go's `null` map, fields in another order, a syntax error, a
 * truncated answer) is decoded whole at the end, by `decodeListResponse`,
 * which accepts it or throws exactly as it would without the scan. Nothing
 * is returned before the answer is complete and checked to its last byte.
 *
 * `map` must not throw (catch a bad entry's error and return it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ListAnswerDecoder } from "./list_decoder.ts";
 * const bytes = new TextEncoder().encode('{"NameToInfoStr":{"a":"{}","b":"x"},"LookupOk":true}');
 * const decoder = new ListAnswerDecoder((name, infoStr) => `${name}=${infoStr}`);
 * decoder.push(bytes.subarray(0, 25));
 * decoder.push(bytes.subarray(25));
 * const { LookupOk, entries } = decoder.end();
 * assert.equal(LookupOk, true);
 * assert.deepEqual([...entries], [["a", "a={}"], ["b", "b=x"]]);
 *
 * const truncated = new ListAnswerDecoder((_, infoStr) => infoStr);
 * truncated.push(bytes.subarray(0, 30));
 * assert.throws(() => truncated.end(), /list response is not valid JSON/);
 * ```
 */
export class ListAnswerDecoder<T> {
  readonly #map: (name: string, infoStr: string) => T;
  readonly #decoder = new TextDecoder();
  /** The whole answer's text, for the whole-answer decoding. */
  readonly #pieces: string[] = [];
  #entries = new Map<string, T>();
  #state: State = "prefix";
  /** Text received and not yet taken: the start of an unfinished entry, or what follows the map. */
  #pending = "";

  /** @param map Turns one entry's name and InfoStr into the value kept for it. */
  constructor(map: (name: string, infoStr: string) => T) {
    this.#map = map;
  }

  /** Takes the next bytes of the answer. */
  push(bytes: Uint8Array): void {
    this.#take(this.#decoder.decode(bytes, { stream: true }));
  }

  /**
   * Ends the answer and returns it decoded. Throws `MalformedMessageError`
   * for an answer `decodeListResponse` refuses.
   */
  end(): DecodedList<T> {
    this.#take(this.#decoder.decode());
    if (this.#state === "suffix") {
      const suffix = SUFFIX.exec(this.#pending);
      if (suffix) return { LookupOk: suffix[1] === "true", entries: this.#entries };
    }
    const res = decodeListResponse(this.#pieces.join(""));
    const entries = new Map<string, T>();
    for (const [name, infoStr] of Object.entries(res.NameToInfoStr)) {
      entries.set(name, this.#map(name, infoStr));
    }
    return { LookupOk: res.LookupOk, entries };
  }

  #take(piece: string): void {
    if (piece === "") return;
    this.#pieces.push(piece);
    if (this.#state === "whole") return;
    if (this.#state === "suffix") {
      this.#pending += piece;
      return;
    }
    const text = this.#pending + piece;
    let at = 0;
    if (this.#state === "prefix") {
      if (text.length < PREFIX.length) {
        if (PREFIX.startsWith(text)) this.#pending = text;
        else this.#decodeWhole();
        return;
      }
      if (!text.startsWith(PREFIX)) return this.#decodeWhole();
      at = PREFIX.length;
      this.#state = "first";
    }
    if (this.#state === "first" && text.charCodeAt(at) === CLOSE) {
      this.#state = "suffix";
      this.#pending = text.slice(at + 1);
      return;
    }
    // The entries complete in this text: `"name":"InfoStr"` and the `,` or `}` after it.
    const literals: string[] = [];
    let closed = false;
    for (;;) {
      if (at < text.length && text.charCodeAt(at) !== QUOTE) return this.#decodeWhole();
      STRING.lastIndex = at;
      if (!STRING.test(text)) break;
      const nameEnd = STRING.lastIndex;
      if (nameEnd >= text.length) break;
      if (text.charCodeAt(nameEnd) !== COLON) return this.#decodeWhole();
      STRING.lastIndex = nameEnd + 1;
      if (nameEnd + 1 < text.length && text.charCodeAt(nameEnd + 1) !== QUOTE) {
        return this.#decodeWhole();
      }
      if (!STRING.test(text)) break;
      const infoEnd = STRING.lastIndex;
      if (infoEnd >= text.length) break;
      const separator = text.charCodeAt(infoEnd);
      if (separator !== COMMA && separator !== CLOSE) return this.#decodeWhole();
      literals.push(text.slice(at, nameEnd), text.slice(nameEnd + 1, infoEnd));
      at = infoEnd + 1;
      if (separator === CLOSE) {
        closed = true;
        break;
      }
    }
    if (literals.length > 0) {
      let strings: string[];
      try {
        // Only string literals, as the answer has them, in one native parse: an array of strings.
        strings = JSON.parse(`[${literals.join(",")}]`);
      } catch {
        return this.#decodeWhole();
      }
      // A name given twice keeps its first place and its last value, as in JSON.parse of objects.
      for (let i = 0; i < strings.length; i += 2) {
        this.#entries.set(strings[i], this.#map(strings[i], strings[i + 1]));
      }
      this.#state = closed ? "suffix" : "next";
    }
    this.#pending = text.slice(at);
    if (this.#pending.length > MAX_PENDING) this.#decodeWhole();
  }

  /** Leaves the answer to `decodeListResponse` at the end. */
  #decodeWhole(): void {
    this.#state = "whole";
    this.#pending = "";
    this.#entries = new Map();
  }
}
