/**
 * Property tests for RELIABILITY.md S11: two distinct JIDs never end up with one IRC nick.
 *
 * Each XMPP user has their own IRC connection, so the runtime mechanism is the IRC server's: it
 * refuses a nick already taken under its CASEMAPPING (433), and Postern then tries the next
 * candidate. The server is modelled here by {@link IrcServerModel}, which answers as ngIRCd and
 * InspIRCd do: 433 for a nick taken under the casemapping (security-nicks.test.ts shows both
 * servers doing so), 432 for characters outside RFC 2812 (Cyrillic, U+202E, U+200B, fullwidth,
 * `~`) or more than NICKLEN bytes (both servers answered so when tried by hand). What runs
 * against it is Postern's real code: `defaultNick`, `registrationNick`, and the candidates
 * connection.ts sends after a refusal (`nickAlternatives`, then `lastResortNick`), folded with
 * the real `foldCase`.
 *
 * 10⁵ JID pairs (3–6 s on this 2-core machine); 10⁴ runs for the crowded case of up to eight users.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  defaultNick,
  hasHiddenCharacters,
  isPortableNick,
  lastResortNick,
  nickAlternatives,
  registrationNick,
} from "../../adapters/irc/nick.ts";
import { type Casemapping, foldCase } from "../../adapters/irc/protocol/casemap.ts";

const NICKLEN = 30;

/** An IRC server's nick table, answering registrations as ngIRCd and InspIRCd do. */
class IrcServerModel {
  private readonly taken = new Set<string>();

  constructor(readonly casemapping: Casemapping) {}

  /** "001" (registered), "433" (in use) or "432" (erroneous). */
  register(nick: string): "001" | "432" | "433" {
    if (!/^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]*$/.test(nick) || nick.length > NICKLEN) return "432";
    const folded = foldCase(nick, this.casemapping);
    if (this.taken.has(folded)) return "433";
    this.taken.add(folded);
    return "001";
  }
}

/** What connection.ts does from NICK to 001: the nick, its alternatives, then random last resorts. */
function connect(
  server: IrcServerModel,
  nick: string,
  random: () => number,
): { nick: string; answers: string[] } {
  const answers: string[] = [];
  const alternatives = nickAlternatives(nick);
  let attempt = nick;
  for (let tries = 0; tries < 50; tries += 1) {
    const answer = server.register(attempt);
    answers.push(answer);
    if (answer === "001") return { nick: attempt, answers };
    attempt = alternatives.shift() ?? lastResortNick(nick, random);
  }
  throw new Error(`no nick after 50 tries: ${answers.join(" ")}`);
}

/** Localparts rich in what makes nicks collide: case, rfc1459 pairs, look-alikes, invisibles, length. */
const localpart = fc.string({
  unit: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom("a", "A", "b", "B", "f", "o", "O") },
    { weight: 4, arbitrary: fc.constantFrom("[", "{", "]", "}", "\\", "|", "^", "~", "-", "_", "`") },
    { weight: 2, arbitrary: fc.constantFrom("0", "1", "9", ".", "%", "#", "+", "=") },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        "\u0430",
        "\u0435",
        "\u03BF",
        "\u202E",
        "\u200B",
        "\u2066",
        "\uFF41",
        "é",
        "ß",
      ),
    },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }) },
  ),
  minLength: 1,
  maxLength: 20,
});
const domain = fc.constantFrom("localhost", "example.org", "EXAMPLE.org", "xn--80ak6aa92e.com");
const bareJid = fc.tuple(localpart, domain).map(([local, host]) => `${local}@${host}`);
const casemapping = fc.constantFrom<Casemapping>("rfc1459", "ascii", "strict-rfc1459");
/** What a user may ask for when joining a room (any text a resourcepart may be). */
const requested = fc.option(
  fc.oneof(localpart, fc.constantFrom("foo[", "foo{", "FOO{", "Foo", "foo", "foo_", "xmppuser")),
  { nil: undefined },
);

/** Why `nick` could not be shown as it is to IRC users, or undefined when it can. */
function unshowable(nick: string): string | undefined {
  if (!isPortableNick(nick)) return `${JSON.stringify(nick)} is not a portable nick`;
  if (hasHiddenCharacters(nick) || !/^[\x21-\x7E]+$/.test(nick))
    return `${JSON.stringify(nick)} is not plain ASCII`;
  return undefined;
}

/** Fails the run (plain checks: `expect` would cost more than the code under test, 10⁵ times). */
function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

/** Ways to turn one localpart into another that is nearly the same. */
const RFC1459_SWAP: Readonly<Record<string, string>> = {
  "[": "{",
  "{": "[",
  "]": "}",
  "}": "]",
  "\\": "|",
  "|": "\\",
  "~": "^",
  "^": "~",
};
const variants: readonly ((s: string) => string)[] = [
  (s) => s.toUpperCase(),
  (s) => s.toLowerCase(),
  (s) => s.replace(/[[\]{}\\|~^]/g, (ch) => RFC1459_SWAP[ch] ?? ch),
  (s) => `${s}\u200B`,
  (s) => `\u202E${s}`,
  (s) => s.replace(/a/g, "\u0430").replace(/o/g, "\u03BF"),
  (s) => `${s}xyzxyzxyzxyzxyzxyz`,
  (s) => `${s}.`,
  (s) => s,
];
/** Two bare JIDs, often nearly the same (so their default nicks often collide), never equal. */
const jidPair = fc
  .oneof(
    fc.tuple(bareJid, bareJid),
    fc
      .tuple(localpart, domain, domain, fc.constantFrom(...variants))
      .map(([local, d1, d2, variant]) => [`${local}@${d1}`, `${variant(local)}@${d2}`] as const),
  )
  .filter(([a, b]) => a !== b);

describe("default IRC nicks of distinct JIDs (S11)", () => {
  it("differ under the casemapping, or the second is refused and registers under another nick", () => {
    let collisions = 0;
    fc.assert(
      fc.property(jidPair, casemapping, fc.nat(), ([a, b], cm, seed) => {
        const server = new IrcServerModel(cm);
        const random = () => ((seed % 9973) + 0.5) / 9973;
        const [nickA, nickB] = [defaultNick(a), defaultNick(b)];
        const first = connect(server, nickA, random);
        // The first user, on an empty server, gets exactly their default nick.
        check(first.nick === nickA, `${a} got ${first.nick}, not its default nick`);
        const second = connect(server, nickB, random);
        if (foldCase(nickA, cm) === foldCase(nickB, cm)) {
          collisions += 1;
          check(second.answers[0] === "433", `${b}'s default nick was not refused as in use`);
        }
        check(
          foldCase(second.nick, cm) !== foldCase(first.nick, cm),
          `${a} and ${b} share the nick ${first.nick}/${second.nick}`,
        );
        // Never an erroneous nick: a 432 would be retried with the same bad characters.
        check(![...first.answers, ...second.answers].includes("432"), "a nick was refused as erroneous");
        for (const nick of [first.nick, second.nick]) {
          const problem = unshowable(nick);
          check(problem === undefined, problem ?? "");
        }
      }),
      { numRuns: 100_000 },
    );
    // The pairs are built to collide often, so the interesting branch is really exercised.
    expect(collisions).toBeGreaterThan(10_000);
  });
});

describe("nicks of a crowd of users asking for nicks (S11)", () => {
  it("are pairwise distinct under the casemapping, plain ASCII, and registered without a 432", () => {
    const user = fc.record({ jid: bareJid, setupNick: requested, asked: requested });
    fc.assert(
      fc.property(
        fc.uniqueArray(user, { minLength: 2, maxLength: 8, selector: (u) => u.jid }),
        casemapping,
        fc.nat(),
        (users, cm, seed) => {
          const server = new IrcServerModel(cm);
          let state = seed;
          // A small deterministic generator, so a counterexample replays exactly.
          const random = () => {
            state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
            return state / 2 ** 31;
          };
          const nicks = users.map((u) => {
            const nick = registrationNick(u.jid, [u.setupNick, u.asked]);
            const asked = [u.setupNick, u.asked].find((n) => n !== undefined && isPortableNick(n));
            if (asked !== undefined)
              check(nick === asked, `${u.jid} asked for ${asked} but registers ${nick}`);
            const got = connect(server, nick, random);
            check(!got.answers.includes("432"), `${nick} was refused as erroneous`);
            const problem = unshowable(got.nick);
            check(problem === undefined, problem ?? "");
            return foldCase(got.nick, cm);
          });
          check(new Set(nicks).size === nicks.length, `two users share a nick: ${nicks.join(" ")}`);
        },
      ),
      { numRuns: 10_000 },
    );
  });
});

describe("nick choice, by example", () => {
  it("registers with the first nick every server accepts, else the one derived from the JID", () => {
    expect(registrationNick("erin@localhost", [undefined, "\u0435rin"])).toBe("erin");
    expect(registrationNick("erin@localhost", ["fr\u202Eank", "frank"])).toBe("frank");
    expect(registrationNick("erin@localhost", ["~tilde", "foo["])).toBe("foo[");
    expect(registrationNick("\u202E@localhost", [undefined])).toBe("xmppuser");
  });

  it("falls back to a plain nick with four digits once the alternatives are used up", () => {
    expect(nickAlternatives("foo{")).toEqual(["foo{_", "foo{__", "foo{___"]);
    expect(lastResortNick("~caf\u00E9-with-a-very-long-nick", () => 0.1234)).toBe("caf-with-a-very-long1234");
    expect(lastResortNick("\u0430\u0435", () => 0)).toBe("xmppuser0000");
  });
});
