import assert from "node:assert/strict";
import {
  echoStripper,
  selectionPrefix,
  stripSelectionEcho,
} from "../../src/client/_lazy_select.ts";
import { concatBytes } from "../../src/_bytes.ts";

const encoder = new TextEncoder();
const lp = (text: string) => concatBytes([new Uint8Array([text.length]), encoder.encode(text)]);

Deno.test("selectionPrefix is the multistream-select header and protocol, length-prefixed", () => {
  assert.deepEqual(
    selectionPrefix("/get/0.1"),
    concatBytes([lp("/multistream/1.0.0\n"), lp("/get/0.1\n")]),
  );
  assert.equal(selectionPrefix("/get/0.1")[0], 19);
});

Deno.test("selectionPrefix uses a two-byte length for a long protocol id", () => {
  const long = `/${"x".repeat(199)}`;
  const prefix = selectionPrefix(long);
  const header = lp("/multistream/1.0.0\n");
  // 200 bytes + newline = 201 = 0xc9 0x01 as a varint.
  assert.deepEqual([...prefix.subarray(header.length, header.length + 2)], [0xc9, 0x01]);
  assert.equal(prefix.length, header.length + 2 + 201);
  const echo = concatBytes([prefix, encoder.encode("body")]);
  assert.equal(new TextDecoder().decode(stripSelectionEcho(echo, long)), "body");
});

Deno.test("stripSelectionEcho returns what follows the echo", () => {
  const answer = concatBytes([selectionPrefix("/get/0.1"), encoder.encode('{"LookupOk":false}')]);
  assert.equal(
    new TextDecoder().decode(stripSelectionEcho(answer, "/get/0.1")),
    '{"LookupOk":false}',
  );
  assert.equal(stripSelectionEcho(selectionPrefix("/list/0.1"), "/list/0.1").length, 0);
});

Deno.test("stripSelectionEcho tells a declined protocol from a broken answer", () => {
  const declined = concatBytes([lp("/multistream/1.0.0\n"), lp("na\n")]);
  assert.throws(() => stripSelectionEcho(declined, "/get/0.1"), {
    name: "UnsupportedProtocolError",
  });
  const other = concatBytes([lp("/multistream/1.0.0\n"), lp("/add/0.1\n")]);
  assert.throws(() => stripSelectionEcho(other, "/get/0.1"), /peer selected \/add\/0.1/);
  assert.throws(() => stripSelectionEcho(encoder.encode("HTTP/1.1 400"), "/get/0.1"), {
    name: "InvalidMessageError",
  });
  const truncated = selectionPrefix("/get/0.1").subarray(0, 25);
  assert.throws(() => stripSelectionEcho(truncated, "/get/0.1"), /ended inside/);
  assert.throws(() => stripSelectionEcho(new Uint8Array([0xff, 0xff, 0xff]), "/get/0.1"), {
    name: "InvalidMessageError",
  });
  assert.throws(() => stripSelectionEcho(new Uint8Array(), "/get/0.1"), {
    name: "InvalidMessageError",
  });
});

/** What an answer cut at `cuts` gives through echoStripper: the bytes after the echo, or the error. */
function stripInPieces(answer: Uint8Array, protocol: string, cuts: number[]): string {
  const taken: Uint8Array[] = [];
  const stripper = echoStripper(protocol, (bytes) => taken.push(bytes.slice()));
  let from = 0;
  for (const cut of [...cuts, answer.byteLength]) {
    stripper.push(answer.subarray(from, cut));
    from = cut;
  }
  try {
    stripper.end();
    return `ok ${new TextDecoder().decode(concatBytes(taken))}`;
  } catch (err) {
    return `${(err as Error).name}: ${(err as Error).message}`;
  }
}

function stripWhole(answer: Uint8Array, protocol: string): string {
  try {
    return `ok ${new TextDecoder().decode(stripSelectionEcho(answer, protocol))}`;
  } catch (err) {
    return `${(err as Error).name}: ${(err as Error).message}`;
  }
}

Deno.test("echoStripper gives what stripSelectionEcho gives, the answer cut anywhere", () => {
  const protocol = "/list/0.1";
  const answers = [
    concatBytes([selectionPrefix(protocol), encoder.encode('{"a":"b"}')]),
    selectionPrefix(protocol),
    selectionPrefix(protocol).subarray(0, 12),
    new Uint8Array(),
    concatBytes([lp("/multistream/1.0.0\n"), lp("na\n")]),
    concatBytes([lp("/multistream/1.0.0\n"), lp("/add/0.1\n"), encoder.encode("body")]),
    // A length as a two-byte varint (not the shortest form) is still a valid echo.
    concatBytes([
      lp("/multistream/1.0.0\n"),
      new Uint8Array([0x8a, 0x00]),
      encoder.encode(`${protocol}\n`),
      encoder.encode("body"),
    ]),
    encoder.encode("HTTP/1.1 400 Bad Request\r\n\r\n"),
    new Uint8Array([0xff, 0xff, 0xff, 0x01]),
  ];
  for (const answer of answers) {
    const expected = stripWhole(answer, protocol);
    for (let i = 0; i <= answer.byteLength; i++) {
      for (let j = i; j <= answer.byteLength; j++) {
        assert.equal(
          stripInPieces(answer, protocol, [i, j]),
          expected,
          `${answer} cut at ${i}, ${j}`,
        );
      }
    }
  }
  assert.equal(stripInPieces(answers[0], protocol, [3]), 'ok {"a":"b"}');
});
