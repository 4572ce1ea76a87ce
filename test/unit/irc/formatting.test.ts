import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ircToStyled, styledToIrc } from "../../../adapters/irc/protocol/formatting.ts";
import type { StyledText, StyleKind, StyleSpan } from "../../../src/adapter/text.ts";

const B = "\x02";
const I = "\x1d";
const U = "\x1f";
const S = "\x1e";
const M = "\x11";
const C = "\x03";
const H = "\x04";
const RESET = "\x0f";
const REVERSE = "\x16";

type ToggleKind = Exclude<StyleKind, "link">;
const TOGGLE_KINDS: ToggleKind[] = ["bold", "italic", "underline", "strike", "monospace"];

const LINE_BREAK_CHARS = ["\r", "\n", "\u0085", "\u2028", "\u2029"];

/** The styles covering each code point start of `t`, as comparable strings. */

function coverage(t: StyledText): string[] {
  const result: string[] = [];
  for (let i = 0; i < t.text.length; i++) {
    const code = t.text.charCodeAt(i);
    if (code >= 0xdc00 && code <= 0xdfff && i > 0) {
      const before = t.text.charCodeAt(i - 1);
      if (before >= 0xd800 && before <= 0xdbff) continue;
    }
    // IRC styles end with the line: a line break itself carries no style, so none is compared.
    if (LINE_BREAK_CHARS.includes(t.text.charAt(i))) {
      result.push("");
      continue;
    }
    const kinds = TOGGLE_KINDS.filter((kind) =>
      t.spans.some((s) => s.kind === kind && s.start <= i && i < s.end),
    );
    result.push(kinds.join("+"));
  }
  return result;
}

describe("ircToStyled", () => {
  it("reads each toggle as a span over the text it encloses", () => {
    expect(ircToStyled(`a${B}bold${B} ${I}it${I} ${U}u${U} ${S}s${S} ${M}m${M}`)).toEqual({
      text: "abold it u s m",
      spans: [
        { kind: "bold", start: 1, end: 5 },
        { kind: "italic", start: 6, end: 8 },
        { kind: "underline", start: 9, end: 10 },
        { kind: "strike", start: 11, end: 12 },
        { kind: "monospace", start: 13, end: 14 },
      ],
    });
  });

  it("closes unterminated styles at the end of the line", () => {
    expect(ircToStyled(`x${B}y${I}z`)).toEqual({
      text: "xyz",
      spans: [
        { kind: "bold", start: 1, end: 3 },
        { kind: "italic", start: 2, end: 3 },
      ],
    });
  });

  it("closes every style at \\x0f", () => {
    expect(ircToStyled(`${B}${I}ab${RESET}c`)).toEqual({
      text: "abc",
      spans: [
        { kind: "bold", start: 0, end: 2 },
        { kind: "italic", start: 0, end: 2 },
      ],
    });
  });

  it("merges a style toggled off and on with nothing in between", () => {
    expect(ircToStyled(`${B}a${B}${B}b${B}`).spans).toEqual([{ kind: "bold", start: 0, end: 2 }]);
  });

  it("drops styles that cover no text", () => {
    expect(ircToStyled(`a${B}${B}b${I}`)).toEqual({ text: "ab", spans: [] });
  });

  it.each([
    [`${C}04,12red on blue`, "red on blue"],
    [`${C}3green`, "green"],
    [`${C}031`, "1"],
    [`${C}12,345`, "5"],
    [`${C}plain`, "plain"],
    [`${C},12x`, ",12x"],
    [`${C}04,x`, ",x"],
    [`${C}04,`, ","],
    [`a${C}`, "a"],
    [`${H}ff0000red`, "red"],
    [`${H}FF0000,00ff00both`, "both"],
    [`${H}ff0000,zz`, ",zz"],
    [`${H}ffzz`, "ffzz"],
    [`${REVERSE}rev${REVERSE}`, "rev"],
  ])("removes colour codes and their arguments: %j", (input, text) => {
    expect(ircToStyled(input)).toEqual({ text, spans: [] });
  });

  it("keeps tabs and removes every other control character", () => {
    expect(ircToStyled("a\tb\x07c\x01d\re\nf\x00g\x1bh").text).toBe("a\tbcdefgh");
  });

  it("never lets a control character other than tab into the text", () => {
    const unit = fc.oneof(
      fc.constantFrom(
        B,
        I,
        U,
        S,
        M,
        C,
        H,
        RESET,
        REVERSE,
        ",",
        "0",
        "12",
        "ff",
        "\t",
        "\x07",
        "\x01",
        "\r\n",
      ),
      fc.string({ unit: "binary", maxLength: 4 }),
      fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)),
    );
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 40 }), (parts) => {
        const { text, spans } = ircToStyled(parts.join(""));
        expect(text).not.toMatch(/[\x00-\x08\x0a-\x1f]/);
        const inBounds = spans.every(
          (span) => span.start >= 0 && span.start < span.end && span.end <= text.length,
        );
        expect(inBounds).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("styledToIrc", () => {
  it("writes toggles around styled ranges", () => {
    const t: StyledText = {
      text: "a bold move",
      spans: [
        { kind: "bold", start: 2, end: 6 },
        { kind: "italic", start: 4, end: 11 },
      ],
    };
    expect(styledToIrc(t)).toBe(`a ${B}bo${I}ld${B} move${I}`);
  });

  it("writes a link as its text, adding the url only when it differs", () => {
    expect(
      styledToIrc({
        text: "see docs or https://x.org",
        spans: [
          { kind: "link", start: 4, end: 8, url: "https://docs.example" },
          { kind: "link", start: 12, end: 25, url: "https://x.org" },
        ],
      }),
    ).toBe("see docs (https://docs.example) or https://x.org");
  });

  it("keeps a styled link's url inside the style and strips line breaks from it", () => {
    expect(
      styledToIrc({
        text: "x",
        spans: [
          { kind: "bold", start: 0, end: 1 },
          { kind: "link", start: 0, end: 1, url: "http://a\r\nQUIT" },
        ],
      }),
    ).toBe(`${B}x (http://aQUIT)${B}`);
  });

  it("removes control characters from the text so user text cannot inject formatting", () => {
    expect(styledToIrc({ text: `a${B}b${C}04c\x01d\x00e\tf`, spans: [] })).toBe("ab04cde\tf");
  });

  it("closes styles before a line break and reopens them after it", () => {
    expect(styledToIrc({ text: "ab\ncd", spans: [{ kind: "bold", start: 1, end: 4 }] })).toBe(
      `a${B}b${B}\n${B}c${B}d`,
    );
  });

  it("clamps spans that lie outside the text and ignores empty ones", () => {
    expect(
      styledToIrc({
        text: "abc",
        spans: [
          { kind: "bold", start: -5, end: 1 },
          { kind: "italic", start: 2, end: 99 },
          { kind: "underline", start: 2, end: 2 },
          { kind: "strike", start: Number.NaN, end: 1 },
        ],
      }),
    ).toBe(`${B}${S}a${B}${S}b${I}c${I}`);
  });

  it("never opens or closes a style inside a surrogate pair", () => {
    const out = styledToIrc({ text: "a😀b", spans: [{ kind: "bold", start: 2, end: 4 }] });
    expect(out).toBe(`a😀${B}b${B}`);
    expect(out).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });

  it("keeps the text and styles of anything ircToStyled produced", () => {
    const unit = fc.oneof(
      fc.constantFrom(B, I, U, S, M, C, RESET, `${C}04,05`, "1", ","),
      fc.string({ unit: "binary", maxLength: 5 }),
    );
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 40 }), (parts) => {
        const parsed = ircToStyled(parts.join(""));
        const again = ircToStyled(styledToIrc(parsed));
        expect(again.text).toBe(parsed.text);
        expect(coverage(again)).toEqual(coverage(parsed));
      }),
      { numRuns: 2000 },
    );
  });

  it("round-trips arbitrary spans over control-free text", () => {
    const text = fc
      .string({ unit: "binary", maxLength: 30 })
      .map((s) => s.replace(/[\x00-\x1f\u0085\u2028\u2029]/g, ""));
    const styled = text.chain((t) =>
      fc.record({
        text: fc.constant(t),
        spans: fc.array(
          fc.record({
            kind: fc.constantFrom(...TOGGLE_KINDS),
            start: fc.integer({ min: 0, max: t.length }),
            end: fc.integer({ min: 0, max: t.length }),
          }),
          { maxLength: 6 },
        ),
      }),
    );
    fc.assert(
      fc.property(styled, (t: StyledText) => {
        const back = ircToStyled(styledToIrc(t));
        expect(back.text).toBe(t.text);
        expect(coverage(back)).toEqual(coverage(t));
      }),
      { numRuns: 2000 },
    );
  });

  it("round-trips a simple styled message exactly", () => {
    const spans: StyleSpan[] = [
      { kind: "bold", start: 0, end: 5 },
      { kind: "monospace", start: 6, end: 10 },
    ];
    expect(ircToStyled(styledToIrc({ text: "hello code!", spans }))).toEqual({ text: "hello code!", spans });
  });
});
