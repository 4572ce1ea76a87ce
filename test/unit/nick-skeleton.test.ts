/**
 * Nick skeletons (RELIABILITY.md S11): nicks a reader could take for one another compare equal;
 * nicks that look different do not; a newcomer whose nick looks like an occupant's gets a suffix.
 */
import { describe, expect, it } from "vitest";
import { confusable, distinctNick, skeleton } from "../../src/core/nick-skeleton.ts";

describe("skeleton", () => {
  it.each([
    ["Cyrillic а", "\u0430lice"],
    ["Cyrillic а, е and о", "\u0430lic\u0435"],
    ["all capitals", "ALICE"],
    ["capital I for l", "aIice"],
    ["digit 1 for l", "a1ice"],
    ["dotless ı", "al\u0131ce"],
    ["fullwidth letters", "\uFF41\uFF4C\uFF49\uFF43\uFF45"],
    ["mathematical bold letters", "\u{1D41A}\u{1D425}\u{1D422}\u{1D41C}\u{1D41E}"],
    ["zero-width space inside", "al\u200Bice"],
    ["bidi override and pop", "\u202Dalice\u202C"],
    ["soft hyphen", "ali\u00ADce"],
    ["Greek capital alpha", "\u0391lice"],
    ["Greek ι for i", "al\u03B9ce"],
    ["surrounding space", "  alice "],
  ])("gives %s the skeleton of alice", (_what, nick) => {
    expect(skeleton(nick)).toBe(skeleton("alice"));
    expect(confusable(nick, "alice")).toBe(true);
  });

  it.each([
    ["rn for m", "rnallory", "mallory"],
    ["vv for w", "vvendy", "wendy"],
    ["zero for o", "b0b", "bob"],
    ["Cyrillic р and Greek ο", "\u0440\u03BFst", "post"],
    ["Greek capitals", "\u0392\u039F\u0392", "BOB"],
    ["Cyrillic capitals", "\u0421\u0410\u0422", "cat"],
    ["Cyrillic ё as e with diaeresis", "\u0451", "\u00EB"],
    ["runs of space", "alice  smith", "alice smith"],
  ])("treats %s as the same: %s ~ %s", (_what, a, b) => {
    expect(confusable(a, b)).toBe(true);
  });

  it.each([
    ["alice", "bob"],
    ["alice", "alicé"],
    ["alice", "alice2"],
    ["alice", "alice_"],
    ["alice", "ali ce"],
    ["ann", "anna"],
    ["Юля", "Юлия"],
  ])("tells %s from %s", (a, b) => {
    expect(confusable(a, b)).toBe(false);
  });

  it("keeps letters of other scripts as they are", () => {
    expect(skeleton("Юля")).toBe("юля");
    expect(skeleton("太郎")).toBe("太郎");
  });
});

describe("distinctNick", () => {
  it("keeps a nick that looks like no other", () => {
    expect(distinctNick("carol", ["alice", "bob"])).toBe("carol");
  });

  it("suffixes a nick that looks like another, with the first number that makes it distinct", () => {
    expect(distinctNick("\u0430lice", ["alice", "bob"])).toBe("\u0430lice (2)");
    expect(distinctNick("ALICE", ["alice", "alice (2)", "aIice (3)"])).toBe("ALICE (4)");
  });

  it("does not let a later newcomer pass for a suffixed one", () => {
    const first = distinctNick("\u0430lice", ["alice"]);
    expect(distinctNick("alice (2)", ["alice", first])).toBe("alice (2) (2)");
  });

  it("ends however many look-alikes are there", () => {
    const others = ["alice", ...Array.from({ length: 30 }, (_, i) => `alice (${i + 2})`)];
    expect(distinctNick("aIice", others)).toBe("aIice (32)");
  });
});
