import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatIrcAddress,
  type IrcAddress,
  isServerName,
  parseIrcAddress,
} from "../../../adapters/irc/protocol/address.ts";

const FIXED = { fixedServer: "irc.example.org" };

describe("parseIrcAddress, multi-server mode", () => {
  it("reads channels, users and servers as Biboumi does", () => {
    expect(parseIrcAddress("#chan%irc.example.org")).toEqual({
      kind: "channel",
      channel: "#chan",
      server: "irc.example.org",
    });
    expect(parseIrcAddress("&local%irc.example.org")).toEqual({
      kind: "channel",
      channel: "&local",
      server: "irc.example.org",
    });
    expect(parseIrcAddress("nick%irc.example.org")).toEqual({
      kind: "user",
      nick: "nick",
      server: "irc.example.org",
    });
    expect(parseIrcAddress("irc.example.org")).toEqual({ kind: "server", server: "irc.example.org" });
  });

  it("reads a single-label name without '%' as a server, like localhost", () => {
    expect(parseIrcAddress("localhost")).toEqual({ kind: "server", server: "localhost" });
  });

  it("uses the server's channel types", () => {
    expect(parseIrcAddress("!chan%irc.example.org", { chantypes: "#!" })?.kind).toBe("channel");
    expect(parseIrcAddress("&chan%irc.example.org", { chantypes: "#" })?.kind).toBe("user");
  });

  it("splits at the last '%', so channel names may contain '%'", () => {
    expect(parseIrcAddress("#100%%irc.example.org")).toEqual({
      kind: "channel",
      channel: "#100%",
      server: "irc.example.org",
    });
  });

  it("lower-cases the server name, which DNS treats case-insensitively", () => {
    expect(parseIrcAddress("#Chan%IRC.Example.ORG")).toEqual({
      kind: "channel",
      channel: "#Chan",
      server: "irc.example.org",
    });
  });

  it("accepts IPv4 and bracketed IPv6 literals", () => {
    expect(parseIrcAddress("#c%127.0.0.1")).toEqual({ kind: "channel", channel: "#c", server: "127.0.0.1" });
    expect(parseIrcAddress("[::1]")).toEqual({ kind: "server", server: "[::1]" });
    expect(parseIrcAddress("bob%[2001:DB8::1]")).toEqual({
      kind: "user",
      nick: "bob",
      server: "[2001:db8::1]",
    });
  });

  it.each([
    [""],
    ["%irc.example.org"],
    ["#chan%"],
    ["#chan%irc example.org"],
    ["#chan%irc_example.org"],
    ["#chan%-irc.example.org"],
    ["#chan%irc..example.org"],
    ["#chan%irc.example.org."],
    ["#chan%999.1.1.1"],
    ["#chan%[::g]"],
    ["#chan%::1"],
    ["#chan"],
    [`${"a".repeat(64)}.org`],
  ])("refuses %j", (local) => {
    expect(parseIrcAddress(local)).toBeNull();
  });
});

describe("parseIrcAddress, fixed-server mode", () => {
  it("reads channels and users on the fixed server, and the empty localpart as the server", () => {
    expect(parseIrcAddress("#chan", FIXED)).toEqual({
      kind: "channel",
      channel: "#chan",
      server: "irc.example.org",
    });
    expect(parseIrcAddress("nick", FIXED)).toEqual({ kind: "user", nick: "nick", server: "irc.example.org" });
    expect(parseIrcAddress("", FIXED)).toEqual({ kind: "server", server: "irc.example.org" });
  });

  it("keeps '%' as part of the name, as Biboumi does", () => {
    expect(parseIrcAddress("#chan%other.org", FIXED)).toEqual({
      kind: "channel",
      channel: "#chan%other.org",
      server: "irc.example.org",
    });
  });
});

describe("formatIrcAddress", () => {
  it("writes each kind of address", () => {
    expect(formatIrcAddress({ kind: "channel", channel: "#c", server: "irc.example.org" })).toBe(
      "#c%irc.example.org",
    );
    expect(formatIrcAddress({ kind: "user", nick: "n", server: "irc.example.org" })).toBe(
      "n%irc.example.org",
    );
    expect(formatIrcAddress({ kind: "server", server: "irc.example.org" })).toBe("irc.example.org");
    expect(formatIrcAddress({ kind: "channel", channel: "#c", server: "irc.example.org" }, FIXED)).toBe("#c");
    expect(formatIrcAddress({ kind: "server", server: "irc.example.org" }, FIXED)).toBe("");
  });

  it("refuses, in fixed-server mode, an address on another server", () => {
    expect(() => formatIrcAddress({ kind: "user", nick: "n", server: "other.org" }, FIXED)).toThrow(
      RangeError,
    );
  });
});

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
const hostname = fc
  .tuple(fc.array(label, { minLength: 0, maxLength: 3 }), fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/))
  .map(([labels, tld]) => [...labels, tld].join("."));
const ipv4 = fc.ipV4();
const ipv6 = fc.ipV6().map((ip) => `[${ip.toLowerCase()}]`);
const server = fc.oneof(hostname, ipv4, ipv6);
// Names are arbitrary text, '%' included; only their first character decides the kind.
const rest = fc.string({ unit: "binary", maxLength: 20 });
const channel = fc.tuple(fc.constantFrom("#", "&"), rest).map(([t, r]) => t + r);
const nick = fc
  .tuple(fc.string({ unit: "binary", minLength: 1, maxLength: 1 }), rest)
  .filter(([first]) => first !== "#" && first !== "&")
  .map(([first, r]) => first + r);
const address: fc.Arbitrary<IrcAddress> = fc.oneof(
  fc.record({ kind: fc.constant("channel" as const), channel, server }),
  fc.record({ kind: fc.constant("user" as const), nick, server }),
  fc.record({ kind: fc.constant("server" as const), server }),
);

describe("address properties", () => {
  it("parse inverts format, and format inverts parse, in multi-server mode", () => {
    fc.assert(
      fc.property(address, (a) => {
        const local = formatIrcAddress(a);
        expect(parseIrcAddress(local)).toEqual(a);
        expect(formatIrcAddress(parseIrcAddress(local) as IrcAddress)).toBe(local);
      }),
      { numRuns: 2000 },
    );
  });

  it("parse inverts format in fixed-server mode", () => {
    fc.assert(
      fc.property(address, (a) => {
        const opts = { fixedServer: a.server };
        const local = formatIrcAddress(a, opts);
        expect(parseIrcAddress(local, opts)).toEqual(a);
      }),
      { numRuns: 2000 },
    );
  });

  it("agrees with Biboumi's first-'%' split whenever there is a single '%'", () => {
    fc.assert(
      fc.property(rest, server, (name, host) => {
        fc.pre(!name.includes("%"));
        const parsed = parseIrcAddress(`${name}%${host}`);
        if (name === "") {
          expect(parsed).toBeNull();
          return;
        }
        const local =
          parsed?.kind === "channel" ? parsed.channel : parsed?.kind === "user" ? parsed.nick : undefined;
        expect(local).toBe(name);
        expect(parsed?.server).toBe(host);
      }),
      { numRuns: 1000 },
    );
  });

  it("never throws, and only yields valid servers, on arbitrary input", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (local) => {
        const parsed = parseIrcAddress(local);
        if (parsed) expect(isServerName(parsed.server)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
