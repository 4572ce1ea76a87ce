/**
 * The Redis consistency checker of the fault rows (scripts/faults/redis-consistency.ts) against
 * the store's own writes, and the store's release of an identity a user changed away from (R4
 * found old claims lingering after a nick change, blocking that nick for everyone else).
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type ConsistencyOptions,
  checkConsistency,
  defectCounts,
} from "../../scripts/faults/redis-consistency.ts";
import { Store } from "../../src/store/index.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";

const GW = "test.example.org";
const PREFIX = "postern:";
const ALICE = "alice@example.org";
const BOB = "bob@example.org";
const CAROL = "carol@example.org";

let server: RedisServer;
let redis: Redis;
let store: Store;

beforeAll(async () => {
  server = await startRedis({ aof: false });
  redis = new Redis(server.url);
  store = await Store.open({
    redis: new Redis(server.url),
    prefix: PREFIX,
    encryptionKey: randomBytes(32).toString("hex"),
  });
});

afterAll(async () => {
  redis?.disconnect();
  await store?.close();
  await server?.stop();
});

beforeEach(async () => {
  await redis.flushdb();
});

const check = (extra: Partial<ConsistencyOptions> = {}) =>
  checkConsistency({
    redis,
    prefix: PREFIX,
    gateway: GW,
    identityOf: (values) => (values.nick ? `nick:${values.nick}` : undefined),
    ...extra,
  });

/** What the core does for a registration binding `nick:<nick>`. */
async function register(bareJid: string, nick: string): Promise<"ok" | "conflict"> {
  const claim = await store.registrations.claimIdentity(GW, `nick:${nick}`, bareJid);
  if (claim === "conflict") return claim;
  await store.registrations.save(GW, bareJid, { nick, password: "pw" }, ["password"]);
  return "ok";
}

describe("consistency checker", () => {
  it("finds nothing wrong with registered users' keys, and no key left after they unregister", async () => {
    await register(ALICE, "al");
    await register(BOB, "bo");
    await store.coreState(GW, ALICE).set("rooms", "[]");
    await store.online.add(GW, ALICE, "phone");
    await store.idMap.remember(GW, ALICE, "carol", "legacy-1", "stanza-1");
    const before = await check({ liveSessions: [{ bareJid: ALICE, identity: "nick:al" }] });
    expect(defectCounts(before).total).toBe(0);
    expect(before.registeredUsers).toBe(2);

    await store.registrations.remove(GW, ALICE);
    const after = await check();
    expect(defectCounts(after).total).toBe(0);
    expect(after.registeredUsers).toBe(1);
  });

  it("reports keys of an unregistered user, claims of nobody registered, and a session Redis does not know", async () => {
    await store.coreState(GW, CAROL).set("rooms", "[]");
    await store.registrations.claimIdentity(GW, "nick:ca", CAROL);
    await register(ALICE, "al");
    const report = await check({ liveSessions: [{ bareJid: BOB, identity: "nick:al" }] });
    const counts = defectCounts(report);
    expect(counts.orphanKeys).toBe(2); // Carol's core state and claims set
    expect(counts.claimsOfUnregistered).toBe(1);
    expect(counts.liveWithoutRegistration).toBe(1);
    expect(report.liveIdentityNotTheirs[0]?.detail).toContain(ALICE);
  });
});

describe("changing the identity a registration binds", () => {
  it("frees the old identity for another user once the new registration is saved", async () => {
    expect(await register(ALICE, "al")).toBe("ok");
    expect(await register(ALICE, "alice")).toBe("ok");
    // Before the release the old nick is still Alice's: a stale claim.
    expect(defectCounts(await check()).staleClaims).toBe(1);
    expect(await register(BOB, "al")).toBe("conflict");

    expect(await store.registrations.releaseIdentitiesExcept(GW, ALICE, "nick:alice")).toEqual(["nick:al"]);
    expect(defectCounts(await check()).total).toBe(0);
    expect(await register(BOB, "al")).toBe("ok");
    expect(await store.registrations.identityOwner(GW, "nick:alice")).toBe(ALICE);
  });

  it("releases every claim when the new registration binds none, and is idempotent", async () => {
    await register(ALICE, "al");
    expect(await store.registrations.releaseIdentitiesExcept(GW, ALICE, undefined)).toEqual(["nick:al"]);
    expect(await store.registrations.releaseIdentitiesExcept(GW, ALICE, undefined)).toEqual([]);
    expect(await store.registrations.identityOwner(GW, "nick:al")).toBeNull();
  });
});
