/**
 * The fake's parse_mode parsers against cases whose expected text, entities and error
 * messages are those of the official server (byte offsets in errors are UTF-8 bytes of
 * the input; entity offsets are UTF-16 units of the output).
 */
import { describe, expect, it } from "vitest";
import { acceptEntities, nestingProblems } from "../fakes/telegram/entities.ts";
import { ApiError } from "../fakes/telegram/errors.ts";
import { finishText } from "../fakes/telegram/formatted-text.ts";
import { parseHtml } from "../fakes/telegram/html.ts";
import { parseLegacyMarkdown, parseMarkdownV2 } from "../fakes/telegram/markdown.ts";

function failure(parse: () => unknown): string {
  try {
    parse();
  } catch (error) {
    if (error instanceof ApiError) return error.description;
    throw error;
  }
  throw new Error("expected the parser to fail");
}

const PREFIX = "Bad Request: can't parse entities: ";

describe("HTML", () => {
  it.each([
    ["🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"],
    ["🏟 🏟&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'],
    ["🏟 🏟&lt;<i   =aba>", 'Empty attribute name in the tag "i" at byte offset 13'],
    ["🏟 🏟&lt;<i    aba>", 'Can\'t find end tag corresponding to start tag "i"'],
    ["🏟 🏟&lt;<i    aba  =  ", 'Unclosed start tag "i" at byte offset 13'],
    ["🏟 🏟&lt;<i    aba  =  190azAz-.,", "Unexpected end of name token at byte offset 27"],
    ['🏟 🏟&lt;<i    aba  =  "&lt;&gt;&quot;>', "Unclosed start tag at byte offset 13"],
    ["🏟 🏟&lt;</", "Unexpected end tag at byte offset 13"],
    ["🏟 🏟&lt;<b></b></", "Unexpected end tag at byte offset 20"],
    ["🏟 🏟&lt;<i>a</i   ", "Unclosed end tag at byte offset 17"],
    ["🏟 🏟&lt;<i>a</em   >", 'Unmatched end tag at byte offset 17, expected "</i>", found "</em>"'],
  ])("refuses %j", (input, message) => {
    expect(failure(() => parseHtml(input))).toBe(PREFIX + message);
  });

  it("decodes only the four named entities and numeric ones", () => {
    expect(parseHtml("&ge;&lt;&gt;&amp;&quot;&#128512;&#x41;").text).toBe('&ge;<>&"😀A');
  });

  it("maps tags to entities with UTF-16 offsets", () => {
    expect(parseHtml("🏟 🏟<i>🏟 &lt🏟</i>")).toEqual({
      text: "🏟 🏟🏟 <🏟",
      entities: [{ type: "italic", offset: 5, length: 6 }],
    });
    expect(parseHtml('<a href="telegram.org"> </a>').entities).toEqual([
      { type: "text_link", offset: 0, length: 1, url: "http://telegram.org/" },
    ]);
    expect(parseHtml('<pre><code class="language-ts">x</code></pre>').entities).toEqual([
      { type: "pre", offset: 0, length: 1, language: "ts" },
    ]);
    expect(parseHtml('<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>').entities).toEqual([
      { type: "spoiler", offset: 0, length: 1 },
      { type: "spoiler", offset: 1, length: 1 },
    ]);
    expect(parseHtml("<b></b>").entities).toEqual([]);
  });
});

describe("MarkdownV2", () => {
  // ">" opens a blockquote at the start of a line; elsewhere it is reserved (below).
  it.each(["]", "(", ")", "#", "+", "-", "=", "|", "{", "}", ".", "!"])("requires escaping %s", (c) => {
    expect(failure(() => parseMarkdownV2(c))).toBe(
      `${PREFIX}Character '${c}' is reserved and must be escaped with the preceding '\\'`,
    );
    expect(parseMarkdownV2(`\\${c}`).text).toBe(c);
  });

  it.each([
    ["🏟 🏟_abacaba", "Can't find end of Italic entity at byte offset 9"],
    ["🏟 🏟_abac * asd ", "Can't find end of Bold entity at byte offset 15"],
    ["🏟 🏟`", "Can't find end of Code entity at byte offset 9"],
    ["🏟 🏟```", "Can't find end of Pre entity at byte offset 9"],
    ["🏟 🏟```a ", "Can't find end of PreCode entity at byte offset 9"],
    ["🏟 🏟__🏟 🏟_", "Can't find end of Italic entity at byte offset 20"],
    ["🏟 🏟_🏟 🏟__", "Can't find end of Underline entity at byte offset 19"],
    ["🏟 🏟__🏟 _🏟___", "Can't find end of Italic entity at byte offset 23"],
    ["[telegram\\.org](asd\\)", "Can't find end of a URL at byte offset 16"],
    ["🏟 🏟||test\\|", "Can't find end of Spoiler entity at byte offset 9"],
    ["🏟 🏟![👍]", "Custom emoji entity must contain a tg://emoji URL"],
    ["🏟 🏟>", "Character '>' is reserved and must be escaped with the preceding '\\'"],
    [">*b\n>ld \n>bo\nld*\nasd\ndef", "Can't find end of Bold entity at byte offset 1"],
  ])("refuses %j", (input, message) => {
    expect(failure(() => parseMarkdownV2(input))).toBe(PREFIX + message);
  });

  it.each([
    [
      "🏟 🏟_🏟 __🏟___",
      "🏟 🏟🏟 🏟",
      [
        ["italic", 5, 5],
        ["underline", 8, 2],
      ],
    ],
    [
      "🏟 🏟__🏟 _🏟_ __",
      "🏟 🏟🏟 🏟 ",
      [
        ["underline", 5, 6],
        ["italic", 8, 2],
      ],
    ],
    ["🏟 🏟```🏟\n🏟```", "🏟 🏟🏟", [["pre", 5, 2]]],
    ["||test||", "test", [["spoiler", 0, 4]]],
    ["🏟 🏟**", "🏟 🏟", []],
    ["[telegram\\.org](telegram.dog)", "telegram.org", [["text_link", 0, 12]]],
    ["[ ](as)", " ", []],
    ["abc\n> \n> \n>\ndef", "abc\n \n \n\ndef", [["blockquote", 4, 5]]],
    ["\\\\\\a\\➡️\\", "\\a\\➡️\\", []],
  ])("parses %j", (input, text, entities) => {
    const parsed = parseMarkdownV2(input);
    expect(parsed.text).toBe(text);
    const sorted = [...parsed.entities].sort((a, b) => a.offset - b.offset);
    expect(sorted.map((e) => [e.type, e.offset, e.length])).toEqual(entities);
  });

  it("keeps the pre language and the text link target", () => {
    expect(parseMarkdownV2("```ts\nlet x```").entities).toEqual([
      { type: "pre", offset: 0, length: 5, language: "ts" },
    ]);
    expect(parseMarkdownV2("[a](https://x.example/?q=\\))").entities).toEqual([
      { type: "text_link", offset: 0, length: 1, url: "https://x.example/?q=)" },
    ]);
  });
});

describe("legacy Markdown", () => {
  it("parses the four markers and refuses an unclosed one", () => {
    expect(parseLegacyMarkdown("*b* _i_ `c` [l](example.org)").entities.map((e) => e.type)).toEqual([
      "bold",
      "italic",
      "code",
      "text_link",
    ]);
    expect(failure(() => parseLegacyMarkdown("a *b"))).toBe(
      `${PREFIX}Can't find end of the entity starting at byte offset 2`,
    );
  });
});

describe("stored text", () => {
  it("trims surrounding whitespace, shifts entities and detects mentions, commands and URLs", () => {
    const finished = finishText({ text: "  /start @alice_x see https://example.org/a.  ", entities: [] });
    expect(finished.text).toBe("/start @alice_x see https://example.org/a.");
    expect(finished.entities.map((e) => [e.type, e.offset, e.length])).toEqual([
      ["bot_command", 0, 6],
      ["mention", 7, 8],
      ["url", 20, 21],
    ]);
  });
});

describe("explicit entities", () => {
  // The descriptions are the server's answers to these requests (api.telegram.org); the ones for
  // a cut surrogate pair follow TDLib's wording.
  it.each([
    [
      "hello",
      [{ type: "bold", offset: 100, length: 1 }],
      "entity begins after the end of the text at UTF-16 offset 100",
    ],
    [
      "hello",
      [{ type: "bold", offset: 0, length: 100 }],
      "entity beginning at UTF-16 offset 0 ends after the end of the text at UTF-16 offset 100",
    ],
    ["hello", [{ type: "bold", offset: -1, length: 1 }], "receive an entity with incorrect offset -1"],
    [
      "hello",
      [{ type: "invalid_type", offset: 0, length: 1 }],
      "can't parse MessageEntity: Unsupported type specified",
    ],
    [
      "click",
      [{ type: "text_link", offset: 0, length: 5, url: "not-a-url" }],
      "entity URL 'not-a-url' is invalid: Wrong HTTP URL",
    ],
    [
      "click",
      [{ type: "text_link", offset: 0, length: 5, url: "" }],
      "entity URL '' is invalid: URL host is empty",
    ],
    [
      "x",
      [{ type: "custom_emoji", offset: 0, length: 1, custom_emoji_id: "9999999999999999999" }],
      `can't parse MessageEntity: Field "custom_emoji_id" must be a valid Number`,
    ],
    [
      "😀x",
      [{ type: "bold", offset: 1, length: 2 }],
      "entity begins in a middle of a UTF-16 symbol at byte offset 4",
    ],
    [
      "x😀",
      [{ type: "bold", offset: 0, length: 2 }],
      "entity beginning at UTF-16 offset 0 ends in a middle of a UTF-16 symbol at byte offset 5",
    ],
  ])("refuses %j with %j", (text, entities, message) => {
    expect(failure(() => acceptEntities(text, entities))).toBe(`Bad Request: ${message}`);
  });

  it("drops empty entities and repairs the nesting rules silently", () => {
    const kept = acceptEntities("see this now", [
      { type: "bold", offset: 0, length: 12 },
      { type: "code", offset: 4, length: 4 },
      { type: "text_link", offset: 6, length: 4, url: "https://example.com" },
      { type: "italic", offset: 3, length: 0 },
    ]);
    expect(kept.map((e) => [e.type, e.offset, e.length])).toEqual([
      ["bold", 0, 4],
      ["code", 4, 4],
      ["bold", 8, 4],
    ]);
    expect(
      nestingProblems([
        { type: "bold", offset: 0, length: 12 },
        { type: "code", offset: 4, length: 4 },
      ]),
    ).toHaveLength(1);
  });

  it("cleans the text as the server does, entities kept in step", () => {
    expect(
      finishText({
        text: "a\tb\r\nc\u202ed \u200e\u200fe",
        entities: [{ type: "bold", offset: 4, length: 4 }],
      }),
    ).toEqual({ text: "a b\ncd \u200c\u200fe", entities: [{ type: "bold", offset: 4, length: 2 }] });
    // Blanks at the start of a style leave it; a code block keeps them, and so does the text.
    expect(finishText({ text: " \nx", entities: [{ type: "pre", offset: 0, length: 3 }] }).text).toBe(" \nx");
    expect(finishText({ text: "a  b", entities: [{ type: "bold", offset: 1, length: 3 }] }).entities).toEqual(
      [{ type: "bold", offset: 3, length: 1 }],
    );
  });
});
