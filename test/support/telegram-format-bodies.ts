/**
 * Message bodies for S4 (RELIABILITY.md): what an XMPP user could write that means something to
 * Telegram's parse modes, its entity detection or its offsets — corpus B's Telegram payloads,
 * HTML/Markdown metacharacters, links and mentions, astral characters, ZWJ sequences, bidi marks
 * and line breaks, mixed with ordinary words. Shared by the property test and the end-to-end check.
 */
import fc from "fast-check";

/** Corpus B's Telegram payloads (RELIABILITY.md) and the markup of every parse_mode. */
export const TELEGRAM_PAYLOADS = [
  '<a href="tg://user?id=1">x</a>',
  "<b>bold</b>",
  "<i>",
  "</a>",
  "&lt;&amp;&#128512;",
  "*bold*",
  "*bold",
  "_x_",
  "_x",
  "`x`",
  "`x",
  "```",
  "```js\ncode\n```",
  "~~strike~~",
  "||spoiler||",
  "__underline__",
  "[x](tg://user?id=1)",
  "[click](https://evil.example/)",
  "![👍](tg://emoji?id=5368324170671202286)",
  "> quoted",
  ">",
  "**>",
  "\\*not bold\\*",
  "@username",
  "@durov",
  "https://example.com",
  "https://example.com/a_b*c*",
  "example.com",
  "tg://user?id=1",
  "tg://resolve?domain=telegram",
  "/start",
  "/start@some_bot",
  "#hashtag",
  "$USD",
  "mail@example.com",
  "+1 555 0100",
];

/** Characters that mean something to HTML, MarkdownV2 or legacy Markdown. */
export const METACHARACTERS = [..."<>&\"'*_`[]()~|>#+-=.!{}\\"];

/** Text that is hard on offsets and on displays: astral characters, ZWJ sequences, bidi marks. */
export const UNICODE = [
  "😀",
  "👨‍👩‍👧",
  "🏳️‍🌈",
  "𝔘𝔫𝔦",
  "\u200d",
  "\u200b",
  "\u200e",
  "\u200f",
  "\u200e\u200f\u200e",
  "\u202e",
  "\u2066x\u2069",
  "\u00a0",
  "é",
  "e\u0301",
  "漢字",
  "ﷺ",
  "\n",
  "\n\n",
  " ",
  "\t",
];

/** Any of the above, mixed with ordinary words and arbitrary strings. */
export function bodyFrom(atoms: fc.Arbitrary<string>, maxParts: number): fc.Arbitrary<string> {
  return fc.array(atoms, { maxLength: maxParts }).map((parts) => parts.join(""));
}

export const word = fc.stringMatching(/^[a-zA-Z0-9]{1,8}$/);
const simpleAtom = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...TELEGRAM_PAYLOADS) },
  { weight: 4, arbitrary: fc.constantFrom(...METACHARACTERS) },
  { weight: 3, arbitrary: fc.constantFrom(...UNICODE) },
  { weight: 4, arbitrary: word },
  { weight: 2, arbitrary: fc.constantFrom(" ", " ", "\n") },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 6 }) },
);
/** XEP-0393 styling the way people write it, around any of the above (nested sometimes). */
const styledAtom = fc
  .tuple(
    fc.constantFrom("*", "_", "~", "`", "```\n"),
    fc.array(
      fc.oneof(
        simpleAtom,
        word.map((w) => ` *${w}* `),
      ),
      { minLength: 1, maxLength: 4 },
    ),
  )
  .map(([marker, parts]) => {
    const inner = parts.join("");
    return marker === "```\n" ? `\n${marker}${inner}\n\`\`\`\n` : ` ${marker}${inner}${marker} `;
  });
export const hostileAtom = fc.oneof(
  { weight: 8, arbitrary: simpleAtom },
  { weight: 1, arbitrary: styledAtom },
);
/** A body an XMPP user could send: any mix of the above, sometimes as `/me`. */
export const hostileBody = fc
  .tuple(fc.boolean(), bodyFrom(hostileAtom, 30))
  .map(([me, text]) => (me && text.length % 5 === 0 ? `/me ${text}` : text));
