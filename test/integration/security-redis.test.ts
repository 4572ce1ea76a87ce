/**
 * S10 (RELIABILITY.md): Postern works as a Redis ACL user confined to its key prefix and without
 * dangerous commands (the rule scripts/demo.sh and docs/operators.md give operators), through a
 * registration and messages both ways; that user reaches no key outside the prefix and no
 * administrative command. The test plays the XMPP server on the component socket.
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
const USER = "alice@localhost";
const ACL_PASSWORD = randomBytes(12).toString("hex");

let redis: RedisServer;
let admin: Redis;
let confined: Redis;
let server: FakeXmppServer;
let postern: RunningPostern;
let peer: ComponentPeer;
const network = new TestNetwork();
let counter = 0;

beforeAll(async () => {
  const secret = randomBytes(8).toString("hex");
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
  server = await startFakeXmppServer({ domain: GW, secret });
  const factory = testAdapterFactory(network) as AdapterFactory<unknown>;
  const config = parseConfigText(
    `
redis: { url: "${url}", keyPrefix: "postern:" }
secrets: { encryptionKey: "${randomBytes(32).toString("hex")}" }
gateways:
  - domain: ${GW}
    adapter: test
    xmpp: { host: 127.0.0.1, port: ${server.port}, secret: "${secret}" }
    users: { allowedDomains: [localhost] }
    settings: {}
`,
    "acl.yaml",
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
  confined?.disconnect();
  admin?.disconnect();
  await postern?.stop();
  await server?.close();
  await redis?.stop();
});

function send(el: Element): string {
  counter += 1;
  el.attrs.id = `s${counter}`;
  peer.sendRaw(el.toString());
  return el.attrs.id;
}

function reply(id: string): Promise<Element> {
  return peer.waitFor((e) => e.attrs.id === id && e.attrs.type !== undefined, `a reply to ${id}`);
}

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
    const answer = await reply(
      send(
        xml(
          "iq",
          { type: "set", from: `${USER}/r`, to: GW },
          xml(
            "query",
            { xmlns: "jabber:iq:register" },
            xml(
              "x",
              { xmlns: "jabber:x:data", type: "submit" },
              xml("field", { var: "nick" }, xml("value", {}, "alice")),
              xml("field", { var: "password" }, xml("value", {}, "pw")),
            ),
          ),
        ),
      ),
    );
    expect(answer.attrs.type).toBe("result");
    send(xml("presence", { from: `${USER}/r`, to: GW }));
    await network.waitForSession(USER);
    send(
      xml(
        "presence",
        { from: `${USER}/r`, to: `#room@${GW}/alice` },
        xml("x", { xmlns: "http://jabber.org/protocol/muc" }),
      ),
    );
    await peer.waitFor((e) => e.name === "presence" && e.attrs.from === `#room@${GW}/alice`, "the room join");
    send(xml("message", { type: "chat", from: `${USER}/r`, to: `carol@${GW}` }, xml("body", {}, "hi carol")));
    await network.waitForSent(1, "alice's message");
    await network.say(USER, { kind: "direct", id: "carol" }, "carol", "hi alice", "m-1");
    const got = await peer.waitFor(
      (e) => e.name === "message" && e.getChildText("body") === "hi alice",
      "carol's reply",
    );
    expect(got.attrs.to).toBe(USER);
    // No error stanza anywhere: nothing Postern needed was refused.
    expect(peer.elements.filter((e) => e.attrs.type === "error").map((e) => e.toString())).toEqual([]);
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
