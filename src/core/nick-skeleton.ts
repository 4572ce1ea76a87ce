/**
 * Nick "skeletons" (RELIABILITY.md S11), after the idea of Unicode TR39 §4
 * (https://www.unicode.org/reports/tr39/#Confusable_Detection): two nicks that a reader could
 * take for one another get the same skeleton, so where Postern decides who may hold which nick
 * (portal rooms), a newcomer cannot pass for an occupant by writing `аlice` with a Cyrillic а,
 * `ALICE`, or `aIice` with a capital I.
 *
 * This is our own compact version, not the full confusables.txt. Its scope:
 * - compatibility forms are folded (NFKD: fullwidth `ａ`, mathematical `𝐚`, ligatures, `ℓ`);
 * - invisible characters are dropped (zero-width, bidi controls, joiners, variation selectors);
 * - the Cyrillic and Greek letters that look like Latin ones, upper and lower case, become
 *   those Latin letters;
 * - case is folded, and because a capital I looks like a small l, the whole class `i l I 1 | ı ǀ`
 *   is one letter; `0` is `o`; `rn` is `m` and `vv` is `w`;
 * - runs of white space count as one space, and leading or trailing space as none.
 * Diacritics stay (`é` is not `e`): they are visible. Scripts beyond Latin, Greek and Cyrillic
 * (e.g. Armenian `օ`, Cherokee) are compared as they are. A skeleton is only for comparing;
 * it is never shown.
 */

/** Cyrillic and Greek letters (both cases) that look like a Latin letter, and a few Latin look-alikes. */
const LOOK_ALIKES: Readonly<Record<string, string>> = {
  // Cyrillic small
  а: "a",
  е: "e",
  о: "o",
  р: "p",
  с: "c",
  у: "y",
  х: "x",
  ѕ: "s",
  і: "i",
  ј: "j",
  ԁ: "d",
  һ: "h",
  ӏ: "l",
  ԛ: "q",
  ԝ: "w",
  ү: "y",
  к: "k",
  // Cyrillic capital
  А: "A",
  В: "B",
  Е: "E",
  К: "K",
  М: "M",
  Н: "H",
  О: "O",
  Р: "P",
  С: "C",
  Т: "T",
  Х: "X",
  Ѕ: "S",
  І: "I",
  Ј: "J",
  Ү: "Y",
  Ԛ: "Q",
  Ԝ: "W",
  Ӏ: "l",
  // Greek small
  α: "a",
  ο: "o",
  ρ: "p",
  ι: "i",
  κ: "k",
  ν: "v",
  υ: "u",
  χ: "x",
  ϲ: "c",
  ϳ: "j",
  // Greek capital
  Α: "A",
  Β: "B",
  Ε: "E",
  Ζ: "Z",
  Η: "H",
  Ι: "I",
  Κ: "K",
  Μ: "M",
  Ν: "N",
  Ο: "O",
  Ρ: "P",
  Τ: "T",
  Υ: "Y",
  Χ: "X",
  Ϲ: "C",
  // Latin
  ı: "i",
  ǀ: "l",
  ɑ: "a",
  ɡ: "g",
};

/** Default-ignorable characters (zero-width, bidi controls, joiners, variation selectors) and controls. */
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\p{Cc}]/gu;

/** After case folding: letters and digits that look the same as another in some font. */
const CASELESS: readonly [RegExp, string][] = [
  [/[il1|]/g, "l"],
  [/0/g, "o"],
  [/rn/g, "m"],
  [/vv/g, "w"],
];

/** The skeleton of `nick`: equal for nicks a reader could take for one another (see the scope above). */
export function skeleton(nick: string): string {
  let s = nick.normalize("NFKD").replace(INVISIBLE, "");
  s = Array.from(s, (ch) => LOOK_ALIKES[ch] ?? ch).join("");
  s = s.toLowerCase();
  for (const [pattern, replacement] of CASELESS) s = s.replace(pattern, replacement);
  return s.replace(/\s+/g, " ").trim().normalize("NFD");
}

/** True when `a` and `b` could be taken for one another. */
export function confusable(a: string, b: string): boolean {
  return skeleton(a) === skeleton(b);
}

/**
 * `nick` if no nick in `others` could be taken for it; otherwise `nick (2)`, `nick (3)`, … the
 * first that none could. The suffix is visible to everyone, so the newcomer keeps the name they
 * chose and nobody mistakes them for whom it resembles.
 */
export function distinctNick(nick: string, others: Iterable<string>): string {
  const taken = new Set(Array.from(others, skeleton));
  if (!taken.has(skeleton(nick))) return nick;
  // At most taken.size + 1 tries: each suffix that fails matches a different taken skeleton.
  for (let n = 2; ; n += 1) {
    const candidate = `${nick} (${n})`;
    if (!taken.has(skeleton(candidate))) return candidate;
  }
}
