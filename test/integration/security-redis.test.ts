/**
 * S10 (RELIABILITY.md): Postern works as a Redis ACL user confined to its key prefix and without
 * dangerous commands (the rule scripts/demo.sh and docs/operators.md give operators), through a
 * registration and messages both ways; that user reaches no key outside the prefix and no
 * administrative command. The test plays the XMPP server on the component socket.
 */
import { randomBytes } from "node:crypto";
import { xml } from "@xmpp/component-core";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeServerRig, startFakeServerRig } from "../support/fake-server-rig.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";
import { TestNetwork } from "../support/test-network.ts";

const GW = "test.localhost";
const USER = "alice@localhost";
const ACL_PASSWORD = randomBytes(12).toString("hex");

let redis: RedisServer;
let admin: Redis;
let confined: Redis;
let rig: FakeServerRig;
const network = new TestNetwork();

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
  // As scripts/demo.sh writes it into redis.conf.
  await admin.call(
    "ACL",
    "SETUSER",
    "postern",
    "on",
    `>${ACL_PASSWORD}`,
    "~postern:*",
    "resetchannels",
    "+@all",
    "-@dangerous",
    "+info",
  );
  await admin.set("other-app:secret", "not yours");
  const url = redis.url.replace("redis://", `redis://postern:${ACL_PASSWORD}@`);
  confined = new Redis(url, { maxRetriesPerRequest: 0 });
  // Production mode, as an operator runs it: it refuses a Redis reached without a password.
  rig = await startFakeServerRig({
    domain: GW,
    network,
    redis,
    redisConfig: { url, keyPrefix: "postern:" },
    mode: "production",
    sourceName: "acl.yaml",
  });
}, 60_000);

afterAll(async () => {
  confined?.disconnect();
  admin?.disconnect();
  await rig?.stop();
  await redis?.stop();
});

async function redisError(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (err) {
    return String(err);
  }
  return "no error";
}

describe("Postern as a confined Redis ACL user", () => {
  it("registers, opens a session, and carries messages both ways", async () => {
    expect(await rig.register(`${USER}/r`, { nick: "alice", password: "pw" })).toBe("result");
    rig.send(xml("presence", { from: `${USER}/r`, to: GW }));
    await network.waitForSession(USER);
    rig.send(
      xml(
        "presence",
        { from: `${USER}/r`, to: `#room@${GW}/alice` },
        xml("x", { xmlns: "http://jabber.org/protocol/muc" }),
      ),
    );
    await rig.peer.waitFor(
      (e) => e.name === "presence" && e.attrs.from === `#room@${GW}/alice`,
      "the room join",
    );
    rig.send(
      xml("message", { type: "chat", from: `${USER}/r`, to: `carol@${GW}` }, xml("body", {}, "hi carol")),
    );
    await network.waitForSent(1, "alice's message");
    await network.say(USER, { kind: "direct", id: "carol" }, "carol", "hi alice", "m-1");
    const got = await rig.peer.waitFor(
      (e) => e.name === "message" && e.getChildText("body") === "hi alice",
      "carol's reply",
    );
    expect(got.attrs.to).toBe(USER);
    // No error stanza anywhere: nothing Postern needed was refused.
    expect(rig.peer.elements.filter((e) => e.attrs.type === "error").map((e) => e.toString())).toEqual([]);
    // Everything it wrote is under its prefix.
    const keys = await admin.keys("*");
    expect(keys.filter((k) => !k.startsWith("postern:") && k !== "other-app:secret")).toEqual([]);
    expect(keys.some((k) => k.startsWith("postern:"))).toBe(true);
  });

  it("that user cannot reach a key outside the prefix", async () => {
    expect(await redisError(() => confined.get("other-app:secret"))).toMatch(/NOPERM/);
    expect(await redisError(() => confined.set("other-app:x", "1"))).toMatch(/NOPERM/);
  });

  it.each([
    ["CONFIG", ["GET", "*"]],
    ["FLUSHALL", []],
    ["KEYS", ["*"]],
    ["DEBUG", ["SLEEP", "0"]],
    ["MODULE", ["LIST"]],
  ])("%s is refused with NOPERM", async (command, args) => {
    expect(await redisError(() => confined.call(command, ...args))).toMatch(/NOPERM|not allowed/);
    // The ACL itself refuses it, whatever the server's other settings (DEBUG is also off by config).
    expect(String(await admin.call("ACL", "DRYRUN", "postern", command, ...args))).toMatch(/no permissions/);
  });
});
