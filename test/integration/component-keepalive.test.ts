/**
 * R8 on the component link, at PR scale: a link that goes silent (a half-open TCP connection,
 * made with the fault proxy's blackhole) is detected by the keepalive, dropped and replaced;
 * a link whose server answers its pings is left alone; and what was written into the dead link
 * reaches the user once the new one is up, in order and once.
 */
import { randomBytes } from "node:crypto";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningPostern, startPostern } from "../../src/core/app.ts";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.ts";
import { type ProsodyServer, startProsody } from "../support/prosody.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";
import { registerWithForm } from "../support/registration-form.ts";
import { TestNetwork } from "../support/test-network.ts";
import { testNetworkConfig } from "../support/test-network-config.ts";
import { waitUntil } from "../support/wait.ts";
import { connectXmpp, type XmppTestClient } from "../support/xmpp-client.ts";

const GW = "test.localhost";
let redis: RedisServer;
let prosody: ProsodyServer;
let proxy: FaultProxy;
let postern: RunningPostern;
let network: TestNetwork;
let alice: XmppTestClient;
/** Everything that went through the proxy, per direction (the tap sees it before any fault). */
const wire = { toTarget: "", toClient: "" };

beforeAll(async () => {
  const secret = randomBytes(8).toString("hex");
  [redis, prosody] = await Promise.all([
    startRedis(),
    startProsody({ components: [{ domain: GW, secret }], users: [{ username: "alice", password: "pw" }] }),
  ]);
  proxy = await startFaultProxy({
    target: { host: "127.0.0.1", port: prosody.componentPort },
    tap: (event) => {
      if (event.kind === "data") wire[event.direction] += event.chunk.toString("latin1");
    },
  });
  network = new TestNetwork();
  const { config, factory } = testNetworkConfig(network, {
    domain: GW,
    xmpp: { port: proxy.port, secret, keepaliveMs: 300, deadAfterMs: 1500 },
    redis: { url: redis.url },
    sourceName: "keepalive.yaml",
  });
  postern = await startPostern(
    config,
    { test: factory },
    { log: pino({ level: "silent" }), waitOnlineMs: 15_000 },
  );
  alice = await connectXmpp({
    port: prosody.c2sPort,
    domain: "localhost",
    username: "alice",
    password: "pw",
  });
  await alice.sendPresence();
  await registerWithForm(alice, GW, { nick: "alice", password: "pw" });
  await alice.sendPresence({ to: GW });
  await network.waitForSession("alice@localhost");
}, 60_000);

afterAll(async () => {
  await alice?.stop();
  await postern?.stop();
  await proxy?.close();
  await Promise.all([prosody?.stop(), redis?.stop()]);
});

/**
 * Whether Postern pinged the server after writing `text` and the server answered: from then on
 * Postern knows the server has `text`, so a later fault cannot make it send `text` again.
 */
function confirmedByServer(text: string): boolean {
  const at = wire.toTarget.lastIndexOf(text);
  if (at === -1) return false;
  const pings = wire.toTarget
    .slice(at)
    .matchAll(/<iq\b[^>]*\bid=["']([^"']+)["'][^>]*>\s*<ping xmlns=["']urn:xmpp:ping["']/g);
  return [...pings].some(([, id]) => new RegExp(`<iq\\b[^>]*\\bid=["']${id}["']`).test(wire.toClient));
}

describe("component keepalive", () => {
  it("stays up while the server answers its pings", async () => {
    const opened = proxy.stats.connections;
    await new Promise((r) => setTimeout(r, 2_500));
    expect(postern.gateways[0]!.online).toBe(true);
    expect(proxy.stats.connections).toBe(opened);
  });

  it("notices a silent link, drops it and connects again", async () => {
    const gateway = postern.gateways[0]!;
    const opened = proxy.stats.connections;
    proxy.blackhole();
    await waitUntil(() => !gateway.online, "the dead link to be noticed");
    proxy.pass();
    await waitUntil(() => gateway.online && proxy.stats.connections > opened, "a new link");
  });

  it("delivers what the network said into the dead link once the new link is up, in order and once", async () => {
    const gateway = postern.gateways[0]!;
    await waitUntil(() => gateway.online, "the link");
    const carol = { kind: "direct", id: "carol" } as const;
    const isChat = (s: { name: string; getChildText(name: string): string | null }) =>
      s.name === "message" && s.getChildText("body") !== null;
    // A message through the healthy link first: the link carries traffic, and it is confirmed.
    await network.say("alice@localhost", carol, "carol", "before the fault", "n-before");
    await alice.waitFor((s) => s.getChildText("body") === "before the fault", "the message before the fault");
    // Otherwise it could be the one stanza the server read but never confirmed, sent again.
    await waitUntil(
      () => confirmedByServer("before the fault"),
      "the server to confirm the message before the fault",
    );
    const since = alice.mark();
    const opened = proxy.stats.connections;
    proxy.blackhole();
    const during = Array.from({ length: 5 }, (_, i) => `while the link was dead ${i}`);
    for (const [i, text] of during.entries()) {
      await network.say("alice@localhost", carol, "carol", text, `n-dead-${i}`);
    }
    await waitUntil(() => !gateway.online, "the dead link to be noticed");
    proxy.pass();
    await waitUntil(() => gateway.online && proxy.stats.connections > opened, "a new link");
    // A last message after the fault: once it is in, everything before it has arrived too.
    await network.say("alice@localhost", carol, "carol", "after the fault", "n-after");
    await alice.waitFor((s) => s.getChildText("body") === "after the fault", "the message after the fault", {
      since,
    });
    const received = alice.stanzas
      .slice(since)
      .filter(isChat)
      .map((s) => ({ id: s.attrs.id, body: s.getChildText("body") }));
    expect(received.map((m) => m.body)).toEqual([...during, "after the fault"]);
    const ids = received.map((m) => m.id);
    expect(ids.every((id) => typeof id === "string" && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
