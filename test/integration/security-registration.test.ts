/**
 * S6 (RELIABILITY.md): registration guards. The test plays the XMPP server on the component
 * socket so it can register from any domain, and reads Redis directly to prove unregistration
 * leaves nothing of the user behind.
 */
import { xml } from "@xmpp/component-core";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeServerRig, startFakeServerRig } from "../support/fake-server-rig.ts";
import { TestNetwork } from "../support/test-network.ts";

const GW = "test.localhost";
const NS_REGISTER = "jabber:iq:register";
const NS_MUC = "http://jabber.org/protocol/muc";
/** Registrations allowed per hour from one user domain. */
const LIMIT = 5;

let rig: FakeServerRig;
let raw: Redis;
const network = new TestNetwork();

beforeAll(async () => {
  rig = await startFakeServerRig({
    domain: GW,
    network,
    redisConfig: { keyPrefix: "postern:" },
    // burst.test for the per-domain limit, moves.test so that nick moves do not spend localhost's.
    users: { allowedDomains: ["localhost", "burst.test", "moves.test"] },
    limits: { registrationsPerHourPerDomain: LIMIT },
    sourceName: "registration.yaml",
  });
  raw = new Redis(rig.redis.url);
}, 60_000);

afterAll(async () => {
  raw?.disconnect();
  await rig?.stop();
});

function unregister(from: string): Promise<string> {
  return rig.outcome(
    rig.send(xml("iq", { type: "set", from, to: GW }, xml("query", { xmlns: NS_REGISTER }, xml("remove")))),
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
    expect(await rig.register("eve@evil.example/r", { nick: "eve", password: "pw" })).toBe(
      "not-allowed/cancel",
    );
  });

  it("a domain that only starts with an allowed one gets not-allowed", async () => {
    expect(await rig.register("alice@localhost.evil.net/r", { nick: "eve2", password: "pw" })).toBe(
      "not-allowed/cancel",
    );
    expect(await rig.register("alice@evil.localhost/r", { nick: "eve3", password: "pw" })).toBe(
      "not-allowed/cancel",
    );
  });

  it("binding an identity already bound to another JID is a conflict, and the owner keeps it", async () => {
    expect(await rig.register("owner@localhost/r", { nick: "taken", password: "pw" })).toBe("result");
    expect(await rig.register("thief@localhost/r", { nick: "taken", password: "pw" })).toBe(
      "conflict/cancel",
    );
    // The thief has no registration; the owner still has theirs.
    expect(await rig.register("owner@localhost/r", { nick: "taken", password: "pw2" })).toBe("result");
    const keys = (await dump()).map((e) => e.key);
    expect(keys.filter((k) => k.includes("thief@localhost"))).toEqual([]);
  });

  it("an identity its owner moved away from is free for someone else (R4 found it held until unregistering)", async () => {
    expect(await rig.register("mover@moves.test/r", { nick: "oldnick", password: "pw" })).toBe("result");
    expect(await rig.register("mover@moves.test/r", { nick: "newnick", password: "pw" })).toBe("result");
    expect(await rig.register("other@moves.test/r", { nick: "oldnick", password: "pw" })).toBe("result");
    // …and the new one stays the mover's.
    expect(await rig.register("other@moves.test/r", { nick: "newnick", password: "pw" })).toBe(
      "conflict/cancel",
    );
  });
});

describe("unregistration", () => {
  it("leaves 0 keys and 0 values naming the JID", async () => {
    const jid = "gone@localhost";
    expect(await rig.register(`${jid}/r`, { nick: "gone", password: "pw" })).toBe("result");
    rig.send(xml("presence", { from: `${jid}/r`, to: GW }));
    await network.waitForSession(jid);
    // Leave traces everywhere a user can: a room, messages both ways (id maps, archive).
    rig.send(xml("presence", { from: `${jid}/r`, to: `#room@${GW}/gone` }, xml("x", { xmlns: NS_MUC })));
    await rig.peer.waitFor((e) => e.name === "presence" && e.attrs.to === `${jid}/r`, "the room join");
    const before = network.sent.length;
    rig.send(xml("message", { type: "chat", from: `${jid}/r`, to: `carol@${GW}` }, xml("body", {}, "hi")));
    await network.waitForSent(before + 1, "the message to carol");
    await network.say(jid, { kind: "direct", id: "carol" }, "carol", "hello", "m-1");
    await rig.peer.waitFor(
      (e) => e.name === "message" && e.getChildText("body") === "hello",
      "carol's reply",
    );
    const tagged = (entries: { key: string; value: string }[]) =>
      entries.filter((e) => e.key.includes(jid) || e.value.includes(jid));
    expect(tagged(await dump()).length).toBeGreaterThan(0);

    expect(await unregister(`${jid}/r`)).toBe("result");
    const left = tagged(await dump());
    expect(left).toEqual([]);
    // And the identity is free again for someone else.
    expect(await rig.register("heir@localhost/r", { nick: "gone", password: "pw" })).toBe("result");
  });
});

describe("registration rate limit per domain", () => {
  it(`answers resource-constraint/wait beyond ${LIMIT} new registrations per hour from one domain`, async () => {
    const answers: string[] = [];
    for (let i = 0; i < LIMIT + 2; i += 1) {
      answers.push(await rig.register(`user${i}@burst.test/r`, { nick: `burst${i}`, password: "pw" }));
    }
    expect(answers).toEqual([
      ...Array.from({ length: LIMIT }, () => "result"),
      "resource-constraint/wait",
      "resource-constraint/wait",
    ]);
    // Re-registering (changing values) of an existing user is not a new registration.
    expect(await rig.register("user0@burst.test/r", { nick: "burst0", password: "new" })).toBe("result");
  });
});
