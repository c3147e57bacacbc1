/**
 * Names that look alike: a name's confusable skeleton, and an index of the
 * registry's names by skeleton, so that the store can refuse a new name that
 * could pass for another's (`pаypal` with a Cyrillic `а` for `paypal`).
 *
 * The skeleton follows Unicode's (UTS #39) idea with what this machine has,
 * without its `confusables.txt`: NFKC (fullwidth, ligatures, mathematical
 * letters), a small table of the Latin look-alikes of Cyrillic, Greek and
 * Armenian letters, dashes and a few symbols, then case folding, `0` as `o`,
 * `1`, `|` and capital `I` as `l`, `rn` as `m` and `vv` as `w`. It catches the
 * common forgeries; a rarer script's look-alike can still pass.
 *
 * @module
 */

/** Look-alikes of Latin letters and of `-`, each mapped to what it passes for. */
const LOOK_ALIKES: Readonly<Record<string, string>> = Object.fromEntries(
  [
    // Cyrillic lowercase
    ["аɑα", "a"],
    ["Ьь", "b"],
    ["сϲς", "c"],
    ["ԁ", "d"],
    ["еҽ", "e"],
    ["ɡց", "g"],
    ["һ", "h"],
    ["іıɩι", "i"],
    ["ј", "j"],
    ["κк", "k"],
    ["ӏ", "l"],
    ["ոռ", "n"],
    ["оοօ", "o"],
    ["рρ", "p"],
    ["ԛ", "q"],
    ["ѕ", "s"],
    ["υս", "u"],
    ["νѵ", "v"],
    ["ԝѡ", "w"],
    ["хχ", "x"],
    ["уү", "y"],
    // Capitals that pass for Latin capitals (their lowercase does not look alike)
    ["АΑ", "a"],
    ["ВΒ", "b"],
    ["СϹ", "c"],
    ["ЕΕ", "e"],
    ["НΗ", "h"],
    ["ІΙI|1", "l"],
    ["ЈͿ", "j"],
    ["КΚ", "k"],
    ["МΜ", "m"],
    ["Ν", "n"],
    ["ОΟՕ0", "o"],
    ["РΡ", "p"],
    ["ЅՏ", "s"],
    ["ТΤ", "t"],
    ["ХΧ", "x"],
    ["ҮΥ", "y"],
    ["Ζ", "z"],
    // Dashes and minus signs
    ["\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u02d7\u2043", "-"],
  ].flatMap(([chars, to]) => [...chars].map((c) => [c, to])),
);

/**
 * The confusable skeleton of a (normalized) service name: two names with the
 * same skeleton can pass for each other.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nameSkeleton } from "./look_alikes.ts";
 * const paypal = nameSkeleton("paypal");
 * assert.equal(nameSkeleton("p\u0430ypal"), paypal); // Cyrillic а
 * assert.equal(nameSkeleton("PayPal"), paypal);
 * assert.equal(nameSkeleton("PayPaI"), paypal); // capital I for l
 * assert.equal(nameSkeleton("\uff50\uff41\uff59\uff50\uff41\uff4c"), paypal); // fullwidth
 * assert.equal(nameSkeleton("payment\u2010api"), nameSkeleton("payment-api"));
 * assert.equal(nameSkeleton("rnodern"), nameSkeleton("modem"));
 * assert.notEqual(nameSkeleton("billing"), nameSkeleton("biling"));
 * ```
 */
export function nameSkeleton(name: string): string {
  let skeleton = "";
  for (const char of name.normalize("NFKC")) {
    skeleton += LOOK_ALIKES[char] ?? mapLower(char);
  }
  return skeleton.replaceAll("rn", "m").replaceAll("vv", "w");
}

function mapLower(char: string): string {
  const lower = char.toLowerCase();
  let mapped = "";
  for (const c of lower) mapped += LOOK_ALIKES[c] ?? c;
  return mapped;
}

/**
 * The names of the registry by skeleton: what {@linkcode LookAlikeIndex.find}
 * answers is every other name that could pass for a given one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LookAlikeIndex } from "./look_alikes.ts";
 * const index = new LookAlikeIndex();
 * index.add("paypal");
 * assert.deepEqual(index.find("p\u0430ypal"), ["paypal"]);
 * assert.deepEqual(index.find("paypal"), []);
 * index.remove("paypal");
 * assert.deepEqual(index.find("p\u0430ypal"), []);
 * ```
 */
export class LookAlikeIndex {
  readonly #names = new Map<string, Set<string>>();

  /** Adds `name` (again: no change). */
  add(name: string): void {
    const skeleton = nameSkeleton(name);
    let names = this.#names.get(skeleton);
    if (!names) this.#names.set(skeleton, names = new Set());
    names.add(name);
  }

  /** Removes `name` (absent: no change). */
  remove(name: string): void {
    const skeleton = nameSkeleton(name);
    const names = this.#names.get(skeleton);
    if (!names?.delete(name)) return;
    if (names.size === 0) this.#names.delete(skeleton);
  }

  /** The names other than `name` with its skeleton. */
  find(name: string): string[] {
    return [...this.#names.get(nameSkeleton(name)) ?? []].filter((n) => n !== name);
  }
}
