import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  Archive,
  type ArchivedMessage,
  createRedis,
  InvalidArchiveIdError,
  type RedisClient,
  StateValidationError,
  Store,
} from "../../src/store/index.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";

const GW = "irc.example.org";
const ALICE = "alice@example.org";
const BOB = "bob@example.org";

let server: RedisServer;
let redis: RedisClient;
let store: Store;

beforeAll(async () => {
  server = await startRedis({ aof: false });
  redis = createRedis({ url: server.url }, pino({ level: "silent" }));
  store = await Store.open({ redis, prefix: "postern:", encryptionKey: randomBytes(32).toString("hex") });
});

afterAll(async () => {
  await store?.close();
  await server?.stop();
});

beforeEach(async () => {
  await redis.flushdb();
});

const message = (n: number): ArchivedMessage => ({
  stanzaId: `stanza-${n}`,
  from: "carol",
  body: `message ${n}`,
  timestamp: 1_700_000_000_000 + n,
  kind: "message",
});

describe("OnlineResources", () => {
  it("tracks resources per user and the users with any online", async () => {
    await store.online.add(GW, ALICE, "phone");
    await store.online.add(GW, ALICE, "laptop");
    await store.online.add(GW, ALICE, "phone");
    await store.online.add(GW, BOB, "desk");
    await store.online.add("telegram.example.org", "carol@example.org", "x");
    expect(await store.online.list(GW, ALICE)).toEqual(["laptop", "phone"]);
    expect(await store.online.usersWithResources(GW)).toEqual([ALICE, BOB]);

    await store.online.remove(GW, ALICE, "phone");
    expect(await store.online.usersWithResources(GW)).toEqual([ALICE, BOB]);
    await store.online.remove(GW, ALICE, "laptop");
    expect(await store.online.list(GW, ALICE)).toEqual([]);
    expect(await store.online.usersWithResources(GW)).toEqual([BOB]);

    await store.online.clear(GW, BOB);
    expect(await store.online.usersWithResources(GW)).toEqual([]);
    expect(await redis.exists(store.keys.onlineUsers(GW))).toBe(0);
  });

  it("keeps a user listed when adds and removes of their resources interleave", async () => {
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        i % 2 === 0 ? store.online.add(GW, ALICE, `r${i}`) : store.online.remove(GW, ALICE, `r${i - 1}`),
      ),
    );
    await store.online.add(GW, ALICE, "final");
    expect(await store.online.usersWithResources(GW)).toEqual([ALICE]);
  });
});

describe("IdMap", () => {
  it("maps legacy ids to stanza ids and back, per user and conversation, with a TTL", async () => {
    await store.idMap.remember(GW, ALICE, "#chan", "legacy:1", "stanza-1");
    expect(await store.idMap.stanzaIdFor(GW, ALICE, "#chan", "legacy:1")).toBe("stanza-1");
    expect(await store.idMap.legacyIdFor(GW, ALICE, "#chan", "stanza-1")).toBe("legacy:1");
    expect(await store.idMap.stanzaIdFor(GW, ALICE, "#other", "legacy:1")).toBeNull();
    expect(await store.idMap.stanzaIdFor(GW, BOB, "#chan", "legacy:1")).toBeNull();
    expect(await store.idMap.legacyIdFor(GW, ALICE, "#chan", "unknown")).toBeNull();

    for (const key of [
      store.keys.legacyToStanza(GW, ALICE, "#chan", "legacy:1"),
      store.keys.stanzaToLegacy(GW, ALICE, "#chan", "stanza-1"),
    ]) {
      const ttl = await redis.ttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(store.idMap.ttlSeconds);
    }
    expect(store.idMap.ttlSeconds).toBe(30 * 24 * 60 * 60);
  });
});

describe("StateNamespace", () => {
  it("stores strings and validated JSON in its own namespace only", async () => {
    const alice = store.userState(GW, ALICE);
    const bob = store.userState(GW, BOB);
    const gateway = store.gatewayState(GW);
    await alice.set("nick", "alice");
    await gateway.setJson("offset", { updateId: 42 });
    expect(await alice.get("nick")).toBe("alice");
    expect(await bob.get("nick")).toBeNull();
    expect(await gateway.getJson("offset", z.object({ updateId: z.number() }))).toEqual({ updateId: 42 });
    expect(await gateway.getJson("missing", z.number())).toBeNull();
    expect(await alice.entries()).toEqual({ nick: "alice" });
    await alice.delete("nick");
    expect(await alice.entries()).toEqual({});
  });

  it("throws a StateValidationError, without the value, for data that does not fit the schema", async () => {
    const state = store.userState(GW, ALICE);
    await state.set("rooms", "not json secret-value");
    await expect(state.getJson("rooms", z.array(z.string()))).rejects.toThrow(StateValidationError);
    await state.setJson("rooms", { secret: "secret-value" });
    const error = await state.getJson("rooms", z.array(z.string())).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateValidationError);
    expect((error as Error).message).toContain("rooms");
    expect((error as Error).message).not.toContain("secret-value");
  });
});

describe("Archive", () => {
  it("round-trips entries with their archive ids", async () => {
    const archive = store.userArchive(GW, ALICE, "bob");
    const id = await archive.append({ ...message(1), legacyId: "L1", kind: "action" });
    await archive.append(message(2));
    expect(await archive.recent()).toEqual([
      { ...message(1), legacyId: "L1", kind: "action", archiveId: id },
      { ...message(2), archiveId: expect.any(String) },
    ]);
    expect(await archive.contains(id)).toBe(true);
    expect(await archive.contains("1-1")).toBe(false);
  });

  it("keeps at most maxEntries, dropping the oldest", async () => {
    const archive = new Archive(redis, store.keys.sharedArchive(GW, "#big"), {
      maxEntries: 20,
      maxAgeMs: 3_600_000,
    });
    for (let n = 1; n <= 75; n++) await archive.append(message(n));
    expect(await archive.size()).toBe(20);
    const recent = await archive.recent({ limit: 100 });
    expect(recent.map((e) => e.body)).toEqual(Array.from({ length: 20 }, (_, i) => `message ${56 + i}`));
  });

  it("drops entries older than maxAgeMs", async () => {
    const archive = new Archive(redis, store.keys.sharedArchive(GW, "#old"), {
      maxEntries: 100,
      maxAgeMs: 1,
    });
    await archive.append(message(1));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await archive.append(message(2));
    expect((await archive.recent()).map((e) => e.body)).toEqual(["message 2"]);
  });

  it("returns recent entries by limit, time and archive id", async () => {
    const archive = store.sharedArchive(GW, "#room");
    const ids: string[] = [];
    for (let n = 1; n <= 10; n++) ids.push(await archive.append(message(n)));
    expect((await archive.recent({ limit: 3 })).map((e) => e.body)).toEqual([
      "message 8",
      "message 9",
      "message 10",
    ]);
    expect((await archive.recent({ afterId: ids[6] })).map((e) => e.archiveId)).toEqual(ids.slice(7));
    expect(await archive.recent({ since: new Date(Date.now() + 60_000) })).toEqual([]);
    expect((await archive.recent({ since: new Date(0), limit: 2 })).map((e) => e.archiveId)).toEqual(
      ids.slice(8),
    );
  });

  it("pages forwards and backwards through a MAM query, with a complete flag", async () => {
    const archive = store.sharedArchive(GW, "#mam");
    const ids: string[] = [];
    for (let n = 1; n <= 25; n++) ids.push(await archive.append(message(n)));

    const forward: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await archive.query({ max: 10, ...(after === undefined ? {} : { after }) });
      forward.push(...page.items.map((e) => e.archiveId));
      after = page.items.at(-1)?.archiveId;
      if (page.complete) break;
    }
    expect(forward).toEqual(ids);

    const backward: string[][] = [];
    let before = "";
    for (;;) {
      const page = await archive.query({ max: 10, before });
      backward.push(page.items.map((e) => e.archiveId));
      if (page.complete) break;
      before = page.items[0]!.archiveId;
    }
    expect(backward).toEqual([ids.slice(15), ids.slice(5, 15), ids.slice(0, 5)]);

    const lastPage = await archive.query({ max: 5, after: ids[19] });
    expect(lastPage).toEqual({ items: expect.any(Array), complete: true });
    expect(lastPage.items.map((e) => e.archiveId)).toEqual(ids.slice(20));
  });

  it("limits a query to a time range given by archive time", async () => {
    const archive = store.sharedArchive(GW, "#range");
    const ids: string[] = [];
    for (let n = 1; n <= 5; n++) ids.push(await archive.append(message(n)));
    const timeOf = (id: string) => new Date(Number(id.split("-")[0]));
    const all = await archive.query({ start: timeOf(ids[0]!), end: timeOf(ids[4]!), max: 50 });
    expect(all.items.map((e) => e.archiveId)).toEqual(ids);
    expect(all.complete).toBe(true);
    expect((await archive.query({ end: new Date(0), max: 10 })).items).toEqual([]);
    expect((await archive.query({ start: new Date(Date.now() + 60_000), max: 10 })).items).toEqual([]);
  });

  it("rejects archive ids that are not stream ids", async () => {
    const archive = store.sharedArchive(GW, "#ids");
    await expect(archive.query({ after: "not-an-id", max: 5 })).rejects.toBeInstanceOf(InvalidArchiveIdError);
    await expect(archive.recent({ afterId: "1-2-3" })).rejects.toBeInstanceOf(InvalidArchiveIdError);
  });
});

describe("Dedupe", () => {
  it("reports an event id as new once per scope, with a TTL", async () => {
    const alice = { gateway: GW, bareJid: ALICE };
    expect(await store.dedupe.seenBefore(alice, "evt-1", 3600)).toBe(false);
    expect(await store.dedupe.seenBefore(alice, "evt-1", 3600)).toBe(true);
    expect(await store.dedupe.seenBefore({ gateway: GW, bareJid: BOB }, "evt-1", 3600)).toBe(false);
    expect(await store.dedupe.seenBefore({ gateway: GW }, "evt-1", 3600)).toBe(false);
    expect(await store.dedupe.seenBefore({ gateway: GW }, "evt-1", 3600)).toBe(true);
    const ttl = await redis.ttl(store.keys.dedupe(alice, "evt-1"));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3600);
    await store.dedupe.forget(alice, "evt-1");
    expect(await store.dedupe.seenBefore(alice, "evt-1", 3600)).toBe(false);
  });

  it("lets exactly one of many concurrent handlers through", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () => store.dedupe.seenBefore({ gateway: GW }, "update-7", 60)),
    );
    expect(results.filter((seen) => !seen)).toHaveLength(1);
  });
});

describe("RateLimiter", () => {
  it("allows `limit` hits per window, then says how long to wait", async () => {
    for (let i = 0; i < 3; i++) {
      expect(await store.rateLimit.hit("register:alice", 3, 3600)).toEqual({
        allowed: true,
        retryAfterSeconds: 0,
      });
    }
    const denied = await store.rateLimit.hit("register:alice", 3, 3600);
    expect(denied.allowed).toBe(false);
    expect(denied.retryAfterSeconds).toBeGreaterThan(0);
    expect(denied.retryAfterSeconds).toBeLessThanOrEqual(3600);
    expect((await store.rateLimit.hit("register:bob", 3, 3600)).allowed).toBe(true);
    const ttl = await redis.ttl(store.keys.rateLimit("register:alice"));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3600);
  });

  it("counts concurrent hits exactly", async () => {
    const results = await Promise.all(Array.from({ length: 30 }, () => store.rateLimit.hit("burst", 10, 60)));
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
  });
});

describe("Locks", () => {
  it("is held by one holder at a time; only the holder renews or releases it", async () => {
    expect(await store.lock.acquire("telegram:bot1", "proc-a", 30_000)).toBe(true);
    expect(await store.lock.acquire("telegram:bot1", "proc-a", 30_000)).toBe(true);
    expect(await store.lock.acquire("telegram:bot1", "proc-b", 30_000)).toBe(false);
    expect(await store.lock.renew("telegram:bot1", "proc-b", 30_000)).toBe(false);
    expect(await store.lock.release("telegram:bot1", "proc-b")).toBe(false);
    expect(await store.lock.holder("telegram:bot1")).toBe("proc-a");

    expect(await store.lock.renew("telegram:bot1", "proc-a", 60_000)).toBe(true);
    const pttl = await redis.pttl(store.keys.lock("telegram:bot1"));
    expect(pttl).toBeGreaterThan(30_000);

    expect(await store.lock.release("telegram:bot1", "proc-a")).toBe(true);
    expect(await store.lock.holder("telegram:bot1")).toBeNull();
    expect(await store.lock.acquire("telegram:bot1", "proc-b", 30_000)).toBe(true);
  });

  it("grants a contested lock to exactly one contender", async () => {
    const won = await Promise.all(
      Array.from({ length: 10 }, (_, i) => store.lock.acquire("contested", `proc-${i}`, 30_000)),
    );
    expect(won.filter(Boolean)).toHaveLength(1);
  });
});
