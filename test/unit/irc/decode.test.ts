import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeIrcBytes, isSupportedEncoding } from "../../../adapters/irc/protocol/decode.ts";

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("decodeIrcBytes", () => {
  it("decodes valid UTF-8 as UTF-8", () => {
    expect(decodeIrcBytes(utf8("PRIVMSG #c :café 😀"), "latin1")).toBe("PRIVMSG #c :café 😀");
  });

  it("decodes a Latin-1 line with the fallback", () => {
    expect(decodeIrcBytes(new Uint8Array([0x63, 0x61, 0x66, 0xe9]), "latin1")).toBe("café");
    expect(decodeIrcBytes(new Uint8Array([0x63, 0x61, 0x66, 0xe9]), "iso-8859-15")).toBe("café");
  });

  it("decodes the whole line with the fallback when any part is not UTF-8", () => {
    // "é" in UTF-8 (C3 A9) followed by a Latin-1 "é" (E9): the line is not UTF-8, so both
    // halves are read as Windows-1252.
    expect(decodeIrcBytes(new Uint8Array([0xc3, 0xa9, 0x20, 0xe9]), "windows-1252")).toBe("Ã© é");
  });

  it("gives Windows-1252 its own characters for bytes 0x80-0x9F", () => {
    const bytes = new Uint8Array([0x80, 0x20, 0x93, 0x71, 0x94, 0x20, 0x99, 0x20, 0x9f]);
    expect(decodeIrcBytes(bytes, "windows-1252")).toBe("€ “q” ™ Ÿ");
    expect(decodeIrcBytes(bytes, "latin1")).toBe("€ “q” ™ Ÿ");
    expect(decodeIrcBytes(new Uint8Array([0x81, 0x8d]), "windows-1252")).toBe("\u0081\u008d");
  });

  it("uses ISO-8859-15's own euro sign", () => {
    expect(decodeIrcBytes(new Uint8Array([0xa4, 0xff]), "iso-8859-15")).toBe("€ÿ");
  });

  it("decodes an empty line", () => {
    expect(decodeIrcBytes(new Uint8Array(), "latin1")).toBe("");
  });

  it("keeps a byte order mark rather than swallowing it", () => {
    expect(decodeIrcBytes(utf8("\uFEFFx"), "latin1")).toBe("\uFEFFx");
  });

  it("throws on an unknown fallback label when the line needs it", () => {
    expect(() => decodeIrcBytes(new Uint8Array([0xff]), "no-such-encoding")).toThrow(RangeError);
  });

  it("property: any text encoded as UTF-8 decodes back unchanged", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 100 }), (s) => {
        expect(decodeIrcBytes(utf8(s), "windows-1252")).toBe(s);
      }),
      { numRuns: 1000 },
    );
  });

  it("property: any bytes decode to a string without throwing", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        expect(typeof decodeIrcBytes(bytes, "iso-8859-15")).toBe("string");
      }),
      { numRuns: 1000 },
    );
  });
});

describe("isSupportedEncoding", () => {
  it("accepts the WHATWG labels Node knows and refuses others", () => {
    for (const label of ["latin1", "windows-1252", "iso-8859-15", "koi8-r", "utf-8"]) {
      expect(isSupportedEncoding(label)).toBe(true);
    }
    expect(isSupportedEncoding("no-such-encoding")).toBe(false);
  });
});
