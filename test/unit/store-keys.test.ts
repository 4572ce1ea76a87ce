import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeSegment, Keys } from "../../src/store/keys.ts";

const keys = new Keys("postern:");

/** Strings rich in the characters that could break a key scheme, plus arbitrary Unicode and lone surrogates. */
const awkward = fc.string({
  unit: fc.oneof(
    fc.constantFrom(":", "{", "}", "%", "*", "?", "[", "]", "\\", " ", "@", "/", "%3A", "\ud800", "\udc00"),
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
  ),
  maxLength: 12,
});

/**
 * Short strings over a tiny alphabet of separators and key words, so that random calls often
 * differ only in where a separator falls: the inputs most likely to collide under a weak scheme.
 */
const tight = fc.string({
  unit: fc.constantFrom("a", ":", "%", "3A", "{", "}", "u:", "reg", "archive", "l", "s"),
  maxLength: 3,
});

const enc = encodeSegment;

/**
 * Every key builder with the layout it must produce: the key after `postern:v1:`, split at ':'.
 * `$` marks an encoded argument; everything else is a literal. Keys of the same length must
 * differ in a literal somewhere (checked below), so the layout alone tells the builders apart.
 */
const builders = {
  registration: {
    shape: ["{u", "$}", "$", "reg"],
    build: (gw: string, jid: string) => keys.registration(gw, jid),
  },
  userClaims: {
    shape: ["{u", "$}", "$", "claims"],
    build: (gw: string, jid: string) => keys.userClaims(gw, jid),
  },
  onlineResources: {
    shape: ["{u", "$}", "$", "online"],
    build: (gw: string, jid: string) => keys.onlineResources(gw, jid),
  },
  userState: {
    shape: ["{u", "$}", "$", "state"],
    build: (gw: string, jid: string) => keys.userState(gw, jid),
  },
  legacyToStanza: {
    shape: ["{u", "$}", "$", "idmap", "$", "l", "$"],
    build: (gw: string, jid: string, conv: string, id: string) => keys.legacyToStanza(gw, jid, conv, id),
  },
  stanzaToLegacy: {
    shape: ["{u", "$}", "$", "idmap", "$", "s", "$"],
    build: (gw: string, jid: string, conv: string, id: string) => keys.stanzaToLegacy(gw, jid, conv, id),
  },
  userArchive: {
    shape: ["{u", "$}", "$", "archive", "$"],
    build: (gw: string, jid: string, conv: string) => keys.userArchive(gw, jid, conv),
  },
  userDedupe: {
    shape: ["{u", "$}", "$", "dedupe", "$"],
    build: (gw: string, jid: string, id: string) => keys.dedupe({ gateway: gw, bareJid: jid }, id),
  },
  registeredUsers: { shape: ["{g", "$}", "users"], build: (gw: string) => keys.registeredUsers(gw) },
  onlineUsers: { shape: ["{g", "$}", "online-users"], build: (gw: string) => keys.onlineUsers(gw) },
  gatewayState: { shape: ["{g", "$}", "state"], build: (gw: string) => keys.gatewayState(gw) },
  identityClaim: {
    shape: ["{g", "$}", "claim", "$"],
    build: (gw: string, id: string) => keys.identityClaim(gw, id),
  },
  sharedArchive: {
    shape: ["{g", "$}", "archive", "$"],
    build: (gw: string, conv: string) => keys.sharedArchive(gw, conv),
  },
  gatewayDedupe: {
    shape: ["{g", "$}", "dedupe", "$"],
    build: (gw: string, id: string) => keys.dedupe({ gateway: gw }, id),
  },
  rateLimit: { shape: ["rate", "$"], build: (scope: string) => keys.rateLimit(scope) },
  lock: { shape: ["lock", "$"], build: (name: string) => keys.lock(name) },
} as const;

type BuilderName = keyof typeof builders;

/** Order in which each builder's arguments appear in its key (the hash-tagged one first). */
const argOrder: Record<BuilderName, number[]> = {
  registration: [1, 0],
  userClaims: [1, 0],
  onlineResources: [1, 0],
  userState: [1, 0],
  legacyToStanza: [1, 0, 2, 3],
  stanzaToLegacy: [1, 0, 2, 3],
  userArchive: [1, 0, 2],
  userDedupe: [1, 0, 2],
  registeredUsers: [0],
  onlineUsers: [0],
  gatewayState: [0],
  identityClaim: [0, 1],
  sharedArchive: [0, 1],
  gatewayDedupe: [0, 1],
  rateLimit: [0],
  lock: [0],
};

/** A random call of a random builder. */
const keyCall = (text: fc.Arbitrary<string>) =>
  fc.constantFrom(...(Object.keys(builders) as BuilderName[])).chain((name) => {
    const { build } = builders[name];
    return fc.array(text, { minLength: build.length, maxLength: build.length }).map((args) => ({
      name,
      args,
      key: (build as (...a: string[]) => string)(...args),
    }));
  });

/** Rebuilds the expected key tokens from a builder's shape and its encoded arguments. */
function expectedTokens(name: BuilderName, args: string[]): string[] {
  const inKeyOrder = argOrder[name].map((i) => enc(args[i]!));
  return builders[name].shape.map((token) => {
    if (token === "$") return inKeyOrder.shift()!;
    if (token === "$}") return `${inKeyOrder.shift()!}}`;
    return token;
  });
}

/** What Redis Cluster hashes: the content of the first `{…}` if it is non-empty. */
function hashTag(key: string): string | undefined {
  const match = /\{([^}]*)\}/.exec(key);
  return match?.[1] === "" ? undefined : match?.[1];
}

describe("Keys", () => {
  it("gives distinct keys to distinct calls", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(keyCall(tight), keyCall(awkward)), { maxLength: 200 }), (calls) => {
        const callByKey = new Map<string, string>();
        for (const { name, args, key } of calls) {
          const call = JSON.stringify([name, ...args]);
          expect(callByKey.get(key) ?? call).toBe(call);
          callByKey.set(key, call);
        }
      }),
      { numRuns: 300 },
    );
  });

  // Why distinct calls cannot collide, in three checked steps: each key is its builder's layout
  // with encoded arguments between ':' (1), layouts of equal length differ in a literal (2), and
  // encoding is injective and never yields ':' (3, next test).
  it("builds every key as its layout with encoded arguments", () => {
    fc.assert(
      fc.property(fc.oneof(keyCall(tight), keyCall(awkward)), ({ name, args, key }) => {
        expect(key.startsWith("postern:v1:")).toBe(true);
        expect(key.slice("postern:v1:".length).split(":")).toEqual(expectedTokens(name, args));
      }),
      { numRuns: 2_000 },
    );
  });

  it("has layouts that differ in a literal whenever they have the same length", () => {
    const shapes = Object.values(builders).map((b) => b.shape as readonly string[]);
    const isArgument = (token: string) => token.startsWith("$");
    for (const [i, a] of shapes.entries()) {
      for (const b of shapes.slice(i + 1)) {
        if (a.length !== b.length) continue;
        const differ = a.some((token, j) => !isArgument(token) && !isArgument(b[j]!) && token !== b[j]);
        expect(differ, `${a.join(":")} vs ${b.join(":")}`).toBe(true);
      }
    }
  });

  it("encodes segments injectively, into characters with no meaning in keys or SCAN patterns", () => {
    fc.assert(
      fc.property(fc.oneof(tight, awkward), fc.oneof(tight, awkward), (a, b) => {
        expect(encodeSegment(a) === encodeSegment(b)).toBe(a === b);
        expect(encodeSegment(a)).toMatch(/^[A-Za-z0-9\-._~@+=,!$&'()/%]*$/);
      }),
      { numRuns: 2_000 },
    );
  });

  it("puts every key of one user in the user's hash tag, whatever the gateway or ids", () => {
    fc.assert(
      fc.property(awkward, awkward, awkward, awkward, (jid, gw, conv, id) => {
        const userKeys = [
          keys.registration(gw, jid),
          keys.userClaims(gw, jid),
          keys.onlineResources(gw, jid),
          keys.userState(gw, jid),
          keys.legacyToStanza(gw, jid, conv, id),
          keys.stanzaToLegacy(gw, jid, conv, id),
          keys.userArchive(gw, jid, conv),
          keys.dedupe({ gateway: gw, bareJid: jid }, id),
        ];
        const tag = keys.userHashTag(jid).slice(1, -1);
        for (const key of userKeys) {
          expect(hashTag(key)).toBe(tag);
          expect(key.startsWith(keys.userPattern(gw, jid).slice(0, -1))).toBe(true);
        }
      }),
    );
  });

  it("puts gateway-wide keys in the gateway's hash tag, distinct from any user's", () => {
    fc.assert(
      fc.property(awkward, awkward, awkward, (gw, jid, id) => {
        const tag = keys.gatewayHashTag(gw).slice(1, -1);
        for (const key of [
          keys.registeredUsers(gw),
          keys.onlineUsers(gw),
          keys.gatewayState(gw),
          keys.identityClaim(gw, id),
          keys.sharedArchive(gw, id),
          keys.dedupe({ gateway: gw }, id),
        ]) {
          expect(hashTag(key)).toBe(tag);
        }
        expect(keys.gatewayHashTag(gw)).not.toBe(keys.userHashTag(jid));
      }),
    );
  });

  it("carries the prefix and the schema version", () => {
    expect(keys.registration("irc.example.org", "alice@example.org")).toBe(
      "postern:v1:{u:alice@example.org}:irc.example.org:reg",
    );
    expect(keys.identityClaim("gw", "a:b{c}%")).toBe("postern:v1:{g:gw}:claim:a%3Ab%7Bc%7D%25");
  });

  it("keeps apart inputs that differ only in where a separator falls", () => {
    const variants = [
      keys.legacyToStanza("gw", "a", "b:l:c", "d"),
      keys.legacyToStanza("gw", "a", "b", "c:l:d"),
      keys.legacyToStanza("gw", "a}:gw", "b", "d"),
      keys.registration("gw:reg", "a"),
      keys.registration("gw", "a}:gw:reg"),
      keys.userArchive("gw", "a", "x:reg"),
    ];
    expect(new Set(variants).size).toBe(variants.length);
  });

  it("rejects a prefix that could form a hash tag or a glob", () => {
    expect(() => new Keys("bad{prefix}:")).toThrow(/prefix/);
    expect(() => new Keys("bad*:")).toThrow(/prefix/);
  });
});
