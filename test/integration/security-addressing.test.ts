/**
 * S2 (RELIABILITY.md): outbound addressing. The test plays the XMPP server on the component
 * socket, so every stanza the gateway emits is seen. Each must come `from` a JID of the gateway's
 * domain and go `to` a valid JID (a server with validate_from_addresses would otherwise close the
 * stream). First a scripted session, then 10⁴ generated network events.
 */
import { type Element, xml } from "@xmpp/component-core";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionEvent } from "../../src/adapter/events.ts";
import { plain } from "../../src/adapter/text.ts";
import { parseJid } from "../../src/xmpp/jid.ts";
import { type FakeServerRig, startFakeServerRig } from "../support/fake-server-rig.ts";
import { TestNetwork } from "../support/test-network.ts";

const GW = "test.localhost";
const NS_MUC = "http://jabber.org/protocol/muc";
const NS_REGISTER = "jabber:iq:register";
const NS_COMMANDS = "http://jabber.org/protocol/commands";
const ALICE = "alice@localhost";
const BOB = "bob@localhost";

let rig: FakeServerRig;
const network = new TestNetwork();

beforeAll(async () => {
  network.roomMembers.set("#room", [
    { nick: "carol", contactId: "carol", role: "participant", affiliation: "member" },
  ]);
  network.topics.set("#room", "welcome");
  // Ids starting with "a": the generated-events test tells the answers to its own stanzas by them.
  rig = await startFakeServerRig({ domain: GW, network, idPrefix: "a", sourceName: "addressing.yaml" });
}, 60_000);

afterAll(async () => {
  await rig?.stop();
});

/** A ping answered means everything sent before it was handled. */
async function settled(): Promise<void> {
  await rig.answer(
    rig.send(xml("iq", { type: "get", from: `${ALICE}/r`, to: GW }, xml("ping", { xmlns: "urn:xmpp:ping" }))),
  );
}

/** The stanzas (from index `since` on) whose addressing breaks the rule, rendered for the failure message. */
function misaddressed(since = 0): string[] {
  return rig.peer.elements.slice(since).flatMap((e) => {
    const from = parseJid(e.attrs.from ?? "");
    const to = parseJid(e.attrs.to ?? "");
    const ok = from !== null && from.domain === GW && to !== null && e.attrs.to !== "";
    return ok ? [] : [e.toString().slice(0, 300)];
  });
}

describe("a scripted session", () => {
  it("every emitted stanza is from our domain and to a valid JID", async () => {
    const start = rig.peer.elements.length;
    // Registration, coming online.
    await rig.register(`${ALICE}/r`, { nick: "alice", password: "pw" });
    rig.send(xml("presence", { from: `${ALICE}/r`, to: GW }));
    await network.waitForSession(ALICE);
    // Discovery, commands (a two-step one and an unknown one), gateway prompt.
    await rig.answer(
      rig.send(
        xml(
          "iq",
          { type: "get", from: `${ALICE}/r`, to: GW },
          xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }),
        ),
      ),
    );
    await rig.answer(
      rig.send(
        xml(
          "iq",
          { type: "get", from: `${ALICE}/r`, to: `carol@${GW}` },
          xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }),
        ),
      ),
    );
    await rig.answer(
      rig.send(
        xml(
          "iq",
          { type: "set", from: `${ALICE}/r`, to: GW },
          xml("command", { xmlns: NS_COMMANDS, node: "status", action: "execute" }),
        ),
      ),
    );
    await rig.answer(
      rig.send(
        xml(
          "iq",
          { type: "set", from: `${ALICE}/r`, to: GW },
          xml("command", { xmlns: NS_COMMANDS, node: "nope", action: "execute" }),
        ),
      ),
    );
    // A room: join, messages both ways, subject, nick change, private message, leave.
    rig.send(xml("presence", { from: `${ALICE}/r`, to: `#room@${GW}/alice` }, xml("x", { xmlns: NS_MUC })));
    await settled();
    rig.send(
      xml("message", { type: "groupchat", from: `${ALICE}/r`, to: `#room@${GW}` }, xml("body", {}, "hi all")),
    );
    await network.say(ALICE, { kind: "room", id: "#room" }, "carol", "hi alice", "r-1");
    rig.send(
      xml(
        "message",
        { type: "groupchat", from: `${ALICE}/r`, to: `#room@${GW}` },
        xml("subject", {}, "new topic"),
      ),
    );
    rig.send(xml("presence", { from: `${ALICE}/r`, to: `#room@${GW}/alice2` }));
    rig.send(
      xml("message", { type: "chat", from: `${ALICE}/r`, to: `#room@${GW}/carol` }, xml("body", {}, "psst")),
    );
    rig.send(
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
    rig.send(xml("presence", { from: `${ALICE}/r`, to: `#room@${GW}/alice2`, type: "unavailable" }));
    // Direct chat both ways, with an error (message to an invalid address) and typing.
    rig.send(
      xml("message", { type: "chat", from: `${ALICE}/r`, to: `carol@${GW}` }, xml("body", {}, "hello")),
    );
    rig.send(
      xml("message", { type: "chat", from: `${ALICE}/r`, to: `NOT VALID@${GW}` }, xml("body", {}, "x")),
    );
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
    rig.send(xml("message", { type: "chat", from: `${BOB}/r`, to: `carol@${GW}` }, xml("body", {}, "x")));
    rig.send(
      xml("message", { type: "chat", from: "eve@evil.example/r", to: `carol@${GW}` }, xml("body", {}, "x")),
    );
    // Going offline, then unregistering.
    rig.send(xml("presence", { from: `${ALICE}/r`, to: GW, type: "unavailable" }));
    await settled();
    await rig.answer(
      rig.send(
        xml(
          "iq",
          { type: "set", from: `${ALICE}/r`, to: GW },
          xml("query", { xmlns: NS_REGISTER }, xml("remove")),
        ),
      ),
    );
    await settled();
    expect(rig.peer.elements.length - start).toBeGreaterThan(20);
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
    await rig.register(`${user}/r`, { nick: "prop", password: "pw" });
    rig.send(xml("presence", { from: `${user}/r`, to: GW }));
    await network.waitForSession(user);
    rig.send(xml("presence", { from: `${user}/r`, to: `#room@${GW}/prop` }, xml("x", { xmlns: NS_MUC })));
    await settled();
    const start = rig.peer.elements.length;
    const events = fc.sample(neutralEvent, { numRuns: 10_000, seed: 6 });
    for (const event of events) await network.emit(user, event).catch(() => undefined);
    await settled();
    expect(rig.peer.isClosed).toBe(false);
    const emitted = rig.peer.elements.slice(start);
    expect(emitted.length).toBeGreaterThan(1000);
    // Characters XML 1.0 forbids would make the server close the stream.
    const illegal = emitted.filter((e) => XML_ILLEGAL.test(e.toString()));
    expect(illegal.map((e) => e.toString().slice(0, 200))).toEqual([]);
    expect(misaddressed(start)).toEqual([]);
    // None of the user's events reached anyone else. The link's own XEP-0199 pings to the server
    // (which confirm delivery, src/core/xmpp-outbox.ts) carry nothing of the user's.
    const linkPing = (e: Element) =>
      e.name === "iq" && e.attrs.to === "localhost" && e.getChild("ping", "urn:xmpp:ping") !== undefined;
    const strangers = emitted.filter(
      (e) => e.attrs.id?.startsWith("a") !== true && !(e.attrs.to ?? "").startsWith(user) && !linkPing(e),
    );
    expect(strangers.map((e) => e.toString().slice(0, 200))).toEqual([]);
  }, 60_000);
});
