/**
 * S6 (RELIABILITY.md): registration guards. The test plays the XMPP server on the component
 * socket so it can register from any domain, and reads Redis directly to prove unregistration
 * leaves nothing of the user behind.
 */
import { randomBytes } from "node:crypto";
import { type Element, xml } from "@xmpp/component-core";
import { Redis } from "ioredis";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdapterFactory } from "../../src/adapter/adapter.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { type RunningPostern, startPostern } from "../../src/core/app.ts";
import { type ComponentPeer, type FakeXmppServer, startFakeXmppServer } from "../support/fake-xmpp-server.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";
import { TestNetwork, testAdapterFactory } from "../support/test-network.ts";

const GW = "test.localhost";
const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
const NS_REGISTER = "jabber:iq:register";
const NS_MUC = "http://jabber.org/protocol/muc";
/** Registrations allowed per hour from one user domain. */
const LIMIT = 5;

let redis: RedisServer;
let server: FakeXmppServer;
let postern: RunningPostern;
let peer: ComponentPeer;
let raw: Redis;
const network = new TestNetwork();
let counter = 0;

beforeAll(async () => {
  const secret = randomBytes(8).toString("hex");
  redis = await startRedis();
  raw = new Redis(redis.url);
  server = await startFakeXmppServer({ domain: GW, secret });
  const factory = testAdapterFactory(network) as AdapterFactory<unknown>;
  const config = parseConfigText(
    `
redis: { url: "${redis.url}", keyPrefix: "postern:" }
secrets: { encryptionKey: "${randomBytes(32).toString("hex")}" }
gateways:
  - domain: ${GW}
    adapter: test
    xmpp: { host: 127.0.0.1, port: ${server.port}, secret: "${secret}" }
    users: { allowedDomains: [localhost, burst.test] }
    limits: { registrationsPerHourPerDomain: ${LIMIT} }
    settings: {}
`,
    "registration.yaml",
    { adapterSchemas: { test: factory.configSchema } },
  );
  const started = startPostern(
    config,
    { test: factory },
    { log: pino({ level: process.env.POSTERN_TEST_LOG ?? "silent" }) },
  );
  peer = await server.nextComponent();
  postern = await started;
}, 60_000);

afterAll(async () => {
  raw?.disconnect();
  await postern?.stop();
  await server?.close();
  await redis?.stop();
});

function send(el: Element): string {
  counter += 1;
  const id = `r${counter}`;
  el.attrs.id = id;
  peer.sendRaw(el.toString());
  return id;
}

/** "result", or "condition/type" of the error answer. */
async function outcome(id: string): Promise<string> {
  const el = await peer.waitFor((e) => e.attrs.id === id && e.attrs.type !== undefined, `a reply to ${id}`);
  if (el.attrs.type !== "error") return el.attrs.type ?? "none";
  const error = el.getChild("error");
  const condition = error?.getChildElements().find((c) => c.getNS() === STANZAS)?.name ?? "none";
  return `${condition}/${error?.attrs.type}`;
}

function register(from: string, values: Record<string, string>): Promise<string> {
  const x = xml(
    "x",
    { xmlns: "jabber:x:data", type: "submit" },
    ...Object.entries(values).map(([k, v]) => xml("field", { var: k }, xml("value", {}, v))),
  );
  return outcome(send(xml("iq", { type: "set", from, to: GW }, xml("query", { xmlns: NS_REGISTER }, x))));
}

function unregister(from: string): Promise<string> {
  return outcome(
    send(xml("iq", { type: "set", from, to: GW }, xml("query", { xmlns: NS_REGISTER }, xml("remove")))),
  );
}

/** Every key in Redis with a text rendering of its value, whatever its type. */
async function dump(): Promise<{ key: string; value: string }[]> {
  const out: { key: string; value: string }[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await raw.scan(cursor, "COUNT", "500");
    cursor = next;
    for (const key of keys) {
      const type = await raw.type(key);
      let value: string;
      if (type === "string") value = (await raw.get(key)) ?? "";
      else if (type === "hash") value = JSON.stringify(await raw.hgetall(key));
      else if (type === "set") value = (await raw.smembers(key)).join("\n");
      else if (type === "list") value = (await raw.lrange(key, 0, -1)).join("\n");
      else if (type === "zset") value = (await raw.zrange(key, "0", "-1")).join("\n");
      else if (type === "stream") value = JSON.stringify(await raw.xrange(key, "-", "+"));
      else value = `<${type}>`;
      out.push({ key, value });
    }
  } while (cursor !== "0");
  return out;
}

describe("who may register", () => {
  it("a remote-domain JID gets not-allowed", async () => {
    expect(await register("eve@evil.example/r", { nick: "eve", password: "pw" })).toBe("not-allowed/cancel");
  });

  it("a domain that only starts with an allowed one gets not-allowed", async () => {
    expect(await register("alice@localhost.evil.net/r", { nick: "eve2", password: "pw" })).toBe(
      "not-allowed/cancel",
    );
    expect(await register("alice@evil.localhost/r", { nick: "eve3", password: "pw" })).toBe(
      "not-allowed/cancel",
    );
  });

  it("binding an identity already bound to another JID is a conflict, and the owner keeps it", async () => {
    expect(await register("owner@localhost/r", { nick: "taken", password: "pw" })).toBe("result");
    expect(await register("thief@localhost/r", { nick: "taken", password: "pw" })).toBe("conflict/cancel");
    // The thief has no registration; the owner still has theirs.
    expect(await register("owner@localhost/r", { nick: "taken", password: "pw2" })).toBe("result");
    const keys = (await dump()).map((e) => e.key);
    expect(keys.filter((k) => k.includes("thief@localhost"))).toEqual([]);
  });
});

describe("unregistration", () => {
  it("leaves 0 keys and 0 values naming the JID", async () => {
    const jid = "gone@localhost";
    expect(await register(`${jid}/r`, { nick: "gone", password: "pw" })).toBe("result");
    send(xml("presence", { from: `${jid}/r`, to: GW }));
    await network.waitForSession(jid);
    // Leave traces everywhere a user can: a room, messages both ways (id maps, archive).
    send(xml("presence", { from: `${jid}/r`, to: `#room@${GW}/gone` }, xml("x", { xmlns: NS_MUC })));
    await peer.waitFor((e) => e.name === "presence" && e.attrs.to === `${jid}/r`, "the room join");
    const before = network.sent.length;
    send(xml("message", { type: "chat", from: `${jid}/r`, to: `carol@${GW}` }, xml("body", {}, "hi")));
    await network.waitForSent(before + 1, "the message to carol");
    await network.say(jid, { kind: "direct", id: "carol" }, "carol", "hello", "m-1");
    await peer.waitFor((e) => e.name === "message" && e.getChildText("body") === "hello", "carol's reply");
    const tagged = (entries: { key: string; value: string }[]) =>
      entries.filter((e) => e.key.includes(jid) || e.value.includes(jid));
    expect(tagged(await dump()).length).toBeGreaterThan(0);

    expect(await unregister(`${jid}/r`)).toBe("result");
    const left = tagged(await dump());
    expect(left).toEqual([]);
    // And the identity is free again for someone else.
    expect(await register("heir@localhost/r", { nick: "gone", password: "pw" })).toBe("result");
  });
});

describe("registration rate limit per domain", () => {
  it(`answers resource-constraint/wait beyond ${LIMIT} new registrations per hour from one domain`, async () => {
    const answers: string[] = [];
    for (let i = 0; i < LIMIT + 2; i += 1) {
      answers.push(await register(`user${i}@burst.test/r`, { nick: `burst${i}`, password: "pw" }));
    }
    expect(answers).toEqual([
      ...Array.from({ length: LIMIT }, () => "result"),
      "resource-constraint/wait",
      "resource-constraint/wait",
    ]);
    // Re-registering (changing values) of an existing user is not a new registration.
    expect(await register("user0@burst.test/r", { nick: "burst0", password: "new" })).toBe("result");
  });
});
