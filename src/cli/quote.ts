/**
 * Names and entries in the CLI's text output, made unambiguous: a service
 * name may hold spaces, braces, look-alike letters, and (written by an older
 * or foreign instance straight into etcd) line breaks, bidi controls or
 * invisible characters, any of which could make one entry read as two or
 * forge another name's line.
 *
 * @module
 */

/**
 * Visible characters (letters, marks, digits, punctuation, symbols) but `"`,
 * `\`, `,` and invisible ones: such a name cannot end its line's field early
 * or hide, and is printed as it is (SPEC's `Service Name: <name>, Info: …`).
 */
const PLAIN =
  /^(?![^"\\,]*["\\,])(?!.*\p{Default_Ignorable_Code_Point})[\p{L}\p{M}\p{N}\p{P}\p{S}]+$/u;

/**
 * A service name for text output: a plain name (visible characters only, no
 * space, `"`, `\` or `,`; other scripts' letters included, as SPEC prints
 * them) as it is; any other in double quotes, as git quotes paths, with
 * `\"`, `\\`, `\n`, `\r`, `\t`, and every other character outside printable
 * ASCII as `\uXXXX` (`\u{XXXXX}` past U+FFFF). A quoted name is therefore one
 * line of visible ASCII that cannot end early. (Look-alikes of another's
 * name are refused when written.) `-json` output keeps names exact.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quoteName } from "./quote.ts";
 * assert.equal(quoteName("team.svc-1"), "team.svc-1");
 * assert.equal(quoteName('a, Info: {"x":1}'), '"a, Info: {\\"x\\":1}"');
 * assert.equal(quoteName("pay\u202Epal\n"), '"pay\\u202epal\\n"');
 * assert.equal(quoteName("caf\u00e9-\u65e5\u672c"), "caf\u00e9-\u65e5\u672c"); // printed as is
 * assert.equal(quoteName("my service"), '"my service"');
 * assert.equal(quoteName("a\u3164b"), '"a\\u3164b"'); // an invisible Hangul filler
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
