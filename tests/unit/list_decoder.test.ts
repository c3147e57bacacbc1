import assert from "node:assert/strict";
import { ListAnswerDecoder } from "../../src/protocol/list_decoder.ts";
import { decodeListResponse, encodeListResponse } from "../../src/protocol/messages.ts";
import { parseServiceInfo } from "../../src/protocol/service_info.ts";
import { sampleInfo } from "../_registry.ts";

const encoder = new TextEncoder();

/** The client's view of an entry: its ServiceInfo, or why it is not one. */
function parseEntry(_name: string, infoStr: string): unknown {
  try {
    return parseServiceInfo(infoStr);
  } catch (err) {
    return `invalid: ${(err as Error).message}`;
  }
}

type Outcome =
  | { LookupOk: boolean; keys: string[]; values: unknown[] }
  | { error: string; message: string; cause?: string };

function errorOutcome(err: unknown): Outcome {
  const e = err as Error;
  return {
    error: e.name,
    message: e.message,
    cause: e.cause instanceof Error ? `${e.cause.name}: ${e.cause.message}` : undefined,
  };
}

/** As entries end up in the client's result: an object, with its key order. */
function listed(LookupOk: boolean, entries: Iterable<[string, unknown]>): Outcome {
  const object = Object.fromEntries(entries);
  return { LookupOk, keys: Object.keys(object), values: Object.values(object) };
}

/** Decoding as the client did before: the whole answer at once, then each entry. */
function decodeWhole(bytes: Uint8Array): Outcome {
  try {
    const res = decodeListResponse(new TextDecoder().decode(bytes));
    return listed(
      res.LookupOk,
      Object.entries(res.NameToInfoStr).map(([name, infoStr]) => [name, parseEntry(name, infoStr)]),
    );
  } catch (err) {
    return errorOutcome(err);
  }
}

/** Decoding with the decoder, the answer cut at `cuts`. */
function decodePieces(bytes: Uint8Array, cuts: number[]): Outcome {
  const decoder = new ListAnswerDecoder(parseEntry);
  let from = 0;
  for (const cut of [...cuts, bytes.byteLength]) {
    decoder.push(bytes.subarray(from, cut));
    from = cut;
  }
  try {
    const { LookupOk, entries } = decoder.end();
    return listed(LookupOk, entries);
  } catch (err) {
    return errorOutcome(err);
  }
}

function assertSame(bytes: Uint8Array, cuts: number[]): Outcome {
  const expected = decodeWhole(bytes);
  assert.deepStrictEqual(
    decodePieces(bytes, cuts),
    expected,
    `answer ${JSON.stringify(new TextDecoder().decode(bytes))} cut at ${cuts}`,
  );
  return expected;
}

/** A small seeded generator, so a failure can be run again. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAME_PARTS = [
  "a",
  "svc",
  '"',
  "\\",
  "\\u0041",
  "é",
  "😀",
  "\u2028",
  "\u0001",
  "\u007f",
  "/",
  ":",
  ",",
  "}",
  "{",
  " ",
];
const SPECIAL_NAMES = ["__proto__", "constructor", "0", "10", "4294967295", "-1", "01", ""];

function randomName(next: () => number): string {
  if (next() < 0.2) return SPECIAL_NAMES[Math.floor(next() * SPECIAL_NAMES.length)];
  let name = "";
  for (let i = 1 + Math.floor(next() * 5); i > 0; i--) {
    name += NAME_PARTS[Math.floor(next() * NAME_PARTS.length)];
  }
  return name;
}

function randomInfoStr(next: () => number, n: number): string {
  const roll = next();
  if (roll < 0.6) return JSON.stringify(sampleInfo(n));
  if (roll < 0.7) return JSON.stringify({ ...sampleInfo(n), DockerHash: 'bad "ref" \\ é' });
  if (roll < 0.8) return "garbage{";
  if (roll < 0.9) return "";
  return randomName(next);
}

function randomAnswer(next: () => number): Uint8Array {
  const entries: [string, string][] = [];
  for (let i = Math.floor(next() * 12); i > 0; i--) {
    // Some names come back: a duplicate key, whose last value wins.
    const name = entries.length > 0 && next() < 0.15
      ? entries[Math.floor(next() * entries.length)][0]
      : randomName(next);
    entries.push([name, randomInfoStr(next, i)]);
  }
  return encoder.encode(encodeListResponse(entries));
}

Deno.test("the decoder gives what decoding the whole answer gives, for random answers cut anywhere", () => {
  const next = random(17);
  for (let round = 0; round < 2_000; round++) {
    const bytes = randomAnswer(next);
    const cuts = Array.from(
      { length: Math.floor(next() * 6) },
      () => Math.floor(next() * (bytes.byteLength + 1)),
    ).sort((a, b) => a - b);
    const outcome = assertSame(bytes, cuts);
    assert.ok("keys" in outcome, "an answer this service encodes decodes");
  }
});

Deno.test("the decoder: a cut at every byte, and at every pair of bytes, of a small answer", () => {
  const bytes = encoder.encode(encodeListResponse([
    ['q"u\\o', JSON.stringify(sampleInfo(1))],
    ["é😀", "not json"],
    ["__proto__", JSON.stringify(sampleInfo(2))],
    ["7", '"\\u0000"'],
    ['q"u\\o', JSON.stringify(sampleInfo(3))],
  ]));
  const whole = assertSame(bytes, []);
  assert.ok("keys" in whole);
  // Integer-like names first, then in the answer's order; the repeated name keeps its last value.
  assert.deepEqual(whole.keys, ["7", 'q"u\\o', "é😀", "__proto__"]);
  assert.equal((whole.values[1] as { CpuReq: number }).CpuReq, sampleInfo(3).CpuReq);
  for (let i = 0; i <= bytes.byteLength; i++) assertSame(bytes, [i]);
  // One byte at a time.
  assertSame(bytes, Array.from({ length: bytes.byteLength }, (_, i) => i));
  const small = encoder.encode(
    encodeListResponse([['q"\\', '{"é":1}'], ["😀", "x"], ['q"\\', "y"]]),
  );
  for (let i = 0; i <= small.byteLength; i++) {
    for (let j = i; j <= small.byteLength; j++) assertSame(small, [i, j]);
  }
});

Deno.test("the decoder: every truncation of an answer fails as decoding the whole fails", () => {
  const bytes = encoder.encode(encodeListResponse([
    ["a", JSON.stringify(sampleInfo(1))],
    ['b\\"', "x"],
  ]));
  for (let end = 0; end < bytes.byteLength; end++) {
    const truncated = bytes.subarray(0, end);
    const outcome = assertSame(truncated, [Math.floor(end / 2)]);
    assert.ok("error" in outcome, `a truncation at ${end} is refused`);
    assert.equal(outcome.error, "MalformedMessageError");
  }
});

Deno.test("the decoder: answers of other forms and malformed ones, as decoding the whole", () => {
  const info = JSON.stringify(JSON.stringify(sampleInfo(1)));
  const answers = [
    // Other forms a valid answer can take.
    '{"NameToInfoStr":null,"LookupOk":false}',
    '{"NameToInfoStr":{},"LookupOk":false}',
    '{"NameToInfoStr":{"a":"x"},"LookupOk":false}',
    `{"LookupOk":true,"NameToInfoStr":{"a":${info}}}`,
    `{ "NameToInfoStr": { "a" : ${info} , "b":"y" }, "LookupOk": true }`,
    `{"NameToInfoStr":{"a":${info}},"LookupOk":true}\n \t\r`,
    `\uFEFF{"NameToInfoStr":{"a":${info}},"LookupOk":true}`,
    `{"NameToInfoStr":{"\\u0061\\/":${info},"b":"\\ud83d\\ude00"},"LookupOk":true}`,
    `{"NameToInfoStr":{"a":"x"},"LookupOk":true,"More":[1,{"b":2}]}`,
    `{"NameToInfoStr":{"a":"x"},"NameToInfoStr":{"b":${info}},"LookupOk":true}`,
    `{"NameToInfoStr":{"a":"x"},"LookupOk":true,"LookupOk":false}`,
    `{"NameToInfoStr":{"a":"x","a":${info}},"LookupOk":true}`,
    `{"NameToInfoStr":{"__proto__":${info},"constructor":"x"},"LookupOk":true}`,
    // Malformed ones.
    "",
    "{",
    "null",
    "[]",
    '"text"',
    '{"NameToInfoStr":{"a":"x"}}',
    '{"NameToInfoStr":{"a":"x"},"LookupOk":"yes"}',
    '{"NameToInfoStr":[],"LookupOk":true}',
    '{"NameToInfoStr":{"a":1},"LookupOk":true}',
    '{"NameToInfoStr":{"a":{"b":"c"}},"LookupOk":true}',
    '{"NameToInfoStr":{"a":"x",},"LookupOk":true}',
    '{"NameToInfoStr":{,"a":"x"},"LookupOk":true}',
    '{"NameToInfoStr":{"a":"x""b":"y"},"LookupOk":true}',
    '{"NameToInfoStr":{"a""x"},"LookupOk":true}',
    '{"NameToInfoStr":{"a":"x\\q"},"LookupOk":true}',
    '{"NameToInfoStr":{"a":"x\\u12"},"LookupOk":true}',
    '{"NameToInfoStr":{"a\u0001":"x"},"LookupOk":true}',
    '{"NameToInfoStr":{"a":"x\ny"},"LookupOk":true}',
    '{"NameToInfoStr":{"a":"x\\\\"},"LookupOk":true}',
    '{"NameToInfoStr":{"a":"x\\\\\\"},"LookupOk":true}',
    '{"NameToInfoStr":{"a":"x"},"LookupOk":true}}',
    '{"NameToInfoStr":{"a":"x"},"LookupOk":true}x',
    '{"NameToInfoStr":{"a":"x"}},"LookupOk":true}',
    '{"NameToInfoStr":{"a":"x"},"LookupOk":tru}',
  ];
  for (const answer of answers) {
    const bytes = encoder.encode(answer);
    for (let cut = 0; cut <= bytes.byteLength; cut++) assertSame(bytes, [cut]);
  }
  // Bytes that are not UTF-8 are replaced as the whole answer's decoding replaces them.
  const broken = encoder.encode(`{"NameToInfoStr":{"a\xff":${info}},"LookupOk":true}`);
  broken[20] = 0xff;
  broken[21] = 0xc3;
  for (let cut = 0; cut <= broken.byteLength; cut++) assertSame(broken, [cut]);
});

Deno.test("the decoder: random damage to answers is refused or accepted as decoding the whole", () => {
  const next = random(4242);
  const alphabet = ['"', "\\", ":", ",", "{", "}", "[", "]", " ", "a", "0", "u", "é", "\n"];
  let refused = 0;
  for (let round = 0; round < 3_000; round++) {
    const text = new TextDecoder().decode(randomAnswer(next));
    const chars = [...text];
    for (let edits = 1 + Math.floor(next() * 3); edits > 0; edits--) {
      const at = Math.floor(next() * (chars.length + 1));
      const roll = next();
      const char = alphabet[Math.floor(next() * alphabet.length)];
      if (roll < 0.4) chars.splice(at, 1);
      else if (roll < 0.7) chars.splice(at, 0, char);
      else chars.splice(at, 1, char);
    }
    const bytes = encoder.encode(chars.join(""));
    const cuts = Array.from(
      { length: Math.floor(next() * 4) },
      () => Math.floor(next() * (bytes.byteLength + 1)),
    ).sort((a, b) => a - b);
    if ("error" in assertSame(bytes, cuts)) refused++;
  }
  assert.ok(refused > 1_000, `most damaged answers are refused (${refused})`);
});

Deno.test("the decoder: a bad entry among good ones is kept apart, with its reason", () => {
  const entries: [string, string][] = Array.from(
    { length: 500 },
    (_, i) => [`svc-${i}`, JSON.stringify(sampleInfo(i))],
  );
  entries[250] = ["svc-250", '{"ContentHash":1}'];
  entries[499] = ["svc-499", "garbage{"];
  const bytes = encoder.encode(encodeListResponse(entries));
  const cuts = [];
  for (let at = 4_096; at < bytes.byteLength; at += 4_096) cuts.push(at);
  const outcome = assertSame(bytes, cuts);
  assert.ok("keys" in outcome);
  assert.equal(outcome.keys.length, 500);
  assert.match(outcome.values[250] as string, /^invalid: ContentHash must be a string/);
  assert.match(outcome.values[499] as string, /^invalid: ServiceInfo is not valid JSON/);
  assert.deepEqual(outcome.values[0], sampleInfo(0));
});

Deno.test("the decoder: an entry that never ends is left to the whole answer's decoding", () => {
  const long = "x".repeat(1.5 * (1 << 20));
  for (
    const answer of [
      `{"NameToInfoStr":{"a":"${long}`,
      `{"NameToInfoStr":{"a":"${long}"},"LookupOk":true}`,
    ]
  ) {
    const bytes = encoder.encode(answer);
    const cuts = [];
    for (let at = 65_536; at < bytes.byteLength; at += 65_536) cuts.push(at);
    const outcome = assertSame(bytes, cuts);
    assert.equal("error" in outcome, !answer.endsWith("}"));
  }
});

Deno.test("the decoder maps each entry as soon as it has arrived, before the answer ends", () => {
  const next = random(99);
  for (let round = 0; round < 500; round++) {
    const entries: [string, string][] = Array.from(
      { length: 1 + Math.floor(next() * 8) },
      (_, i) => [randomName(next), randomInfoStr(next, i)],
    );
    const bytes = encoder.encode(encodeListResponse(entries));
    const mapped: string[] = [];
    const decoder = new ListAnswerDecoder((name) => mapped.push(name));
    // Everything up to the map's closing brace, cut into pieces.
    const mapEnd = bytes.byteLength - ',"LookupOk":true}'.length;
    for (let at = 0; at < mapEnd; at += 7) {
      decoder.push(bytes.subarray(at, Math.min(at + 7, mapEnd)));
    }
    const names = new Set(entries.map(([name]) => name));
    assert.deepEqual(new Set(mapped), names, new TextDecoder().decode(bytes));
    decoder.push(bytes.subarray(mapEnd));
    assert.equal(decoder.end().LookupOk, true);
    assert.ok(mapped.length <= entries.length, "no entry is mapped twice");
    assert.ok(mapped.length >= names.size);
  }
});

Deno.test("the decoder: a name is not taken for the one an earlier answer had in its place", () => {
  // Deno 2.9's V8 (15.0) JSON.parse of objects reads the key `x\"` as `x\` once an object with the
  // keys `k`, `x\` was parsed: names decoded as strings, not as keys, are not confused so.
  const earlier = String.raw`{"NameToInfoStr":{"k":"1","x\\":"2"},"LookupOk":true}`;
  JSON.parse(earlier);
  const decoder = new ListAnswerDecoder((_, infoStr) => infoStr);
  decoder.push(encoder.encode(String.raw`{"NameToInfoStr":{"k":"1","x\"":"3"},"LookupOk":true}`));
  assert.deepEqual([...decoder.end().entries], [["k", "1"], ['x"', "3"]]);
});
