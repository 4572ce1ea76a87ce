/**
 * S9 (RELIABILITY.md): secrets never show. A scripted session runs at log level trace with canary
 * values for the component secret, the Redis password and a user's registration password; then
 * no canary appears in the logs or in any stanza the user received, and in Redis the registration
 * password exists only as ciphertext (the other two not at all).
 */
import { Writable } from "node:stream";
import { Redis } from "ioredis";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GATEWAY, type Harness, startHarness } from "../support/gateway-harness.ts";
import { type XmppTestClient, xml } from "../support/xmpp-client.ts";

const CANARIES = {
  component: "canary-component-7f3e91",
  redis: "canary-redis-2b8c44",
  registration: "canary-registration-5d1a07",
};

let h: Harness;
let alice: XmppTestClient;
let logs = "";

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs += chunk.toString();
      done();
    },
  });
  h = await startHarness({
    log: pino({ level: "trace" }, sink),
    componentSecret: CANARIES.component,
    redisPassword: CANARIES.redis,
  });
  alice = await h.login("alice");
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

function form(values: Record<string, string>) {
  return xml(
    "x",
    { xmlns: "jabber:x:data", type: "submit" },
    ...Object.entries(values).map(([k, v]) => xml("field", { var: k }, xml("value", {}, v))),
  );
}

/** Every value in Redis, whatever its type, as one string. */
async function redisDump(): Promise<string> {
  const redis = new Redis(h.redis.url, { password: CANARIES.redis });
  const parts: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "COUNT", 500);
    cursor = next;
    for (const key of keys) {
      parts.push(key);
      const type = await redis.type(key);
      if (type === "string") parts.push((await redis.get(key)) ?? "");
      else if (type === "hash") parts.push(JSON.stringify(await redis.hgetall(key)));
      else if (type === "set") parts.push(JSON.stringify(await redis.smembers(key)));
      else if (type === "zset") parts.push(JSON.stringify(await redis.zrange(key, "0", "-1")));
      else if (type === "list") parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
      else if (type === "stream") parts.push(JSON.stringify(await redis.xrange(key, "-", "+")));
    }
  } while (cursor !== "0");
  await redis.quit();
  return parts.join("\n");
}

describe("secrets", () => {
  it("never appear in logs, stanzas or Redis (but as ciphertext)", async () => {
    // A refused registration first: the error text must not echo what was typed.
    await alice
      .iq(
        xml(
          "iq",
          { type: "set", to: GATEWAY },
          xml("query", { xmlns: "jabber:iq:register" }, form({ nick: "alice", password: "wrong" })),
        ),
      )
      .catch(() => undefined);
    await alice.iq(
      xml(
        "iq",
        { type: "set", to: GATEWAY },
        xml(
          "query",
          { xmlns: "jabber:iq:register" },
          form({ nick: "alice", password: CANARIES.registration }),
        ),
      ),
    );
    await alice.iq(xml("iq", { type: "get", to: GATEWAY }, xml("query", { xmlns: "jabber:iq:register" })));
    await alice.sendPresence({ to: GATEWAY });
    await h.network.waitForSession("alice@localhost");
    expect(h.network.session("alice@localhost").registration.password).toBe(CANARIES.registration);
    const mark = alice.mark();
    await alice.sendPresence({ to: `#vault@${GATEWAY}/alice` }, [
      xml("x", { xmlns: "http://jabber.org/protocol/muc" }),
    ]);
    await alice.waitFor((s) => s.getChild("subject") !== undefined, "the join", { since: mark });
    await alice.send(
      xml("message", { to: `#vault@${GATEWAY}`, type: "groupchat", id: "s1" }, xml("body", {}, "hello")),
    );
    await h.network.say("alice@localhost", { kind: "direct", id: "carol" }, "carol", "hi alice");
    await alice.waitFor((s) => s.getChildText("body") === "hi alice", "carol's message");
    await alice.iq(
      xml(
        "iq",
        { type: "set", to: GATEWAY },
        xml("command", { xmlns: "http://jabber.org/protocol/commands", node: "status", action: "execute" }),
      ),
    );

    expect(logs.length).toBeGreaterThan(1000);
    const received = alice.stanzas.map((s) => s.toString()).join("\n");
    const dump = await redisDump();
    for (const canary of Object.values(CANARIES)) {
      expect(logs).not.toContain(canary);
      expect(received).not.toContain(canary);
      expect(dump).not.toContain(canary);
    }
    // The registration password is there, sealed: a ciphertext field next to the plain nick.
    expect(dump).toMatch(/"s:password":"v1:[A-Za-z0-9+/=]+"/);
  });
});
