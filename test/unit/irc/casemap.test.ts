import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Casemapping,
  foldCase,
  parseCasemapping,
  sameName,
} from "../../../adapters/irc/protocol/casemap.ts";

const MAPPINGS: Casemapping[] = ["ascii", "rfc1459", "strict-rfc1459", "rfc7613"];
/** Names built mostly from the characters the mappings disagree on. */
const name = fc.oneof(
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.array(fc.constantFrom(..."aAzZ[]{}\\|~^-_`09ÉéＡａİßΣσς"), { maxLength: 20 }).map((cs) => cs.join("")),
);

describe("foldCase", () => {
  it("lower-cases ASCII letters only, under ascii", () => {
    expect(foldCase("FoO[]\\~É", "ascii")).toBe("foo[]\\~É");
  });

  it("maps []\\~ to {}|^ under rfc1459, the default", () => {
    expect(foldCase("Nick[]\\~", "rfc1459")).toBe("nick{}|^");
    expect(foldCase("Nick[]\\~")).toBe("nick{}|^");
  });

  it("leaves ~ and ^ apart under strict-rfc1459", () => {
    expect(foldCase("Nick[]\\~", "strict-rfc1459")).toBe("nick{}|~");
  });

  it("folds width and Unicode case under rfc7613", () => {
    expect(foldCase("ＡＢＣ", "rfc7613")).toBe("abc");
    expect(foldCase("ÉCOLE", "rfc7613")).toBe("école");
    expect(foldCase("E\u0301", "rfc7613")).toBe("é");
    expect(foldCase("[x]", "rfc7613")).toBe("[x]");
  });

  it("property: folding is idempotent", () => {
    fc.assert(
      fc.property(name, fc.constantFrom(...MAPPINGS), (s, mapping) => {
        const once = foldCase(s, mapping);
        expect(foldCase(once, mapping)).toBe(once);
      }),
      { numRuns: 2000 },
    );
  });

  it("property: the ASCII mappings change only ASCII characters and keep the length", () => {
    fc.assert(
      fc.property(name, fc.constantFrom<Casemapping>("ascii", "rfc1459", "strict-rfc1459"), (s, mapping) => {
        const folded = foldCase(s, mapping);
        expect(folded.length).toBe(s.length);
        // Compare UTF-16 unit by unit: `length` counts units, so the indexes must too.
        const nonAsciiKept = Array.from(
          { length: s.length },
          (_, i) => s.charCodeAt(i) < 0x80 || folded[i] === s[i],
        ).every(Boolean);
        expect(nonAsciiKept).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("property: each mapping identifies at least what the narrower one does", () => {
    fc.assert(
      fc.property(name, name, (a, b) => {
        if (sameName(a, b, "ascii")) expect(sameName(a, b, "strict-rfc1459")).toBe(true);
        if (sameName(a, b, "strict-rfc1459")) expect(sameName(a, b, "rfc1459")).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("sameName", () => {
  it("finds the rfc1459 collision of foo[ and foo{ (S11)", () => {
    expect(sameName("foo[", "FOO{")).toBe(true);
    expect(sameName("foo[", "foo{", "ascii")).toBe(false);
    expect(sameName("a~", "a^", "strict-rfc1459")).toBe(false);
    expect(sameName("a~", "A^", "rfc1459")).toBe(true);
  });

  it("property: is reflexive and symmetric, and agrees with an upper-cased copy for ASCII", () => {
    fc.assert(
      fc.property(name, name, fc.constantFrom(...MAPPINGS), (a, b, mapping) => {
        expect(sameName(a, a, mapping)).toBe(true);
        expect(sameName(a, b, mapping)).toBe(sameName(b, a, mapping));
        const asciiUpper = a.replace(/[a-z]/g, (c) => c.toUpperCase());
        expect(sameName(a, asciiUpper, mapping)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("parseCasemapping", () => {
  it("reads known values and falls back to rfc1459", () => {
    expect(parseCasemapping("ascii")).toBe("ascii");
    expect(parseCasemapping("RFC1459")).toBe("rfc1459");
    expect(parseCasemapping("strict-rfc1459")).toBe("strict-rfc1459");
    expect(parseCasemapping("rfc7613")).toBe("rfc7613");
    expect(parseCasemapping(undefined)).toBe("rfc1459");
    expect(parseCasemapping("something-new")).toBe("rfc1459");
  });
});
