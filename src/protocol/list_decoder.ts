/**
 * Decoding a `/list/0.1` answer while it arrives, so the client parses and
 * checks the entries already received while later ones are still on the wire.
 *
 * @module
 */
import { concatBytes } from "../_bytes.ts";
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
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const CLOSE = 0x7d;

/**
 * Where `pattern` (a quote and what follows it) first occurs from `from` on with its quote ending
 * a string literal, or -1. Inside a literal every quote is escaped, so a quote after an even run
 * of backslashes ends one. The searches are what make the scan cheap: a literal's content cannot
 * hold `":"`, `","` or `"}` with an unescaped quote, so each is usually found at the first try.
 */
function findDelimiter(text: string, pattern: string, from: number): number {
  for (let at = text.indexOf(pattern, from); at >= 0; at = text.indexOf(pattern, at + 1)) {
    let run = 0;
    while (text.charCodeAt(at - 1 - run) === BACKSLASH) run++;
    if (run % 2 === 0) return at;
  }
  return -1;
}

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
  /**
   * The answer's bytes, for the whole-answer decoding. Kept as received: the text decoded from
   * them is garbage once scanned, so the young generation does not carry it from piece to piece.
   */
  readonly #chunks: Uint8Array[] = [];
  #entries = new Map<string, T>();
  #state: State = "prefix";
  /** Text received and not yet taken: the start of an unfinished entry, or what follows the map. */
  #pending = "";

  /** @param map Turns one entry's name and InfoStr into the value kept for it. */
  constructor(map: (name: string, infoStr: string) => T) {
    this.#map = map;
  }

  /** Takes the next bytes of the answer; they are kept as they are (not copied) until the end. */
  push(bytes: Uint8Array): void {
    this.#chunks.push(bytes);
    if (this.#state !== "whole") this.#take(this.#decoder.decode(bytes, { stream: true }));
  }

  /**
   * Ends the answer and returns it decoded. Throws `MalformedMessageError`
   * for an answer `decodeListResponse` refuses.
   */
  end(): DecodedList<T> {
    if (this.#state !== "whole") this.#take(this.#decoder.decode());
    if (this.#state === "suffix") {
      const suffix = SUFFIX.exec(this.#pending);
      if (suffix) return { LookupOk: suffix[1] === "true", entries: this.#entries };
    }
    const res = decodeListResponse(new TextDecoder().decode(concatBytes(this.#chunks)));
    const entries = new Map<string, T>();
    for (const [name, infoStr] of Object.entries(res.NameToInfoStr)) {
      entries.set(name, this.#map(name, infoStr));
    }
    return { LookupOk: res.LookupOk, entries };
  }

  #take(piece: string): void {
    if (piece === "") return;
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
    // The entries complete in this text, `"name":"InfoStr"` and the `,` or `}` after it, taken as
    // two slices each. Any slice that is not exactly one string literal (a malformed answer) makes
    // the JSON.parse below fail or give another count of strings: then the whole answer decides.
    const literals: string[] = [];
    let closed = false;
    // The first `"}` that ends a literal, looked for once per text (-1: there is none).
    let mapEnd = -2;
    while (at < text.length) {
      if (text.charCodeAt(at) !== QUOTE) return this.#decodeWhole();
      const nameEnd = findDelimiter(text, '":"', at + 1);
      if (nameEnd < 0) break;
      const infoStart = nameEnd + 2;
      if (mapEnd !== -1 && mapEnd <= infoStart) mapEnd = findDelimiter(text, '"}', infoStart + 1);
      const next = findDelimiter(text, '","', infoStart + 1);
      const infoEnd = mapEnd >= 0 && (next < 0 || mapEnd < next) ? mapEnd : next;
      if (infoEnd < 0) break;
      literals.push(text.slice(at, nameEnd + 1), text.slice(infoStart, infoEnd + 1));
      at = infoEnd + 2;
      if (infoEnd === mapEnd) {
        closed = true;
        break;
      }
    }
    if (literals.length > 0) {
      let strings: string[];
      try {
        // One native parse for all: an array of strings, no object keys to build.
        strings = JSON.parse(`[${literals.join(",")}]`);
      } catch {
        return this.#decodeWhole();
      }
      if (strings.length !== literals.length) return this.#decodeWhole();
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
