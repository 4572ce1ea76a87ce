import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { StyledText, StyleKind, StyleSpan } from "../../src/adapter/text.ts";
import { styledToXmpp, xmppToStyled } from "../../src/xmpp/styling.ts";

const bold = (start: number, end: number): StyleSpan => ({ kind: "bold", start, end });
const italic = (start: number, end: number): StyleSpan => ({ kind: "italic", start, end });
const strike = (start: number, end: number): StyleSpan => ({ kind: "strike", start, end });
const mono = (start: number, end: number): StyleSpan => ({ kind: "monospace", start, end });

describe("xmppToStyled (XEP-0393 parsing)", () => {
  it("turns directives into spans and removes them from the text", () => {
    expect(xmppToStyled("*strong*")).toEqual({ text: "strong", spans: [bold(0, 6)] });
    expect(xmppToStyled("plain *strong* plain")).toEqual({
      text: "plain strong plain",
      spans: [bold(6, 12)],
    });
    expect(xmppToStyled("The title is _Twelfth Night_ but")).toEqual({
      text: "The title is Twelfth Night but",
      spans: [italic(13, 26)],
    });
    expect(xmppToStyled("Everyone ~dis~likes cake.")).toEqual({
      text: "Everyone dislikes cake.",
      spans: [strike(9, 12)],
    });
    expect(xmppToStyled("Wow, I can write in `monospace`!")).toEqual({
      text: "Wow, I can write in monospace!",
      spans: [mono(20, 29)],
    });
  });

  it("styles the XEP's examples of valid spans", () => {
    expect(xmppToStyled("*strong* plain *strong*")).toEqual({
      text: "strong plain strong",
      spans: [bold(0, 6), bold(13, 19)],
    });
    expect(xmppToStyled("*strong*plain*")).toEqual({ text: "strongplain*", spans: [bold(0, 6)] });
    expect(xmppToStyled("* plain *strong*")).toEqual({ text: "* plain strong", spans: [bold(8, 14)] });
  });

  it("styles nothing in the XEP's examples of invalid spans", () => {
    for (const body of [
      "not strong*",
      "*not strong",
      "*not \n strong*",
      "*not *strong",
      "**",
      "****",
      "* a *",
    ]) {
      expect(xmppToStyled(body), body).toEqual({ text: body, spans: [] });
    }
  });

  it("leaves directive characters inside words alone", () => {
    for (const body of ["2*3*4", "snake_case_name", "a~b~c", "x`y`z", "**kwargs", "file_*.txt"]) {
      expect(xmppToStyled(body), body).toEqual({ text: body, spans: [] });
    }
  });

  it("nests spans, and allows an opening directive right after another", () => {
    expect(xmppToStyled("_emphasis with *strong*_")).toEqual({
      text: "emphasis with strong",
      spans: [italic(0, 20), bold(14, 20)],
    });
    expect(xmppToStyled("*`monospace and bold`*")).toEqual({
      text: "monospace and bold",
      spans: [bold(0, 18), mono(0, 18)],
    });
  });

  it("does not parse styling inside a preformatted span", () => {
    expect(xmppToStyled("This is `*monospace*`")).toEqual({
      text: "This is *monospace*",
      spans: [mono(8, 19)],
    });
  });

  it("matches lazily, with the first possible closing directive", () => {
    expect(xmppToStyled("*a *b* c*")).toEqual({ text: "a *b c*", spans: [bold(0, 4)] });
  });

  it("turns a preformatted block into one monospace span without its fences", () => {
    expect(xmppToStyled("look:\n```lisp\n(println *x*)\n  (done)\n```\nafter *b*")).toEqual({
      text: "look:\n(println *x*)\n  (done)\nafter b",
      spans: [mono(6, 28), bold(35, 36)],
    });
  });

  it("ends an unclosed preformatted block at the end of the body", () => {
    expect(xmppToStyled("```\ncode\nmore")).toEqual({ text: "code\nmore", spans: [mono(0, 9)] });
    expect(xmppToStyled("```")).toEqual({ text: "", spans: [] });
  });

  it("keeps quotations as text and parses the spans inside them", () => {
    expect(xmppToStyled("> That that is, *is*.\n\nSaid the hermit.")).toEqual({
      text: "> That that is, is.\n\nSaid the hermit.",
      spans: [bold(16, 18)],
    });
    expect(xmppToStyled(">> *deep*\n> _less_\nout")).toEqual({
      text: ">> deep\n> less\nout",
      spans: [bold(3, 7), italic(10, 14)],
    });
    // The '>' itself is not whitespace, but the quote's content starts after it.
    expect(xmppToStyled(">*x*")).toEqual({ text: ">x", spans: [bold(1, 2)] });
  });

  it("ends a preformatted block inside a quotation with the quotation", () => {
    expect(xmppToStyled("> ```\n> (println)\n\nplain *b*")).toEqual({
      text: "> (println)\n\nplain b",
      spans: [mono(2, 11), bold(19, 20)],
    });
  });

  it("reads very deep quotations as plain text instead of recursing without bound", () => {
    const body = `${">".repeat(50_000)} *x*`;
    const parsed = xmppToStyled(body);
    expect(parsed.text.startsWith(">".repeat(50_000))).toBe(true);
  });

  it("treats every Unicode space as whitespace", () => {
    expect(xmppToStyled("a\u3000*b*")).toEqual({ text: "a\u3000b", spans: [bold(2, 3)] });
    expect(xmppToStyled("*\u00a0b*")).toEqual({ text: "*\u00a0b*", spans: [] });
  });
});

describe("styledToXmpp (XEP-0393 rendering)", () => {
  it("writes each span kind with its directive", () => {
    expect(
      styledToXmpp({
        text: "bold italic strike code",
        spans: [bold(0, 4), italic(5, 11), strike(12, 18), mono(19, 23)],
      }),
    ).toBe("*bold* _italic_ ~strike~ `code`");
  });

  it("drops underline, which XEP-0393 cannot express", () => {
    expect(styledToXmpp({ text: "under", spans: [{ kind: "underline", start: 0, end: 5 }] })).toBe("under");
  });

  it("writes a link's target in angle brackets when it differs from the text", () => {
    const link = (url?: string): StyledText => ({
      text: "see the docs now",
      spans: [{ kind: "link", start: 4, end: 13, ...(url ? { url } : {}) }],
    });
    expect(styledToXmpp(link("https://example.org/docs"))).toBe(
      "see the docs <https://example.org/docs> now",
    );
    expect(styledToXmpp(link())).toBe("see the docs now");
    expect(
      styledToXmpp({
        text: "https://x.org",
        spans: [{ kind: "link", start: 0, end: 13, url: "https://x.org" }],
      }),
    ).toBe("https://x.org");
  });

  it("trims spans to their non-whitespace part", () => {
    expect(styledToXmpp({ text: "a  bold  b", spans: [bold(1, 9)] })).toBe("a  *bold*  b");
    expect(styledToXmpp({ text: "a   b", spans: [bold(1, 4)] })).toBe("a   b");
  });

  it("cuts spans at line ends", () => {
    expect(styledToXmpp({ text: "one\ntwo", spans: [bold(0, 7)] })).toBe("*one*\n*two*");
  });

  it("nests spans, outer directives first", () => {
    expect(styledToXmpp({ text: "all of it", spans: [mono(0, 9), bold(0, 9)] })).toBe("*`all of it`*");
    expect(styledToXmpp({ text: "emphasis with strong", spans: [italic(0, 20), bold(14, 20)] })).toBe(
      "_emphasis with *strong*_",
    );
  });

  it("drops styling XEP-0393 cannot express rather than send stray directives", () => {
    // Starts inside a word: an opening directive must follow whitespace.
    expect(styledToXmpp({ text: "unbelievable", spans: [bold(2, 8)] })).toBe("unbelievable");
    // Right after another span: the directive would follow a closing directive.
    expect(styledToXmpp({ text: "ab", spans: [bold(0, 1), italic(1, 2)] })).toBe("*a*b");
    // Crossing spans: the second is dropped.
    expect(styledToXmpp({ text: "a b c", spans: [bold(0, 3), italic(2, 5)] })).toBe("*a b* c");
    // Same kind inside itself, and anything inside monospace.
    expect(styledToXmpp({ text: "a b c", spans: [bold(0, 5), bold(2, 3)] })).toBe("*a b c*");
    expect(styledToXmpp({ text: "a b c", spans: [mono(0, 5), bold(2, 3)] })).toBe("`a b c`");
  });

  it("writes monospace over several whole lines as a preformatted block", () => {
    const t: StyledText = { text: "code:\nif x:\n  y()\ndone", spans: [mono(6, 17), bold(6, 8)] };
    expect(styledToXmpp(t)).toBe("code:\n```\nif x:\n  y()\n```\ndone");
    expect(xmppToStyled(styledToXmpp(t))).toEqual({ text: t.text, spans: [mono(6, 17)] });
  });

  it("writes a link target inside a span so that it cannot end the span", () => {
    const styled: StyledText = {
      text: "see docs now",
      spans: [
        { kind: "bold", start: 0, end: 12 },
        { kind: "link", start: 4, end: 8, url: "https://example.org/a*b_c~d`e" },
      ],
    };
    const body = styledToXmpp(styled);
    expect(body).toBe("*see docs <https://example.org/a%2Ab%5Fc%7Ed%60e> now*");
    // Read back, the bold still covers the whole line.
    const back = xmppToStyled(body);
    expect(back.spans).toContainEqual({ kind: "bold", start: 0, end: back.text.length });
  });

  it("keeps a link target at the end of a block off the closing fence line", () => {
    const t: StyledText = {
      text: "a\nb",
      spans: [mono(0, 3), { kind: "link", start: 2, end: 3, url: "https://x.org" }],
    };
    expect(styledToXmpp(t)).toBe("```\na\nb <https://x.org>\n```");
  });

  it("sends literal directive characters as they are", () => {
    expect(styledToXmpp({ text: "2*3*4 and *stars*", spans: [] })).toBe("2*3*4 and *stars*");
  });

  it("ignores spans out of range and never splits a surrogate pair", () => {
    expect(styledToXmpp({ text: "abc", spans: [bold(-5, 100)] })).toBe("*abc*");
    expect(styledToXmpp({ text: "abc", spans: [bold(2, 1), bold(Number.NaN, 2), bold(0.5, 2)] })).toBe("abc");
    expect(styledToXmpp({ text: "x \u{1f600}y", spans: [bold(3, 5)] })).toBe("x \u{1f600}y");
  });
});

// -------------------------------------------------------------------------------------------------
// Properties
// -------------------------------------------------------------------------------------------------

const KINDS: StyleKind[] = ["bold", "italic", "strike", "monospace", "underline", "link"];

/** Text without directive characters: letters, spaces, newlines, quote marks, astral characters. */
const plainText = fc.string({
  unit: fc.constantFrom("a", "b", "c", " ", " ", "\n", ">", ".", ",", "é", "\u{1f600}", "\u3000"),
  maxLength: 40,
});

/** Keeps only spans that are properly nested with the ones kept before. */
function wellNested(spans: StyleSpan[]): StyleSpan[] {
  const kept: StyleSpan[] = [];
  for (const s of spans) {
    const crosses = kept.some(
      (k) => s.start < k.end && k.start < s.end && !contains(k, s) && !contains(s, k),
    );
    if (!crosses) kept.push(s);
  }
  return kept;
}

function contains(outer: StyleSpan, inner: StyleSpan): boolean {
  return outer.start <= inner.start && inner.end <= outer.end;
}

const isSpace = (c: string | undefined) => c === undefined || /[\p{White_Space}\p{Z}]/u.test(c);
const isLowSurrogate = (text: string, i: number) => /[\udc00-\udfff]/.test(text.charAt(i));

/** Well-formed styled text: spans nested, on non-space boundaries, not splitting characters. */
const wellFormed: fc.Arbitrary<StyledText> = plainText.chain((text) =>
  fc
    .array(
      fc.record({
        kind: fc.constantFrom(...KINDS),
        a: fc.nat(text.length),
        b: fc.nat(text.length),
      }),
      { maxLength: 8 },
    )
    .map((raw) => {
      const spans = raw
        .map(({ kind, a, b }): StyleSpan => ({ kind, start: Math.min(a, b), end: Math.max(a, b) }))
        .filter(
          (s) =>
            s.start < s.end &&
            !isSpace(text[s.start]) &&
            !isSpace(text[s.end - 1]) &&
            !isLowSurrogate(text, s.start) &&
            !isLowSurrogate(text, s.end),
        );
      return { text, spans: wellNested(spans) };
    }),
);

/** Any styled text at all, including nonsense spans. */
const anyStyled: fc.Arbitrary<StyledText> = fc.record({
  text: fc.string({ unit: "binary", maxLength: 60 }),
  spans: fc.array(
    fc.record({
      kind: fc.constantFrom(...KINDS),
      start: fc.integer({ min: -5, max: 70 }),
      end: fc.integer({ min: -5, max: 70 }),
      url: fc.option(fc.string(), { nil: undefined }),
    }),
    { maxLength: 8 },
  ),
});

/** Bodies rich in directives, fences and quotes. */
const directiveHeavy = fc.string({
  unit: fc.constantFrom("*", "_", "~", "`", "```", ">", " ", "\n", "a", "b", "\u00a0"),
  maxLength: 60,
});

function inRange(t: StyledText): boolean {
  return t.spans.every((s) => 0 <= s.start && s.start < s.end && s.end <= t.text.length);
}

describe("styling properties", () => {
  it("keeps the text of well-formed styled text through render and parse", () => {
    fc.assert(
      fc.property(wellFormed, (t) => {
        expect(xmppToStyled(styledToXmpp(t)).text).toBe(t.text);
      }),
      { numRuns: 10_000 },
    );
  });

  it("invents no styling: every parsed span lies within a rendered span of its kind", () => {
    fc.assert(
      fc.property(wellFormed, (t) => {
        const parsed = xmppToStyled(styledToXmpp(t));
        for (const p of parsed.spans) {
          expect(t.spans.some((s) => s.kind === p.kind && contains(s, p))).toBe(true);
        }
      }),
      { numRuns: 10_000 },
    );
  });

  it("round-trips styled words exactly", () => {
    const word = fc.record({
      word: fc.string({ unit: fc.constantFrom("a", "b", "é", "\u{1f600}"), minLength: 1, maxLength: 5 }),
      kind: fc.option(fc.constantFrom<StyleKind>("bold", "italic", "strike", "monospace"), {
        nil: undefined,
      }),
    });
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 8 }), (words) => {
        let text = "";
        const spans: StyleSpan[] = [];
        for (const { word: w, kind } of words) {
          if (text !== "") text += " ";
          if (kind) spans.push({ kind, start: text.length, end: text.length + w.length });
          text += w;
        }
        expect(xmppToStyled(styledToXmpp({ text, spans }))).toEqual({ text, spans });
      }),
      { numRuns: 10_000 },
    );
  });

  it("never throws on any body, keeps spans in range, and renders what it parsed", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 80 }), directiveHeavy), (body) => {
        const parsed = xmppToStyled(body);
        expect(inRange(parsed)).toBe(true);
        expect(typeof styledToXmpp(parsed)).toBe("string");
      }),
      { numRuns: 10_000 },
    );
  });

  it("never throws on any styled text and never splits a surrogate pair", () => {
    const wellFormedUtf16 = (s: string) => !/\p{Cs}/u.test(s);
    fc.assert(
      fc.property(anyStyled, (t) => {
        const body = styledToXmpp(t);
        if (wellFormedUtf16(t.text)) expect(wellFormedUtf16(body)).toBe(true);
      }),
      { numRuns: 10_000 },
    );
  });
});
