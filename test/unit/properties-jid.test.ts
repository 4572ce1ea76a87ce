/**
 * Property tests (RELIABILITY.md S11, S13) for JIDs and the mapping of IRC addresses to JIDs:
 * 10⁴ generated inputs per property. Every stanza's `to` goes through parseJid, and every legacy
 * id goes through escapeLocal, so neither may throw, and no two ids may share a JID.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatIrcAddress,
  type IrcAddress,
  isServerName,
  parseIrcAddress,
} from "../../adapters/irc/protocol/address.ts";
import { escapeLocal, formatJid, fullJid, parseJid, unescapeLocal } from "../../src/xmpp/jid.ts";

const RUNS = { numRuns: 10_000 };
const GATEWAY = "irc.gateway.example";

/** Strings rich in what JID code must get right: escapes, separators, look-alikes, astral characters. */
const tricky = fc.string({
  unit: fc.oneof(
    {
      weight: 4,
      arbitrary: fc.constantFrom("\\", "2", "0", "5", "c", "f", "3", "a", "4", "@", "/", " ", "%", "#", ":"),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom('"', "&", "'", "<", ">", "\u202e", "\u200b", "а", "ｆ", "\u{1f600}"),
    },
    { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  ),
  maxLength: 24,
});
const anyText = fc.oneof(tricky, fc.string({ unit: "binary", maxLength: 40 }));

describe("XEP-0106 escaping", () => {
  it("unescape(escape(id)) gives the id back, so no two ids share a localpart", () => {
    fc.assert(
      fc.property(anyText, (id) => {
        expect(unescapeLocal(escapeLocal(id))).toBe(id);
      }),
      RUNS,
    );
  });

  it("never leaves a character a localpart forbids", () => {
    fc.assert(
      fc.property(anyText, (id) => {
        expect(escapeLocal(id)).not.toMatch(/["&'/:<>@ ]/);
      }),
      RUNS,
    );
  });

  it("makes every id without control characters or other whitespace into a valid JID that parses back to it", () => {
    const jidSafe = anyText.filter(
      (id) => id !== "" && !/[\p{Cc}\p{Cs}\uFFFE\uFFFF\p{Z}\t-\r\u0085]/u.test(id),
    );
    fc.assert(
      fc.property(jidSafe, (id) => {
        const local = escapeLocal(id);
        const jid = parseJid(formatJid(local, GATEWAY));
        if (Buffer.byteLength(local, "utf8") > 1023) {
          expect(jid).toBeNull();
          return;
        }
        expect(jid).not.toBeNull();
        expect(unescapeLocal(jid!.local)).toBe(id);
      }),
      RUNS,
    );
  });
});

describe("parseJid", () => {
  it("never throws, and what it accepts formats and parses back to the same JID", () => {
    const jidLike = fc
      .tuple(anyText, fc.constantFrom("", "@"), anyText, fc.constantFrom("", "/"), anyText)
      .map((parts) => parts.join(""));
    fc.assert(
      fc.property(fc.oneof(anyText, jidLike), (s) => {
        const jid = parseJid(s);
        if (jid === null) return;
        expect(parseJid(fullJid(jid))).toEqual(jid);
      }),
      RUNS,
    );
  });
});

describe("IRC addresses in JIDs (S11)", () => {
  /** Few characters, so that distinct localparts often come close to meaning the same address. */
  const localpart = fc.string({
    unit: fc.constantFrom("#", "&", "a", "A", "b", "%", ".", "e", "E", "1", "-", "[", "{", "\\", " "),
    maxLength: 10,
  });

  it("maps two distinct localparts to one address only when they differ in the case of the server name", () => {
    fc.assert(
      fc.property(localpart, localpart, (a, b) => {
        const x = parseIrcAddress(a);
        const y = parseIrcAddress(b);
        if (x === null || y === null || a === b) return;
        if (JSON.stringify(x) !== JSON.stringify(y)) return;
        // Same address: only the server name (after the last '%') may differ, and only in case.
        const cut = (s: string) => [s.slice(0, s.lastIndexOf("%") + 1), s.slice(s.lastIndexOf("%") + 1)];
        const [nameA, serverA] = cut(a);
        const [nameB, serverB] = cut(b);
        expect(nameA).toBe(nameB);
        expect(serverA!.toLowerCase()).toBe(serverB!.toLowerCase());
      }),
      RUNS,
    );
  });

  const server = fc
    .array(fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/), { minLength: 1, maxLength: 3 })
    .map((labels) => [...labels, "example"].join("."))
    .filter(isServerName);
  const name = fc.string({
    unit: fc.constantFrom("a", "Z", "%", "\\", "[", "}", "|", "^", "-", "_", "é", "@", "/", " "),
    minLength: 1,
    maxLength: 12,
  });
  const address: fc.Arbitrary<IrcAddress> = fc.oneof(
    fc.record({ kind: fc.constant("channel" as const), channel: name.map((n) => `#${n}`), server }),
    fc.record({
      kind: fc.constant("user" as const),
      nick: name.filter((n) => !"#&".includes(n[0]!)),
      server,
    }),
    fc.record({ kind: fc.constant("server" as const), server }),
  );

  it("gives every address its own JID, which leads back to that address", () => {
    fc.assert(
      fc.property(address, address, (a, b) => {
        const jidOf = (x: IrcAddress) => formatJid(escapeLocal(formatIrcAddress(x)), GATEWAY);
        const parsed = parseJid(jidOf(a));
        expect(parsed).not.toBeNull();
        expect(parseIrcAddress(unescapeLocal(parsed!.local))).toEqual(a);
        if (JSON.stringify(a) !== JSON.stringify(b)) expect(jidOf(a)).not.toBe(jidOf(b));
      }),
      RUNS,
    );
  });
});
