import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_LINE_BYTES, splitForIrc, splitUtf8 } from "../../../adapters/irc/protocol/line-splitter.ts";
import { UnsafeIrcParamError } from "../../../adapters/irc/protocol/params.ts";

const bytes = (s: string): number => Buffer.byteLength(s, "utf8");
const HEAD = "PRIVMSG #chan :";
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function privmsg(text: string, prefixReserve = 0, action = false): string[] {
  return splitForIrc({ command: "PRIVMSG", target: "#chan", text, prefixReserve, action });
}

/** The message text the lines carry, in order, without command, target or ACTION wrapping. */
function carriedText(lines: string[], action: boolean): string {
  return lines
    .map((line) => line.slice(HEAD.length))
    .map((body) => (action ? body.slice("\x01ACTION ".length, -1) : body))
    .join("");
}

/** The text that should survive: line breaks, NUL, \x01 and blank lines removed. */
function keptText(text: string): string {
  return text
    .split(/\r\n|[\r\n\u0085\u2028\u2029]/)
    .map((line) => line.replace(/[\0\x01]/g, ""))
    .filter((line) => line.trim() !== "")
    .join("");
}

/** What every line we emit must satisfy, whatever the input. */
function expectWireSafe(lines: string[], prefixReserve: number, action = false): void {
  const body = action ? /^\x01ACTION [^\x01]*\x01$/ : /^[^\x01]*$/;
  const problems = lines.flatMap((line) => {
    const found: string[] = [];
    if (/[\r\n\0]/.test(line)) found.push("CR, LF or NUL");
    if (LONE_SURROGATE.test(line)) found.push("lone surrogate");
    if (bytes(line) + prefixReserve + 2 > MAX_LINE_BYTES) found.push("over 512 bytes once relayed");
    if (!line.startsWith(HEAD)) found.push("not our command");
    if (!body.test(line.slice(HEAD.length))) found.push("stray or missing \\x01");
    return found.map((problem) => `${problem}: ${JSON.stringify(line)}`);
  });
  expect(problems).toEqual([]);
}

describe("splitForIrc", () => {
  it("builds one complete line for a short message", () => {
    expect(privmsg("hello")).toEqual(["PRIVMSG #chan :hello"]);
    expect(splitForIrc({ command: "NOTICE", target: "bob", text: "hi", prefixReserve: 0 })).toEqual([
      "NOTICE bob :hi",
    ]);
  });

  it("keeps a leading colon and spaces inside the trailing parameter", () => {
    expect(privmsg(":leading colon")).toEqual(["PRIVMSG #chan ::leading colon"]);
    expect(privmsg(" a  b ")).toEqual(["PRIVMSG #chan : a  b "]);
  });

  it("starts a new message at every kind of line break", () => {
    expect(privmsg("a\r\nb\rc\nd\u2028e\u2029f\u0085g")).toEqual(
      ["a", "b", "c", "d", "e", "f", "g"].map((s) => HEAD + s),
    );
  });

  it("drops empty and blank lines, and gives nothing for a blank message", () => {
    expect(privmsg("a\n\n  \nb")).toEqual([`${HEAD}a`, `${HEAD}b`]);
    expect(privmsg("")).toEqual([]);
    expect(privmsg(" \r\n\t\n")).toEqual([]);
    expect(privmsg("\0\x01")).toEqual([]);
  });

  it("removes NUL and \\x01 so text cannot smuggle CTCP", () => {
    expect(privmsg("a\0b")).toEqual([`${HEAD}ab`]);
    expect(privmsg("\x01VERSION\x01")).toEqual([`${HEAD}VERSION`]);
  });

  it("wraps each line in CTCP ACTION when asked", () => {
    expect(privmsg("waves\nsmiles", 0, true)).toEqual([
      `${HEAD}\x01ACTION waves\x01`,
      `${HEAD}\x01ACTION smiles\x01`,
    ]);
    expect(privmsg("\x01ACTION x\x01", 0, true)).toEqual([`${HEAD}\x01ACTION ACTION x\x01`]);
  });

  it("replaces lone surrogates so every line is valid UTF-8", () => {
    expect(privmsg("a\uD800b")).toEqual([`${HEAD}a\uFFFDb`]);
  });

  it("splits a long message so each relayed line fits in 512 bytes", () => {
    const reserve = 100;
    const budget = MAX_LINE_BYTES - 2 - reserve - bytes(HEAD);
    const text = "x".repeat(budget * 2 + 7);
    const lines = privmsg(text, reserve);
    expect(lines.map((l) => bytes(l.slice(HEAD.length)))).toEqual([budget, budget, 7]);
    expectWireSafe(lines, reserve);
  });

  it("prefers to break before a space near the end of the budget, keeping it with the next piece", () => {
    const budget = MAX_LINE_BYTES - 2 - bytes(HEAD);
    const firstWord = "a".repeat(budget - 10);
    const lines = privmsg(`${firstWord}  ${"b".repeat(30)}`);
    // Servers strip trailing spaces, never leading ones of the trailing parameter.
    expect(lines).toEqual([`${HEAD}${firstWord}`, `${HEAD}  ${"b".repeat(30)}`]);
  });

  it("breaks a word rather than leave a line mostly empty", () => {
    const budget = MAX_LINE_BYTES - 2 - bytes(HEAD);
    const lines = privmsg(`hi ${"c".repeat(budget)}`);
    expect(lines.map((l) => l.length - HEAD.length)).toEqual([budget, 3]);
  });

  it("never splits a 4-byte emoji that straddles the limit", () => {
    const budget = MAX_LINE_BYTES - 2 - bytes(HEAD);
    const text = `${"a".repeat(budget - 2)}😀tail`;
    const lines = privmsg(text);
    expect(lines).toEqual([HEAD + "a".repeat(budget - 2), `${HEAD}😀tail`]);
  });

  it("refuses a target that would change the command", () => {
    for (const target of ["#a b", "#a\r\nQUIT", "", ":x", "a\0"]) {
      expect(() => splitForIrc({ command: "PRIVMSG", target, text: "x", prefixReserve: 0 })).toThrow(
        UnsafeIrcParamError,
      );
    }
  });

  it("refuses a prefix reserve that leaves no room for text", () => {
    expect(() => privmsg("x", 500)).toThrow(RangeError);
    expect(() => privmsg("x", -1)).toThrow(RangeError);
  });

  describe("Corpus B (RELIABILITY.md S3) as a message body", () => {
    const corpus = [
      "\r\nQUIT :x",
      "\rPRIVMSG #other :x",
      "\nJOIN #evil",
      "a\u0000b",
      "\u0001VERSION\u0001",
      "\u0001DCC SEND x 2130706433 6667 1\u0001",
      " \u0001PING 1\u0001",
      "\u0001ACTION hi\u0001",
      ":leading colon",
      "",
      "a b",
      "a,b",
      ":x",
      "0",
      "#a,#b",
      "#a\u0007",
      "x".repeat(600),
      `${"y".repeat(508)}😀`,
      `${"y".repeat(510 - bytes(HEAD) - 2)}😀z`,
      "\u2028",
      "\u2029",
      "\u0085",
      "a\u2028JOIN #x",
      "\x02\x03\x0f\x16\x1d\x1e\x1f",
      "\u202E",
      "a\u200Db",
      "topic\r\nKICK #chan victim",
      "pass\r\nPRIVMSG NickServ :IDENTIFY x",
      '<a href="tg://user?id=1">x</a>',
      "*bold* _x_ `x",
    ];

    it.each(corpus.map((payload) => [payload]))("%j yields only lines of the message itself", (payload) => {
      for (const action of [false, true]) {
        const lines = privmsg(payload, 64, action);
        expectWireSafe(lines, 64, action);
        expect(carriedText(lines, action)).toBe(keptText(payload));
      }
    });
  });

  it("property: lines are wire-safe and carry exactly the kept text, in order", () => {
    const piece = fc.oneof(
      fc.string({ unit: "binary", maxLength: 40 }),
      fc.constantFrom(
        "😀",
        "👍🏽",
        "é",
        "\u4e2d",
        " ",
        "\r\n",
        "\r",
        "\n",
        "\u2028",
        "\u2029",
        "\u0085",
        "\0",
        "\x01",
      ),
      fc.integer({ min: 1, max: 700 }).map((n) => "w".repeat(n)),
      fc.integer({ min: 1, max: 200 }).map((n) => "😀".repeat(n)),
    );
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 30 }),
        fc.integer({ min: 0, max: 300 }),
        fc.boolean(),
        (parts, reserve, action) => {
          const text = parts.join("");
          const lines = privmsg(text, reserve, action);
          expectWireSafe(lines, reserve, action);
          expect(carriedText(lines, action)).toBe(keptText(text));
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe("splitUtf8", () => {
  it("property: pieces fit the budget, hold whole code points and concatenate back", () => {
    const text = fc.array(
      fc.oneof(
        fc.string({ unit: "binary", maxLength: 20 }),
        fc.constantFrom("😀", "🏳️‍🌈", " ", "ß"),
        fc.integer({ min: 1, max: 300 }).map((n) => "k".repeat(n)),
      ),
      { maxLength: 30 },
    );
    fc.assert(
      fc.property(text, fc.integer({ min: 4, max: 600 }), (parts, maxBytes) => {
        const s = parts.join("");
        const pieces = splitUtf8(s, maxBytes);
        expect(pieces.join("")).toBe(s);
        const wellFormed = pieces.every((p) => p !== "" && bytes(p) <= maxBytes && !LONE_SURROGATE.test(p));
        expect(wellFormed).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it("refuses a budget too small for a code point", () => {
    expect(() => splitUtf8("x", 3)).toThrow(RangeError);
  });
});
