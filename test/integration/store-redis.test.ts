import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createRedis, type RedisClient, Store } from "../../src/store/index.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";

const GW = "telegram.example.org";
const ALICE = "alice@example.org";
const REDIS_PASSWORD = "canary-redis-password-91c2";
const BOT_TOKEN = "123456:canary-bot-token";

/** A debug-level logger that keeps every line, to check what would reach the operator's logs. */
function memoryLogger() {
  const lines: string[] = [];
  const log = pino({ level: "debug" }, { write: (line: string) => lines.push(line) });
  return { log, text: () => lines.join("") };
}

let server: RedisServer;
let logs: ReturnType<typeof memoryLogger>;
let redis: RedisClient;
let store: Store;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  server = await startRedis({ password: REDIS_PASSWORD });
  logs = memoryLogger();
  const url = server.url.replace("redis://", `redis://:${REDIS_PASSWORD}@`);
  redis = createRedis({ url }, logs.log);
  store = await Store.open({ redis, prefix: "postern:", encryptionKey: randomBytes(32).toString("hex") });
});

afterAll(async () => {
  await store?.close();
  await server?.stop();
  process.off("unhandledRejection", onUnhandled);
});

afterEach(() => {
  expect(unhandled).toEqual([]);
  expect(logs.text()).not.toContain(REDIS_PASSWORD);
  expect(logs.text()).not.toContain(BOT_TOKEN);
});

describe("Redis restarts", () => {
  it("keeps data written before a restart (AOF)", async () => {
    await store.registrations.save(GW, ALICE, { token: BOT_TOKEN, name: "alice" }, ["token"]);
    await store.idMap.remember(GW, ALICE, "42", "msg-1", "stanza-1");
    const archiveId = await store.sharedArchive(GW, "-100123").append({
      stanzaId: "s1",
      from: "bob",
      body: "before the restart",
      timestamp: Date.now(),
      kind: "message",
    });
    await store.gatewayState(GW).set("offset", "1001");

    await server.restart();

    expect((await store.registrations.load(GW, ALICE))?.values).toEqual({ token: BOT_TOKEN, name: "alice" });
    expect(await store.idMap.legacyIdFor(GW, ALICE, "42", "stanza-1")).toBe("msg-1");
    expect((await store.sharedArchive(GW, "-100123").recent()).map((e) => e.archiveId)).toEqual([archiveId]);
    expect(await store.gatewayState(GW).get("offset")).toBe("1001");
  });

  it("keeps data after a crash (SIGKILL) once the AOF was synced", async () => {
    await store.gatewayState(GW).set("offset", "2002");
    // With appendfsync everysec a crash may lose the last second of writes: wait for one fsync.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await server.restart({ kill: true });
    expect(await store.gatewayState(GW).get("offset")).toBe("2002");
  });

  it("completes commands issued while Redis is down for about a second", async () => {
    const dropped = once(redis, "reconnecting");
    const restarting = server.restart({ downMs: 1_000, kill: true });
    await dropped;

    // Issued while nothing listens on the port: they wait in the offline queue.
    const writes = [
      store.online.add(GW, ALICE, "phone"),
      store.dedupe.seenBefore({ gateway: GW }, "update-1", 3600),
      store.gatewayState(GW).set("during-outage", "yes"),
    ];
    await restarting;
    await Promise.all(writes);

    expect(await store.online.list(GW, ALICE)).toEqual(["phone"]);
    expect(await store.dedupe.seenBefore({ gateway: GW }, "update-1", 3600)).toBe(true);
    expect(await store.gatewayState(GW).get("during-outage")).toBe("yes");
    expect(logs.text()).toContain("redis connection error");
  });

  it("fails a command within the command timeout when Redis stays down", async () => {
    const dropped = once(redis, "reconnecting");
    await server.kill();
    await dropped;
    try {
      await expect(store.gatewayState(GW).get("offset")).rejects.toThrow(/timed out/i);
    } finally {
      await server.restart();
    }
    expect(await redis.ping()).toBe("PONG");
  });
});

describe("createRedis", () => {
  it("logs a wrong password as an error without showing it", async () => {
    const wrong = memoryLogger();
    const client = createRedis({ url: server.url, password: "canary-wrong-password-55" }, wrong.log);
    try {
      await expect(client.ping()).rejects.toThrow();
    } finally {
      client.disconnect();
    }
    expect(wrong.text()).not.toContain("canary-wrong-password-55");
    expect(wrong.text()).toContain(`127.0.0.1:${server.port}`);
  });

  it("never logs the password of the URL", () => {
    expect(logs.text()).toContain(`redis://127.0.0.1:${server.port}`);
  });
});
