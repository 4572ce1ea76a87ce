import { describe, expect, it } from "vitest";
import {
  assertSafeParam,
  isValidChannelName,
  isValidNick,
  UnsafeIrcParamError,
  utf8Length,
} from "../../../adapters/irc/protocol/params.ts";

describe("assertSafeParam", () => {
  it("accepts single words", () => {
    for (const s of ["#chan", "bob", "key123", "a:b", "ünï"]) expect(() => assertSafeParam(s)).not.toThrow();
  });

  it.each([["a b"], ["a\r\nQUIT :x"], ["a\rb"], ["a\nb"], ["a\0b"], [""], [":x"], ["key with spaces"]])(
    "refuses %j",
    (s) => {
      expect(() => assertSafeParam(s)).toThrow(UnsafeIrcParamError);
    },
  );
});

describe("isValidChannelName", () => {
  it("accepts ordinary channel names", () => {
    for (const name of ["#chan", "&local", "#", "#ünïcode", "#a:b", "#c++"]) {
      expect(isValidChannelName(name)).toBe(true);
    }
  });

  it.each([
    ["#a,#b"],
    ["0"],
    ["#a\u0007"],
    ["#a b"],
    ["chan"],
    [""],
    ["#a\r\nJOIN 0"],
    ["#a\0"],
    ["#a\u2028b"],
  ])("refuses %j (Corpus B)", (name) => {
    expect(isValidChannelName(name)).toBe(false);
  });

  it("uses the server's channel types", () => {
    expect(isValidChannelName("!abc", "#!")).toBe(true);
    expect(isValidChannelName("&abc", "#")).toBe(false);
    expect(isValidChannelName("#abc", "")).toBe(false);
  });

  it("enforces the length limit in bytes", () => {
    expect(isValidChannelName(`#${"a".repeat(49)}`, "#", 50)).toBe(true);
    expect(isValidChannelName(`#${"a".repeat(50)}`, "#", 50)).toBe(false);
    expect(isValidChannelName("#éé", "#", 4)).toBe(false);
  });
});

describe("isValidNick", () => {
  it("accepts ordinary nicks", () => {
    for (const nick of ["alice", "Bob_", "[x]", "a-1", "{away}|", "a^b", "`tick", "ünï"]) {
      expect(isValidNick(nick)).toBe(true);
    }
  });

  it.each([
    ["a b"],
    ["a,b"],
    [":x"],
    ["0"],
    ["1abc"],
    ["-abc"],
    ["#chan"],
    ["&x"],
    ["a\u0007"],
    ["a\r\nQUIT"],
    ["a\0"],
    ["a!b"],
    ["a@b"],
    ["a*"],
    ["a?"],
    ["a\x02b"],
    [""],
  ])("refuses %j", (nick) => {
    expect(isValidNick(nick)).toBe(false);
  });

  it("enforces the length limit in UTF-8 bytes", () => {
    expect(isValidNick("a".repeat(9), 9)).toBe(true);
    expect(isValidNick("a".repeat(10), 9)).toBe(false);
    expect(isValidNick("éé", 3)).toBe(false);
  });
});

describe("utf8Length", () => {
  it("counts UTF-8 bytes", () => {
    expect(utf8Length("a")).toBe(1);
    expect(utf8Length("é")).toBe(2);
    expect(utf8Length("€")).toBe(3);
    expect(utf8Length("😀")).toBe(4);
    expect(utf8Length("\uD800")).toBe(3);
  });
});
