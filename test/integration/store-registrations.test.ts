import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createRedis, type RedisClient, Store } from "../../src/store/index.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";

const GW = "irc.example.org";
const ALICE = "alice@example.org";
const BOB = "bob@example.org";
const CANARY = "canary-IRC-password-7f3a";
const encryptionKey = randomBytes(32).toString("hex");

let server: RedisServer;
let redis: RedisClient;
let store: Store;

beforeAll(async () => {
  server = await startRedis();
  redis = createRedis({ url: server.url }, pino({ level: "silent" }));
  store = await Store.open({ redis, prefix: "postern:", encryptionKey });
});

afterAll(async () => {
  await store?.close();
  await server?.stop();
});

beforeEach(async () => {
  await redis.flushdb();
});

/** Every key in the database. */
async function allKeys(): Promise<string[]> {
  const found: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "COUNT", 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== "0");
  return found.sort();
}

/** Fills every kind of per-user data of `bareJid` at GW, as a session would. */
async function useGateway(bareJid: string): Promise<void> {
  await store.registrations.save(GW, bareJid, { nick: `${bareJid}-nick`, password: CANARY }, ["password"]);
  await store.registrations.claimIdentity(GW, `account:${bareJid}`, bareJid);
  await store.online.add(GW, bareJid, "phone");
  await store.userState(GW, bareJid).set("nick", "x");
  await store.idMap.remember(GW, bareJid, "#chan", "legacy-1", "stanza-1");
  await store.userArchive(GW, bareJid, "#chan").append({
    stanzaId: "s1",
    from: "carol",
    body: "hi",
    timestamp: Date.now(),
    kind: "message",
  });
  await store.dedupe.seenBefore({ gateway: GW, bareJid }, "event-1", 3600);
}

describe("RegistrationStore", () => {
  it("saves and loads values, decrypting secret fields", async () => {
    await store.registrations.save(GW, ALICE, { nick: "alice", password: CANARY }, ["password"]);
    const loaded = await store.registrations.load(GW, ALICE);
    expect(loaded?.values).toEqual({ nick: "alice", password: CANARY });
    expect(loaded?.createdAt).toBeGreaterThan(0);
    expect(await store.registrations.isRegistered(GW, ALICE)).toBe(true);
    expect(await store.registrations.load(GW, BOB)).toBeNull();
  });

  it("replaces all values on a new save and keeps the creation time", async () => {
    await store.registrations.save(GW, ALICE, { nick: "alice", password: CANARY, sasl: "yes" }, ["password"]);
    const first = await store.registrations.load(GW, ALICE);
    await store.registrations.save(GW, ALICE, { nick: "alice2" }, ["password"]);
    const second = await store.registrations.load(GW, ALICE);
    expect(second?.values).toEqual({ nick: "alice2" });
    expect(second?.createdAt).toBe(first?.createdAt);
    expect(second?.updatedAt).toBeGreaterThanOrEqual(first?.updatedAt ?? 0);
  });

  it("keeps secrets out of every stored value, key name and the AOF file", async () => {
    await store.registrations.save(GW, ALICE, { nick: "alice", password: CANARY }, ["password"]);
    const keys = await allKeys();
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).not.toContain(CANARY);
      const dump = await redis.dumpBuffer(key);
      expect(dump?.includes(CANARY)).toBe(false);
    }
    const stored = await redis.hgetall(store.keys.registration(GW, ALICE));
    expect(JSON.stringify(stored)).not.toContain(CANARY);
    expect(stored["s:password"]).toMatch(/^v1:/);

    // What an operator would see with redis-cli, and what sits on disk.
    const cli = await promisify(execFile)("redis-cli", ["-p", String(server.port), "--scan"]);
    expect(cli.stdout).toContain("reg");
    expect(cli.stdout).not.toContain(CANARY);
    // Redis writes the AOF before it replies, so the registration is already in these files.
    const aofDir = join(server.dir, "appendonlydir");
    const aof = Buffer.concat(
      await Promise.all((await readdir(aofDir)).map((f) => readFile(join(aofDir, f)))),
    );
    expect(aof.includes("s:password")).toBe(true);
    expect(aof.includes(CANARY)).toBe(false);
  });

  it("refuses a sealed value moved to another user's registration", async () => {
    await store.registrations.save(GW, ALICE, { password: CANARY }, ["password"]);
    await store.registrations.save(GW, BOB, { password: "bob-secret" }, ["password"]);
    const alices = await redis.hget(store.keys.registration(GW, ALICE), "s:password");
    await redis.hset(store.keys.registration(GW, BOB), "s:password", alices ?? "");
    await expect(store.registrations.load(GW, BOB)).rejects.toThrow(/cannot open/);
  });

  it("refuses to open secrets with another encryption key", async () => {
    await store.registrations.save(GW, ALICE, { password: CANARY }, ["password"]);
    const other = createRedis({ url: server.url }, pino({ level: "silent" }));
    const wrongKey = await Store.open({
      redis: other,
      prefix: "postern:",
      encryptionKey: randomBytes(32).toString("base64"),
    });
    try {
      await expect(wrongKey.registrations.load(GW, ALICE)).rejects.toThrow(/cannot open/);
    } finally {
      await wrongKey.close();
    }
  });

  it("lists registered users", async () => {
    await store.registrations.save(GW, BOB, {}, []);
    await store.registrations.save(GW, ALICE, {}, []);
    await store.registrations.save("telegram.example.org", "carol@example.org", {}, []);
    expect(await store.registrations.listUsers(GW)).toEqual([ALICE, BOB]);
  });

  it("removes everything of a user at a gateway and nothing of anyone else", async () => {
    const weird = "we:ird{u:x}%*@example.org";
    await useGateway(ALICE);
    await useGateway(BOB);
    await useGateway(weird);
    await store.registrations.save("telegram.example.org", ALICE, { token: "t" }, ["token"]);
    const before = await allKeys();

    await store.registrations.remove(GW, ALICE);
    await store.registrations.remove(GW, weird);

    const after = await allKeys();
    for (const jid of [ALICE, weird]) {
      const tag = store.keys.userHashTag(jid);
      expect(after.filter((k) => k.includes(tag) && k.includes(`:${GW}:`))).toEqual([]);
      expect(await store.registrations.identityOwner(GW, `account:${jid}`)).toBeNull();
    }
    expect(after.filter((k) => k.includes(store.keys.userHashTag(BOB)))).toEqual(
      before.filter((k) => k.includes(store.keys.userHashTag(BOB))),
    );
    expect(await store.registrations.load(GW, BOB)).not.toBeNull();
    expect(await store.registrations.load("telegram.example.org", ALICE)).not.toBeNull();
    expect(await store.registrations.listUsers(GW)).toEqual([BOB]);
    expect(await store.online.usersWithResources(GW)).toEqual([BOB]);
    expect(await store.registrations.identityOwner(GW, `account:${BOB}`)).toBe(BOB);
  });

  it("remove is idempotent and works for a user that never registered", async () => {
    await store.registrations.remove(GW, ALICE);
    await useGateway(ALICE);
    await store.registrations.remove(GW, ALICE);
    await store.registrations.remove(GW, ALICE);
    expect(await allKeys()).toEqual([]);
  });
});

describe("identity claims", () => {
  it("binds an identity to one JID: idempotent for it, conflict for any other", async () => {
    expect(await store.registrations.claimIdentity(GW, "account:al", ALICE)).toBe("ok");
    expect(await store.registrations.claimIdentity(GW, "account:al", ALICE)).toBe("ok");
    expect(await store.registrations.claimIdentity(GW, "account:al", BOB)).toBe("conflict");
    expect(await store.registrations.identityOwner(GW, "account:al")).toBe(ALICE);
    // The same identity on another gateway is another identity.
    expect(await store.registrations.claimIdentity("other.example.org", "account:al", BOB)).toBe("ok");
  });

  it("frees an identity when its owner unregisters, or releases it, but not when someone else tries", async () => {
    await store.registrations.claimIdentity(GW, "account:al", ALICE);
    await store.registrations.claimIdentity(GW, "account:other", ALICE);
    expect(await store.registrations.releaseIdentity(GW, "account:other", BOB)).toBe(false);
    expect(await store.registrations.identityOwner(GW, "account:other")).toBe(ALICE);
    expect(await store.registrations.releaseIdentity(GW, "account:other", ALICE)).toBe(true);
    expect(await store.registrations.claimIdentity(GW, "account:other", BOB)).toBe("ok");

    await store.registrations.remove(GW, ALICE);
    expect(await store.registrations.claimIdentity(GW, "account:al", BOB)).toBe("ok");
    // Bob's conflicting attempt earlier must not have made Alice's removal release Bob's claim.
    expect(await store.registrations.identityOwner(GW, "account:other")).toBe(BOB);
  });

  it("does not release another JID's claim when a losing claimant is removed", async () => {
    await store.registrations.claimIdentity(GW, "account:al", ALICE);
    expect(await store.registrations.claimIdentity(GW, "account:al", BOB)).toBe("conflict");
    await store.registrations.remove(GW, BOB);
    expect(await store.registrations.identityOwner(GW, "account:al")).toBe(ALICE);
  });
});
