import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bareJid, escapeLocal, formatJid, fullJid, parseJid, unescapeLocal } from "../../src/xmpp/jid.ts";

describe("parseJid", () => {
  it("splits a full JID into its parts", () => {
    expect(parseJid("alice@example.org/phone")).toEqual({
      local: "alice",
      domain: "example.org",
      resource: "phone",
    });
    expect(parseJid("example.org")).toEqual({ local: "", domain: "example.org", resource: "" });
    expect(parseJid("gw.example.org/res")).toEqual({ local: "", domain: "gw.example.org", resource: "res" });
  });

  it("starts the resource at the first '/', so it may hold '@' and '/'", () => {
    expect(parseJid("room@gw/nick@home/x")).toEqual({ local: "room", domain: "gw", resource: "nick@home/x" });
    expect(parseJid("gw/a@b")).toEqual({ local: "", domain: "gw", resource: "a@b" });
  });

  it("lower-cases the domain but keeps the localpart's and resource's case", () => {
    expect(parseJid("#Chan%IRC.Example.org@GW.Example.ORG/Nick")).toEqual({
      local: "#Chan%IRC.Example.org",
      domain: "gw.example.org",
      resource: "Nick",
    });
  });

  it("rejects the malformed 'to' addresses of corpus A row 3", () => {
    for (const bad of ["", "@gw", "a@@gw", "@", "a@", "a@gw/", `${"x".repeat(3000)}@gw`]) {
      expect(parseJid(bad), bad).toBeNull();
    }
  });

  it("bounds every part at 1023 bytes of UTF-8", () => {
    expect(parseJid(`${"a".repeat(1023)}@gw`)).not.toBeNull();
    expect(parseJid(`${"a".repeat(1024)}@gw`)).toBeNull();
    expect(parseJid(`${"é".repeat(511)}a@gw`)).not.toBeNull();
    expect(parseJid(`${"é".repeat(512)}@gw`)).toBeNull();
    expect(parseJid(`a@gw/${"r".repeat(1023)}`)).not.toBeNull();
    expect(parseJid(`a@gw/${"r".repeat(1024)}`)).toBeNull();
    const domain1023 = Array.from({ length: 16 }, () => "d".repeat(63)).join(".");
    expect(parseJid(`a@${domain1023}`)).not.toBeNull();
    expect(parseJid(`a@${domain1023}.d`)).toBeNull();
  });

  it("rejects the characters RFC 7622 excludes from localparts", () => {
    for (const c of ['"', "&", "'", ":", "<", ">", " ", "\u00a0", "\u3000", "\u2028"]) {
      expect(parseJid(`a${c}b@gw`), JSON.stringify(c)).toBeNull();
    }
  });

  it("rejects control characters anywhere (corpus A row 35: a BEL in a room JID)", () => {
    for (const s of ["#chan\x07@gw", "a@g\x00w", "a@gw/r\x1b", "a@gw/r\n", "a\u0085@gw", "a@gw/\uffff"]) {
      expect(parseJid(s), JSON.stringify(s)).toBeNull();
    }
  });

  it("rejects lone surrogates, which UTF-8 cannot carry", () => {
    expect(parseJid("a\ud800@gw")).toBeNull();
    expect(parseJid("a@gw/\udc00")).toBeNull();
    expect(parseJid("\u{1f600}@gw/\u{1f600}")).not.toBeNull();
  });

  it("accepts plausible domains, IDNs and IP literals", () => {
    for (const d of [
      "gw",
      "irc.example.org",
      "xn--bcher-kva.example",
      "bücher.example",
      "127.0.0.1",
      "a-b.c",
    ]) {
      expect(parseJid(`u@${d}`)?.domain, d).toBe(d);
    }
    expect(parseJid("u@[2001:DB8::1]")?.domain).toBe("[2001:db8::1]");
    expect(parseJid("u@[::ffff:127.0.0.1]/r")?.domain).toBe("[::ffff:127.0.0.1]");
  });

  it("strips one trailing dot from the domain, as RFC 7622 §3.2 requires", () => {
    expect(parseJid("u@example.org.")?.domain).toBe("example.org");
    expect(parseJid("u@example.org..")).toBeNull();
    expect(parseJid("u@.")).toBeNull();
  });

  it("rejects implausible domains", () => {
    const bad = [
      "u@.gw",
      "u@a..b",
      "u@-gw",
      "u@gw-",
      "u@g_w",
      "u@g w",
      "u@g\u3000w",
      "u@g:5222",
      "u@[::1",
      "u@[1.2.3.4]",
      "u@[fe80::1%eth0]",
      "u@[nonsense]",
      `u@${"a".repeat(64)}.org`,
    ];
    for (const s of bad) expect(parseJid(s), s).toBeNull();
    expect(parseJid(`u@${"a".repeat(63)}.org`)).not.toBeNull();
  });

  it("never throws and only returns parts that format back to an accepted JID", () => {
    const jidLike = fc.string({
      unit: fc.constantFrom(
        "a",
        "B",
        "1",
        "@",
        "/",
        ".",
        "-",
        "[",
        "]",
        ":",
        "é",
        " ",
        "\\",
        "\x07",
        "%",
        "#",
      ),
      maxLength: 30,
    });
    fc.assert(
      fc.property(fc.oneof(jidLike, fc.string({ unit: "binary", maxLength: 80 })), (s) => {
        const j = parseJid(s);
        if (j !== null) expect(parseJid(fullJid(j))).toEqual(j);
      }),
      { numRuns: 10_000 },
    );
  });
});

describe("bareJid, fullJid and formatJid", () => {
  it("leave out empty parts", () => {
    expect(bareJid({ local: "a", domain: "gw", resource: "r" })).toBe("a@gw");
    expect(bareJid({ local: "", domain: "gw", resource: "r" })).toBe("gw");
    expect(fullJid({ local: "a", domain: "gw", resource: "r" })).toBe("a@gw/r");
    expect(fullJid({ local: "a", domain: "gw", resource: "" })).toBe("a@gw");
    expect(fullJid({ local: "", domain: "gw", resource: "r" })).toBe("gw/r");
    expect(formatJid("a", "gw")).toBe("a@gw");
    expect(formatJid("a", "gw", "r/s")).toBe("a@gw/r/s");
    expect(formatJid("", "gw", "")).toBe("gw");
  });
});

describe("escapeLocal and unescapeLocal (XEP-0106)", () => {
  it("follow the XEP's table of examples", () => {
    const examples: [string, string][] = [
      ["space cadet", "space\\20cadet"],
      ['call me "ishmael"', "call\\20me\\20\\22ishmael\\22"],
      ["at&t guy", "at\\26t\\20guy"],
      ["d'artagnan", "d\\27artagnan"],
      ["/.fanboy", "\\2f.fanboy"],
      ["::foo::", "\\3a\\3afoo\\3a\\3a"],
      ["<foo>", "\\3cfoo\\3e"],
      ["user@host", "user\\40host"],
      ["c:\\5commas", "c\\3a\\5c5commas"],
      ["here's_a_wild_&_/cr%zy/_address", "here\\27s_a_wild_\\26_\\2fcr%zy\\2f_address"],
    ];
    for (const [raw, escaped] of examples) {
      expect(escapeLocal(raw)).toBe(escaped);
      expect(unescapeLocal(escaped)).toBe(raw);
    }
  });

  it("escapes a backslash only where it starts an escape sequence", () => {
    expect(escapeLocal("foo\\bar")).toBe("foo\\bar");
    expect(escapeLocal("c:\\net")).toBe("c\\3a\\net");
    expect(escapeLocal("\\3and\\2is\\5cool")).toBe("\\5c3and\\2is\\5c5cool");
    expect(escapeLocal("\\\\")).toBe("\\\\");
    expect(escapeLocal("\\20")).toBe("\\5c20");
    expect(escapeLocal("\\2F")).toBe("\\2F");
  });

  it("leaves partial, unknown and upper-case sequences alone when unescaping (§4.3)", () => {
    for (const s of ["\\2plus\\2is\\4", "foo\\bar", "foob\\41r", "a\\2F", "\\"]) {
      expect(unescapeLocal(s)).toBe(s);
    }
    expect(unescapeLocal("\\5c20")).toBe("\\20");
    expect(unescapeLocal("\\5c5c")).toBe("\\5c");
  });

  it("keeps leading and trailing spaces, escaped, rather than merge distinct ids", () => {
    expect(escapeLocal(" a ")).toBe("\\20a\\20");
    expect(unescapeLocal("\\20a\\20")).toBe(" a ");
    expect(escapeLocal(" a")).not.toBe(escapeLocal("a"));
  });

  it("leaves IRC and Telegram ids readable", () => {
    expect(escapeLocal("#chan%irc.example.org")).toBe("#chan%irc.example.org");
    expect(escapeLocal("-100123456")).toBe("-100123456");
    expect(escapeLocal("#a:b@c")).toBe("#a\\3ab\\40c");
  });

  it("round-trips any string", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        expect(unescapeLocal(escapeLocal(s))).toBe(s);
      }),
      { numRuns: 10_000 },
    );
  });

  it("round-trips strings built from the characters that matter", () => {
    const tricky = fc.string({
      unit: fc.constantFrom("\\", "2", "0", "5", "c", "f", "F", "3", "a", " ", "@", "/", ":", "x"),
      maxLength: 24,
    });
    fc.assert(
      fc.property(tricky, (s) => {
        expect(unescapeLocal(escapeLocal(s))).toBe(s);
        if (s !== "") expect(parseJid(`${escapeLocal(s)}@gw`)?.local).toBe(escapeLocal(s));
      }),
      { numRuns: 10_000 },
    );
  });

  it("always yields a localpart parseJid accepts, for ids without controls or non-ASCII spaces", () => {
    // XEP-0106 escapes U+0020 only; other whitespace and controls have no escape and stay invalid.
    const id = fc
      .string({ unit: "binary", minLength: 1, maxLength: 100 })
      .filter(
        (s) => !/[\p{Cc}\uFFFE\uFFFF]/u.test(s) && !/[\p{White_Space}\p{Z}]/u.test(s.replaceAll(" ", "")),
      );
    fc.assert(
      fc.property(id, (s) => {
        const local = escapeLocal(s);
        expect(parseJid(`${local}@gw`)).toEqual({ local, domain: "gw", resource: "" });
      }),
      { numRuns: 10_000 },
    );
  });
});
