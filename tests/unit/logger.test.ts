import assert from "node:assert/strict";
import { createLogger, escapeLogText, type LogFormat } from "../../src/log/logger.ts";

// Every character some reader takes as a line break, or that reorders or hides text: C0, DEL,
// C1 (NEL U+0085), format characters (bidi overrides, zero-width, an astral tag), U+2028/U+2029.
const TRICKY = [
  ..."\u0000\n\r\t\u000b\u000c\u001c\u001e\u007f\u0080\u0085\u009f",
  ..."\u00ad\u200b\u200e\u202e\u2066\ufeff\u{e0001}\u2028\u2029",
];
const RAW = /[\p{Cc}\p{Cf}\p{Cs}\u2028\u2029]/u;

Deno.test("escapeLogText leaves no control, format or separator character raw", () => {
  for (const c of TRICKY) {
    const escaped = escapeLogText(`a${c}b`);
    assert.doesNotMatch(escaped, RAW, `U+${c.codePointAt(0)!.toString(16)}`);
    assert.ok(escaped.length > 3, `U+${c.codePointAt(0)!.toString(16)} was dropped`);
  }
  assert.equal(escapeLogText("lone \ud800 surrogate"), "lone \\ud800 surrogate");
  assert.equal(escapeLogText("plain text, é 中 😀"), "plain text, é 中 😀");
});

for (const format of ["text", "json"] as LogFormat[]) {
  Deno.test(`a ${format} log line holds no raw control, format or separator character`, () => {
    const lines: string[] = [];
    const log = createLogger({ write: (line) => lines.push(line) }, { format });
    const message = `name=${JSON.stringify(`x${TRICKY.join("")}`)} 😀`;
    log.warn(message);
    assert.equal(lines.length, 1);
    assert.doesNotMatch(lines[0], RAW);
    if (format === "json") assert.equal(JSON.parse(lines[0]).msg, message);
  });
}
