/**
 * S2 (RELIABILITY.md): outbound addressing. The test plays the XMPP server on the component
 * socket, so every stanza the gateway emits is seen. Each must come `from` a JID of the gateway's
 * domain and go `to` a valid JID (a server with validate_from_addresses would otherwise close the
 * stream). First a scripted session, then 10⁴ generated network events.
 */
import { randomBytes } from "node:crypto";
import { type Element, xml } from "@xmpp/component-core";
import fc from "fast-check";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdapterFactory } from "../../src/adapter/adapter.ts";
import type { SessionEvent } from "../../src/adapter/events.ts";
import { plain } from "../../src/adapter/text.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { type RunningPostern, startPostern } from "../../src/core/app.ts";
import { parseJid } from "../../src/xmpp/jid.ts";
import { type ComponentPeer, type FakeXmppServer, startFakeXmppServer } from "../support/fake-xmpp-server.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";
import { TestNetwork, testAdapterFactory } from "../support/test-network.ts";

const GW = "test.localhost";
const NS_MUC = "http://jabber.org/protocol/muc";
const NS_REGISTER = "jabber:iq:register";
const NS_COMMANDS = "http://jabber.org/protocol/commands";
const ALICE = "alice@localhost";
const BOB = "bob@localhost";

let redis: RedisServer;
let server: FakeXmppServer;
let postern: RunningPostern;
let peer: ComponentPeer;
const network = new TestNetwork();
let counter = 0;

beforeAll(async () => {
  const secret = randomBytes(8).toString("hex");
  redis = await startRedis();
  server = await startFakeXmppServer({ domain: GW, secret });
  const factory = testAdapterFactory(network) as AdapterFactory<unknown>;
  network.roomMembers.set("#room", [
    { nick: "carol", contactId: "carol", role: "participant", affiliation: "member" },
  ]);
  network.topics.set("#room", "welcome");
  const config = parseConfigText(
    `
redis: { url: "${redis.url}" }
secrets: { encryptionKey: "${randomBytes(32).toString("hex")}" }
gateways:
  - domain: ${GW}
    adapter: test
    xmpp: { host: 127.0.0.1, port: ${server.port}, secret: "${secret}" }
    users: { allowedDomains: [localhost] }
    settings: {}
`,
    "addressing.yaml",
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
  await postern?.stop();
  await server?.close();
  await redis?.stop();
});

function send(el: Element): string {
  counter += 1;
  const id = `a${counter}`;
  el.attrs.id = id;
  peer.sendRaw(el.toString());
  return id;
}

function reply(id: string): Promise<Element> {
  return peer.waitFor((e) => e.attrs.id === id && e.attrs.type !== undefined, `a reply to ${id}`);
}

/** A ping answered means everything sent before it was handled. */
async function settled(): Promise<void> {
  await reply(
    send(xml("iq", { type: "get", from: `${ALICE}/r`, to: GW }, xml("ping", { xmlns: "urn:xmpp:ping" }))),
  );
}

/** The stanzas (from index `since` on) whose addressing breaks the rule, rendered for the failure message. */
function misaddressed(since = 0): string[] {
  return peer.elements.slice(since).flatMap((e) => {
    const from = parseJid(e.attrs.from ?? "");
    const to = parseJid(e.attrs.to ?? "");
    const ok = from !== null && from.domain === GW && to !== null && e.attrs.to !== "";
    return ok ? [] : [e.toString().slice(0, 300)];
  });
}

function form(values: Record<string, string>): Element {
  return xml(
    "x",
    { xmlns: "jabber:x:data", type: "submit" },
    ...Object.entries(values).map(([k, v]) => xml("field", { var: k }, xml("value", {}, v))),
  );
}

describe("a scripted session", () => {
  it("every emitted stanza is from our domain and to a valid JID", async () => {
    const start = peer.elements.length;
    // Registration, coming online.
    await reply(
      send(
        xml(
          "iq",
          { type: "set", from: `${ALICE}/r`, to: GW },
          xml("query", { xmlns: NS_REGISTER }, form({ nick: "alice", password: "pw" })),
        ),
      ),
    );
    send(xml("presence", { from: `${ALICE}/r`, to: GW }));
    await network.waitForSession(ALICE);
    // Discovery, commands (a two-step one and an unknown one), gateway prompt.
    await reply(
      send(
        xml(
          "iq",
          { type: "get", from: `${ALICE}/r`, to: GW },
          xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }),
        ),
      ),
    );
    await reply(
      send(
        xml(
          "iq",
          { type: "get", from: `${ALICE}/r`, to: `carol@${GW}` },
          xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }),
        ),
      ),
    );
    await reply(
      send(
        xml(
          "iq",
          { type: "set", from: `${ALICE}/r`, to: GW },
          xml("command", { xmlns: NS_COMMANDS, node: "status", action: "execute" }),
        ),
      ),
    );
    await reply(
      send(
        xml(
          "iq",
          { type: "set", from: `${ALICE}/r`, to: GW },
          xml("command", { xmlns: NS_COMMANDS, node: "nope", action: "execute" }),
        ),
      ),
    );
    // A room: join, messages both ways, subject, nick change, private message, leave.
    send(xml("presence", { from: `${ALICE}/r`, to: `#room@${GW}/alice` }, xml("x", { xmlns: NS_MUC })));
    await settled();
    send(
      xml("message", { type: "groupchat", from: `${ALICE}/r`, to: `#room@${GW}` }, xml("body", {}, "hi all")),
    );
    await network.say(ALICE, { kind: "room", id: "#room" }, "carol", "hi alice", "r-1");
    send(
      xml(
        "message",
        { type: "groupchat", from: `${ALICE}/r`, to: `#room@${GW}` },
        xml("subject", {}, "new topic"),
      ),
    );
    send(xml("presence", { from: `${ALICE}/r`, to: `#room@${GW}/alice2` }));
    send(
      xml("message", { type: "chat", from: `${ALICE}/r`, to: `#room@${GW}/carol` }, xml("body", {}, "psst")),
    );
    send(
      xml("message", { type: "chat", from: `${ALICE}/r`, to: `#room@${GW}/nobody` }, xml("body", {}, "psst")),
    );
    await network.emit(ALICE, {
      type: "room.member",
      room: "#room",
      change: "join",
      occupant: { nick: "dave", role: "participant", affiliation: "member" },
    });
    await network.emit(ALICE, {
      type: "room.member",
      room: "#room",
      change: "kick",
      occupant: { nick: "dave", role: "none", affiliation: "none" },
      reason: "bye",
    });
    send(xml("presence", { from: `${ALICE}/r`, to: `#room@${GW}/alice2`, type: "unavailable" }));
    // Direct chat both ways, with an error (message to an invalid address) and typing.
    send(xml("message", { type: "chat", from: `${ALICE}/r`, to: `carol@${GW}` }, xml("body", {}, "hello")));
    send(xml("message", { type: "chat", from: `${ALICE}/r`, to: `NOT VALID@${GW}` }, xml("body", {}, "x")));
    await network.say(ALICE, { kind: "direct", id: "carol" }, "carol", "hey", "d-1");
    await network.emit(ALICE, {
      type: "typing",
      conversation: { kind: "direct", id: "carol" },
      from: { nick: "carol", contactId: "carol" },
      state: "composing",
    });
    await network.emit(ALICE, { type: "presence", contact: "carol", show: "away", status: "lunch" });
    await network.emit(ALICE, { type: "notice", text: "network says hi" });
    // Errors for others: an unregistered user, a remote user.
    send(xml("message", { type: "chat", from: `${BOB}/r`, to: `carol@${GW}` }, xml("body", {}, "x")));
    send(
      xml("message", { type: "chat", from: "eve@evil.example/r", to: `carol@${GW}` }, xml("body", {}, "x")),
    );
    // Going offline, then unregistering.
    send(xml("presence", { from: `${ALICE}/r`, to: GW, type: "unavailable" }));
    await settled();
    await reply(
      send(
        xml(
          "iq",
          { type: "set", from: `${ALICE}/r`, to: GW },
          xml("query", { xmlns: NS_REGISTER }, xml("remove")),
        ),
      ),
    );
    await settled();
    expect(peer.elements.length - start).toBeGreaterThan(20);
    expect(misaddressed(start)).toEqual([]);
  });
});

/** Characters outside XML 1.0's Char production (§2.2). */
const XML_ILLEGAL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|\p{Cs}/u;

const text = fc.string({ unit: "binary", maxLength: 40 });
const ident = fc.oneof(fc.constantFrom("carol", "dave", "#room", "#other", ""), text);
const sender = fc.record({
  nick: ident,
  contactId: fc.option(ident, { nil: undefined }),
  self: fc.boolean(),
});
const conversation = fc.record({ kind: fc.constantFrom("room" as const, "direct" as const), id: ident });
const occupant = fc.record({
  nick: ident,
  contactId: fc.option(ident, { nil: undefined }),
  role: fc.constantFrom("moderator" as const, "participant" as const, "visitor" as const, "none" as const),
  affiliation: fc.constantFrom("owner" as const, "member" as const, "none" as const),
});
const neutralEvent: fc.Arbitrary<SessionEvent> = fc.oneof(
  fc.record({
    type: fc.constant("message" as const),
    conversation,
    from: sender,
    kind: fc.constantFrom("normal" as const, "action" as const, "notice" as const),
    text: text.map(plain),
    id: fc.option(ident, { nil: undefined }),
  }),
  fc.record({
    type: fc.constant("edit" as const),
    conversation,
    from: sender,
    target: ident,
    text: text.map(plain),
  }),
  fc.record({ type: fc.constant("retraction" as const), conversation, from: sender, target: ident }),
  fc.record({
    type: fc.constant("reaction" as const),
    conversation,
    from: sender,
    target: ident,
    emojis: fc.array(text, { maxLength: 2 }),
  }),
  fc.record({
    type: fc.constant("typing" as const),
    conversation,
    from: sender,
    state: fc.constantFrom("composing" as const, "paused" as const, "active" as const),
  }),
  fc.record({
    type: fc.constant("room.member" as const),
    room: ident,
    change: fc.constantFrom(
      "join" as const,
      "leave" as const,
      "kick" as const,
      "ban" as const,
      "nick" as const,
      "role" as const,
      "away" as const,
    ),
    occupant,
    newNick: fc.option(ident, { nil: undefined }),
    reason: fc.option(text, { nil: undefined }),
  }),
  fc.record({
    type: fc.constant("room.topic" as const),
    room: ident,
    topic: text,
    by: fc.option(ident, { nil: undefined }),
  }),
  fc.record({
    type: fc.constant("contact.info" as const),
    contact: ident,
    name: fc.option(text, { nil: undefined }),
  }),
  fc.record({
    type: fc.constant("presence" as const),
    contact: ident,
    show: fc.constantFrom(
      "available" as const,
      "away" as const,
      "xa" as const,
      "dnd" as const,
      "unavailable" as const,
    ),
    status: fc.option(text, { nil: undefined }),
  }),
  fc.record({
    type: fc.constant("notice" as const),
    text,
    conversation: fc.option(conversation, { nil: undefined }),
  }),
);

describe("generated network events", () => {
  it("10⁴ events: every emitted stanza is from our domain and to a valid JID, and only to the user", async () => {
    const user = "prop@localhost";
    await reply(
      send(
        xml(
          "iq",
          { type: "set", from: `${user}/r`, to: GW },
          xml("query", { xmlns: NS_REGISTER }, form({ nick: "prop", password: "pw" })),
        ),
      ),
    );
    send(xml("presence", { from: `${user}/r`, to: GW }));
    await network.waitForSession(user);
    send(xml("presence", { from: `${user}/r`, to: `#room@${GW}/prop` }, xml("x", { xmlns: NS_MUC })));
    await settled();
    const start = peer.elements.length;
    const events = fc.sample(neutralEvent, { numRuns: 10_000, seed: 6 });
    for (const event of events) await network.emit(user, event).catch(() => undefined);
    await settled();
    expect(peer.isClosed).toBe(false);
    const emitted = peer.elements.slice(start);
    expect(emitted.length).toBeGreaterThan(1000);
    // Characters XML 1.0 forbids would make the server close the stream.
    const illegal = emitted.filter((e) => XML_ILLEGAL.test(e.toString()));
    expect(illegal.map((e) => e.toString().slice(0, 200))).toEqual([]);
    expect(misaddressed(start)).toEqual([]);
    // None of the user's events reached anyone else.
    const strangers = emitted.filter(
      (e) => e.attrs.id?.startsWith("a") !== true && !(e.attrs.to ?? "").startsWith(user),
    );
    expect(strangers.map((e) => e.toString().slice(0, 200))).toEqual([]);
  }, 60_000);
});
