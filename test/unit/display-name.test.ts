import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { displayName, hasInvisibleCharacters } from "../../src/core/display-name.ts";

describe("displayName", () => {
  it.each([
    ["mal\u202Eyrol", "malyrol", true],
    ["Z\u200Bed", "Zed", true],
    ["\u2066admin\u2069", "admin", true],
    ["a\u0007b", "ab", true],
    ["\u200B\u200B", "?", true],
    ["plain name", "plain name", false],
    ["Ünïcødé 名前", "Ünïcødé 名前", false],
  ])("%j → %j", (input, shown, invisible) => {
    expect(displayName(input)).toBe(shown);
    expect(hasInvisibleCharacters(input)).toBe(invisible);
  });

  it("never leaves an invisible character and is stable", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        const shown = displayName(s);
        expect(hasInvisibleCharacters(shown)).toBe(false);
        expect(displayName(shown)).toBe(shown);
      }),
      { numRuns: 10_000 },
    );
  });
});
