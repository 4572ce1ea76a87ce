/**
 * Property tests (RELIABILITY.md S3, S13) for the XMPP → IRC egress path as the IRC adapter runs
 * it: XEP-0393 body → styled text → mIRC codes → PRIVMSG lines (server-link.ts `transmit`).
 * Bodies are corpus B payloads, random unicode, and mixes of both; 10⁴ runs per property.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { styledToIrc } from "../../adapters/irc/protocol/formatting.ts";
import { MAX_LINE_BYTES, splitForIrc } from "../../adapters/irc/protocol/line-splitter.ts";
import { styledToXmpp, xmppToStyled } from "../../src/xmpp/styling.ts";

const RUNS = { numRuns: 10_000 };

/** Corpus B (RELIABILITY.md): payloads that try to end a line, smuggle CTCP or break encodings. */
const CORPUS_B = [
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
  "#a,#b",
  "0",
  "#a\u0007",
  "x".repeat(600),
  `${"y".repeat(508)}\u{1f600}zz`,
  "\u2028",
  "\u2029",
  "\u0085",
  "\x02\x03\x0f\x16\x1d\x1e\x1f",
  "\u202e",
  "a\u200db",
  "topic\r\nwith CRLF",
  "*bold*",
  "_x_",
  "`x`",
  "```\ncode\n```",
];

const body = fc.oneof(
  fc.constantFrom(...CORPUS_B),
  fc.string({ unit: "binary", maxLength: 300 }),
  fc.string({ unit: "grapheme", maxLength: 200 }),
  fc
    .array(fc.oneof(fc.constantFrom(...CORPUS_B), fc.string({ unit: "binary", maxLength: 20 })), {
      maxLength: 12,
    })
    .map((parts) => parts.join("")),
);
const target = fc.constantFrom("#chan", "#a-much-longer-channel-name-on-this-network", "nick", "Ünïcödé");
/** Worst-case `:nick!user@host ` lengths a connection may reserve. */
const prefixReserve = fc.integer({ min: 0, max: 200 });

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe("XMPP body → IRC lines", () => {
  it("never emits CR, LF or NUL, and every line fits 512 bytes with the relay prefix and CRLF", () => {
    fc.assert(
      fc.property(body, target, prefixReserve, fc.boolean(), (text, to, reserve, action) => {
        const lines = splitForIrc({
          command: "PRIVMSG",
          target: to,
          text: styledToIrc(xmppToStyled(text)),
          action,
          prefixReserve: reserve,
        });
        for (const line of lines) {
          expect(line).not.toMatch(/[\r\n\0]/);
          expect(Buffer.byteLength(line, "utf8") + reserve + 2).toBeLessThanOrEqual(MAX_LINE_BYTES);
          expect(LONE_SURROGATE.test(line)).toBe(false);
          expect(line.startsWith(`PRIVMSG ${to} :`)).toBe(true);
          // No CTCP but our own ACTION: \x01 only as its wrapper.
          const payload = line.slice(`PRIVMSG ${to} :`.length);
          const inner = action ? payload.slice("\x01ACTION ".length, -1) : payload;
          if (action) expect(payload.startsWith("\x01ACTION ") && payload.endsWith("\x01")).toBe(true);
          expect(inner).not.toContain("\x01");
        }
      }),
      RUNS,
    );
  });

  it("loses no text: the pieces of each line concatenate back to it (line breaks, NUL and \\x01 aside)", () => {
    fc.assert(
      fc.property(body, prefixReserve, (text, reserve) => {
        const head = "PRIVMSG #chan :";
        const lines = splitForIrc({ command: "PRIVMSG", target: "#chan", text, prefixReserve: reserve });
        const expected = text
          .split(/\r\n|[\r\n\u0085\u2028\u2029]/)
          .map((l) =>
            l
              .replace(/[\0\x01]/g, "")
              .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD"),
          )
          .filter((l) => l.trim() !== "")
          .join("");
        expect(lines.map((l) => l.slice(head.length)).join("")).toBe(expected);
      }),
      RUNS,
    );
  });
});

describe("XEP-0393 styling round trip", () => {
  it("never throws, and styled text survives a second round unchanged", () => {
    fc.assert(
      fc.property(body, (text) => {
        const once = xmppToStyled(text);
        const written = styledToXmpp(once);
        const twice = xmppToStyled(written);
        expect(styledToXmpp(twice)).toBe(written);
      }),
      RUNS,
    );
  });
});
