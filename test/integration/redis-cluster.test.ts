/**
 * The store, and then the whole core, on a 3-master Redis Cluster: proves the hash-tag key design
 * (keys.ts). A script or multi-key command over keys of two slots would fail with CROSSSLOT here,
 * and a SCAN sent to one node would miss the keys of the others.
 */
import { randomBytes } from "node:crypto";
import { Cluster, type Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { type RunningPostern, startPostern } from "../../src/core/app.ts";
import { createRedis, type RedisClient, Store } from "../../src/store/index.ts";
import { type ProsodyServer, startProsody } from "../support/prosody.ts";
import { type RedisCluster, startRedisCluster } from "../support/redis-cluster.ts";
import { registerWithForm } from "../support/registration-form.ts";
import { TestNetwork } from "../support/test-network.ts";
import { testNetworkConfig } from "../support/test-network-config.ts";
import { connectXmpp, type XmppTestClient, xml } from "../support/xmpp-client.ts";

const GW = "irc.example.org";
/** Enough users that their keys land on every master (checked below, not assumed). */
const USERS = Array.from({ length: 12 }, (_, i) => `user${i}@example.org`);
const CANARY = "canary-password-7f3a";

let cluster: RedisCluster;
let redis: RedisClient;
let store: Store;

beforeAll(async () => {
  cluster = await startRedisCluster();
  redis = createRedis({ cluster: { nodes: cluster.nodes } }, pino({ level: "silent" }));
  store = await Store.open({ redis, prefix: "cl:", encryptionKey: randomBytes(32).toString("hex") });
}, 60_000);

afterAll(async () => {
  await store?.close();
  await cluster?.stop();
});

function masters(): Redis[] {
  if (!(redis instanceof Cluster)) throw new Error("expected a Cluster connection");
  return redis.nodes("master");
}

/** Every key on every master, with the port of the master holding it. */
async function keysByMaster(): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  for (const node of masters()) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "COUNT", 1000);
      for (const key of keys) found.set(key, node.options.port ?? 0);
      cursor = next;
    } while (cursor !== "0");
  }
  return found;
}

/** Fills every kind of per-user data, as a session would (scripts and multi-key calls included). */
async function useGateway(bareJid: string): Promise<void> {
  await store.registrations.save(GW, bareJid, { nick: bareJid.split("@")[0]!, password: CANARY }, [
    "password",
  ]);
  expect(await store.registrations.claimIdentity(GW, `account:${bareJid}`, bareJid)).toBe("ok");
  await store.online.add(GW, bareJid, "phone");
  await store.userState(GW, bareJid).setSecret("token", "t");
  await store.coreState(GW, bareJid).setJson("rooms", ["#a"]);
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

describe("the store on a Redis Cluster", () => {
  it("spreads users over all three masters", async () => {
    for (const user of USERS) await useGateway(user);
    const ports = new Set<number>();
    for (const [key, port] of await keysByMaster()) if (key.includes("{u:")) ports.add(port);
    expect(ports.size).toBe(3);
  });

  it("saves, loads and removes a registration, leaving no key of that user on any master", async () => {
    const [gone, kept] = [USERS[0]!, USERS[1]!];
    const loaded = await store.registrations.load(GW, gone);
    expect(loaded?.values).toEqual({ nick: "user0", password: CANARY });
    expect(await store.registrations.listUsers(GW)).toEqual([...USERS].sort());

    await store.registrations.remove(GW, gone);

    const keys = [...(await keysByMaster()).keys()];
    expect(keys.filter((k) => k.includes(store.keys.userHashTag(gone)))).toEqual([]);
    expect(await store.registrations.identityOwner(GW, `account:${gone}`)).toBeNull();
    expect(await store.registrations.load(GW, gone)).toBeNull();
    expect(await store.registrations.listUsers(GW)).not.toContain(gone);
    expect(await store.online.usersWithResources(GW)).not.toContain(gone);
    // Everyone else is untouched.
    expect((await store.registrations.load(GW, kept))?.values.password).toBe(CANARY);
    expect(await store.registrations.identityOwner(GW, `account:${kept}`)).toBe(kept);
    expect(keys.some((k) => k.includes(store.keys.userHashTag(kept)))).toBe(true);
  });

  it("keeps secrets out of every value on every master", async () => {
    for (const node of masters()) {
      let cursor = "0";
      do {
        const [next, keys] = await node.scan(cursor, "COUNT", 1000);
        for (const key of keys) {
          const dump = await node.dumpBuffer(key);
          expect(dump?.toString("latin1") ?? "").not.toContain(CANARY);
        }
        cursor = next;
      } while (cursor !== "0");
    }
  });

  it("maps ids both ways", async () => {
    const user = USERS[2]!;
    expect(await store.idMap.stanzaIdFor(GW, user, "#chan", "legacy-1")).toBe("stanza-1");
    expect(await store.idMap.legacyIdFor(GW, user, "#chan", "stanza-1")).toBe("legacy-1");
    expect(await store.idMap.stanzaIdFor(GW, USERS[3]!, "#other", "legacy-1")).toBeNull();
  });

  it("appends to and queries user and shared archives", async () => {
    const user = USERS[2]!;
    const mine = await store.userArchive(GW, user, "#chan").recent({ limit: 10 });
    expect(mine.map((e) => e.body)).toEqual(["hi"]);
    const shared = store.sharedArchive(GW, "#public");
    for (let i = 0; i < 5; i += 1) {
      await shared.append({
        stanzaId: `p${i}`,
        from: "dave",
        body: `m${i}`,
        timestamp: Date.now(),
        kind: "message",
      });
    }
    const first = await shared.query({ max: 3 });
    expect(first.items.map((e) => e.body)).toEqual(["m0", "m1", "m2"]);
    const rest = await shared.query({ max: 3, after: first.items[2]!.archiveId });
    expect(rest.items.map((e) => e.body)).toEqual(["m3", "m4"]);
    expect(rest.complete).toBe(true);
    expect(await shared.contains(first.items[0]!.archiveId)).toBe(true);
  });

  it("stores user, core and gateway state", async () => {
    const user = USERS[3]!;
    expect(await store.userState(GW, user).getSecret("token")).toBe("t");
    expect(await store.coreState(GW, user).getJson("rooms", z.array(z.string()))).toEqual(["#a"]);
    await store.gatewayState(GW).setJson("offset", { updateId: 7 });
    expect(await store.gatewayState(GW).getJson("offset", z.object({ updateId: z.number() }))).toEqual({
      updateId: 7,
    });
  });

  it("tracks online resources across the user and gateway slots", async () => {
    const user = USERS[4]!;
    await store.online.add(GW, user, "laptop");
    expect(await store.online.list(GW, user)).toEqual(["laptop", "phone"]);
    await store.online.clear(GW, user);
    expect(await store.online.list(GW, user)).toEqual([]);
    const online = await store.online.usersWithResources(GW);
    expect(online).not.toContain(user);
    expect(online).toContain(USERS[5]!);
  });

  it("deduplicates per user and per gateway", async () => {
    expect(await store.dedupe.seenBefore({ gateway: GW, bareJid: USERS[5]! }, "event-1", 3600)).toBe(true);
    expect(await store.dedupe.seenBefore({ gateway: GW }, "update-1", 3600)).toBe(false);
    expect(await store.dedupe.seenBefore({ gateway: GW }, "update-1", 3600)).toBe(true);
  });

  it("rate-limits and locks", async () => {
    const hits = await Promise.all(Array.from({ length: 6 }, () => store.rateLimit.hit("register:x", 4, 60)));
    expect(hits.filter((h) => h.allowed)).toHaveLength(4);
    expect(await store.lock.acquire("telegram:bot", "a", 30_000)).toBe(true);
    expect(await store.lock.acquire("telegram:bot", "b", 30_000)).toBe(false);
    expect(await store.lock.renew("telegram:bot", "a", 30_000)).toBe(true);
    expect(await store.lock.release("telegram:bot", "a")).toBe(true);
    expect(await store.lock.holder("telegram:bot")).toBeNull();
  });

  it("queues stanzas in the gateway outbox", async () => {
    const outbox = store.xmppOutbox(GW, 10);
    const ids = [await outbox.append("<message id='1'/>"), await outbox.append("<message id='2'/>")];
    expect((await outbox.peek(5)).map((e) => e.stanza)).toEqual(["<message id='1'/>", "<message id='2'/>"]);
    await outbox.ack(ids);
    expect(await outbox.size()).toBe(0);
  });
});

describe("the core end to end on a Redis Cluster", () => {
  const DOMAIN = "test.localhost";
  let prosody: ProsodyServer;
  let postern: RunningPostern;
  let alice: XmppTestClient;
  const network = new TestNetwork();

  beforeAll(async () => {
    const secret = randomBytes(12).toString("hex");
    prosody = await startProsody({
      components: [{ domain: DOMAIN, secret }],
      users: [{ username: "alice", password: "pw" }],
    });
    // What gateway-harness.ts builds, with `cluster` in place of `url`.
    const { config, factory } = testNetworkConfig(network, {
      domain: DOMAIN,
      xmpp: { port: prosody.componentPort, secret },
      redis: { cluster: { nodes: cluster.nodes }, keyPrefix: "e2e:" },
      sourceName: "cluster.yaml",
    });
    const log = pino({ level: process.env.POSTERN_TEST_LOG ?? "silent" });
    postern = await startPostern(config, { test: factory }, { log, waitOnlineMs: 15_000 });
    alice = await connectXmpp({
      port: prosody.c2sPort,
      domain: "localhost",
      username: "alice",
      password: "pw",
      resource: "test",
    });
    await alice.sendPresence();
  }, 60_000);

  afterAll(async () => {
    await alice?.stop().catch(() => undefined);
    await postern?.stop();
    await prosody?.stop();
  });

  it("registers, joins a room and relays a message both ways", async () => {
    await registerWithForm(alice, DOMAIN, { nick: "alice", password: "pw" });
    network.roomMembers.set("#lobby", [
      { nick: "carol", contactId: "carol", role: "participant", affiliation: "none" },
    ]);
    network.topics.set("#lobby", "Cluster room");
    const room = `#lobby@${DOMAIN}`;
    const mark = alice.mark();
    await alice.sendPresence({ to: `${room}/alice` }, [
      xml("x", { xmlns: "http://jabber.org/protocol/muc" }),
    ]);
    const subject = await alice.waitFor((s) => s.getChild("subject") !== undefined, "the room subject", {
      since: mark,
    });
    expect(subject.getChildText("subject")).toBe("Cluster room");

    await alice.send(
      xml("message", { to: room, type: "groupchat", id: "c1" }, xml("body", {}, "hello cluster")),
    );
    const [sent] = await network.waitForSent(1, "alice's room message to reach the network");
    expect(sent?.message.text.text).toBe("hello cluster");

    const before = alice.mark();
    await network.say("alice@localhost", { kind: "room", id: "#lobby" }, "carol", "hi from the network");
    const relayed = await alice.waitFor(
      (s) => s.name === "message" && s.getChildText("body") === "hi from the network",
      "carol's room message",
      { since: before },
    );
    expect(relayed.attrs.from).toBe(`${room}/carol`);

    // The user's keys really are on the cluster, all in one slot.
    const tag = postern.store.keys.userHashTag("alice@localhost");
    const keys = [...(await keysByMaster()).keys()].filter((k) => k.startsWith("e2e:") && k.includes(tag));
    expect(keys.length).toBeGreaterThan(0);
    const slots = new Set(await Promise.all(keys.map((k) => masters()[0]!.call("CLUSTER", "KEYSLOT", k))));
    expect(slots.size).toBe(1);
  });
});
