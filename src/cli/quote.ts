/**
 * Names and entries in the CLI's text output, made unambiguous: a service
 * name may hold spaces, braces, look-alike letters, and (written by an older
 * or foreign instance straight into etcd) line breaks, bidi controls or
 * invisible characters, any of which could make one entry read as two or
 * forge another name's line.
 *
 * @module
 */

/** Printable ASCII but space, `"` and `\`: such a name can be printed as it is. */
const PLAIN = /^[!#-[\]-~]+$/;

/**
 * A service name for text output, quoted as git does with `core.quotePath`:
 * a plain name (printable ASCII, no space, `"` or `\`) is printed as it is;
 * any other in double quotes, with `\"`, `\\`, `\n`, `\r`, `\t`, and every
 * other character outside printable ASCII as `\uXXXX` (`\u{XXXXX}` past
 * U+FFFF). A quoted name is therefore one line of visible ASCII that cannot
 * end early, and look-alike letters show as the code points they are.
 * `-json` output keeps names exact.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quoteName } from "./quote.ts";
 * assert.equal(quoteName("team.svc-1"), "team.svc-1");
 * assert.equal(quoteName('a, Info: {"x":1}'), '"a, Info: {\\"x\\":1}"');
 * assert.equal(quoteName("pay\u202Epal\n"), '"pay\\u202epal\\n"');
 * assert.equal(quoteName("\u0440aypal"), '"\\u0440aypal"'); // Cyrillic "р"
 * assert.equal(quoteName('"quoted"'), '"\\"quoted\\""');
 * ```
 */
export function quoteName(name: string): string {
  if (PLAIN.test(name)) return name;
  let quoted = '"';
  for (const char of name) {
    const code = char.codePointAt(0)!;
    if (char === '"' || char === "\\") quoted += `\\${char}`;
    else if (char === "\n") quoted += "\\n";
    else if (char === "\r") quoted += "\\r";
    else if (char === "\t") quoted += "\\t";
    else if (code >= 0x20 && code <= 0x7e) quoted += char;
    else if (code <= 0xffff) quoted += `\\u${code.toString(16).padStart(4, "0")}`;
    else quoted += `\\u{${code.toString(16)}}`;
  }
  return `${quoted}"`;
}

/**
 * `text` (JSON, or a stored InfoStr) with every character that is invisible
 * or moves others (controls, format characters such as bidi overrides and
 * zero-width ones, line and paragraph separators, private-use and unassigned
 * code points, lone surrogates) written as `\uXXXX` escapes, one per UTF-16
 * unit: JSON stays JSON that parses to the same value, since such characters
 * can only stand inside its strings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeInvisible } from "./quote.ts";
 * const json = JSON.stringify({ DockerHash: "img\u202E\u2028" });
 * assert.equal(escapeInvisible(json), '{"DockerHash":"img\\u202e\\u2028"}');
 * assert.deepEqual(JSON.parse(escapeInvisible(json)), JSON.parse(json));
 * ```
 */
export function escapeInvisible(text: string): string {
  return text.replace(
    /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Zl}\p{Zp}]|\p{Cs}/gu,
    (char) =>
      Array.from(
        { length: char.length },
        (_, i) => `\\u${char.charCodeAt(i).toString(16).padStart(4, "0")}`,
      ).join(""),
  );
}
