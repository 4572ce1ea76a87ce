/**
 * Core features beyond plain routing, through a real Prosody and Redis with the test network:
 * persistent rooms and catch-up, MUC history and MAM on rooms, corrections, retractions,
 * reactions and replies mapped to the network's message ids.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GATEWAY, type Harness, startHarness } from "../support/gateway-harness.ts";
import { registerWithForm } from "../support/registration-form.ts";
import { type XmppTestClient, xml } from "../support/xmpp-client.ts";

const NS_COMMANDS = "http://jabber.org/protocol/commands";
const NS_DATA = "jabber:x:data";
const NS_MUC = "http://jabber.org/protocol/muc";
const NS_MAM = "urn:xmpp:mam:2";
const ROOM = `#den@${GATEWAY}`;
const ALICE = "alice@localhost";

let h: Harness;
let alice: XmppTestClient;

beforeAll(async () => {
  h = await startHarness();
  alice = await h.login("alice");
  await registerWithForm(alice, GATEWAY, { nick: "alice", password: "pw" });
  h.network.roomMembers.set("#den", [
    { nick: "carol", contactId: "carol", role: "participant", affiliation: "none" },
  ]);
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

async function join(client: XmppTestClient, history?: Record<string, string>) {
  const mark = client.mark();
  await client.sendPresence({ to: `${ROOM}/alice` }, [
    xml("x", { xmlns: NS_MUC }, history ? xml("history", history) : null),
  ]);
  await client.waitFor((s) => s.getChild("subject") !== undefined, "the subject that ends the join", {
    since: mark,
  });
  return mark;
}

async function leave(client: XmppTestClient) {
  const mark = client.mark();
  await client.sendPresence({ to: `${ROOM}/alice`, type: "unavailable" });
  await client.waitFor(
    (s) => s.name === "presence" && s.attrs.type === "unavailable" && s.attrs.from === `${ROOM}/alice`,
    "the leave",
    { since: mark },
  );
}

describe("persistent rooms, history and MAM", () => {
  it("marks a room persistent with the room-settings command on the room's JID", async () => {
    await join(alice);
    const items = await alice.iq(
      xml(
        "iq",
        { type: "get", to: ROOM },
        xml("query", { xmlns: "http://jabber.org/protocol/disco#items", node: NS_COMMANDS }),
      ),
    );
    expect(
      items
        .getChild("query")!
        .getChildren("item")
        .map((i) => i.attrs.node),
    ).toContain("room-settings");
    const first = await alice.iq(
      xml(
        "iq",
        { type: "set", to: ROOM },
        xml("command", { xmlns: NS_COMMANDS, node: "room-settings", action: "execute" }),
      ),
    );
    const sessionid = first.getChild("command")!.attrs.sessionid!;
    const done = await alice.iq(
      xml(
        "iq",
        { type: "set", to: ROOM },
        xml(
          "command",
          { xmlns: NS_COMMANDS, node: "room-settings", sessionid, action: "complete" },
          xml(
            "x",
            { xmlns: NS_DATA, type: "submit" },
            xml("field", { var: "persistent" }, xml("value", {}, "true")),
          ),
        ),
      ),
    );
    expect(done.getChild("command")!.attrs.status).toBe("completed");
  });

  it("stays in a persistent room after leaving, and gives the missed messages on return with delay", async () => {
    await leave(alice);
    expect(h.network.leaves.filter((l) => l.room === "#den")).toEqual([]);
    await h.network.say(
      ALICE,
      { kind: "room", id: "#den" },
      "carol",
      "said while you were away",
      "net-away-1",
    );
    const mark = await join(alice, { maxstanzas: "5" });
    const missed = alice.stanzas
      .slice(mark)
      .find((s) => s.getChildText("body") === "said while you were away");
    expect(missed?.attrs.from).toBe(`${ROOM}/carol`);
    expect(missed?.getChild("delay", "urn:xmpp:delay")?.attrs.stamp).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it("honours <history maxstanzas='0'/>", async () => {
    await leave(alice);
    const mark = await join(alice, { maxstanzas: "0" });
    expect(
      alice.stanzas.slice(mark).filter((s) => s.name === "message" && s.getChildText("body") !== null),
    ).toEqual([]);
  });

  it("answers a MAM query on the room with the archive, paged with RSM", async () => {
    for (let i = 0; i < 5; i++)
      await h.network.say(ALICE, { kind: "room", id: "#den" }, "carol", `archived ${i}`, `net-arch-${i}`);
    await alice.waitFor((s) => s.getChildText("body") === "archived 4", "the last live message");
    const mark = alice.mark();
    const result = await alice.iq(
      xml(
        "iq",
        { type: "set", to: ROOM },
        xml(
          "query",
          { xmlns: NS_MAM, queryid: "q1" },
          xml("set", { xmlns: "http://jabber.org/protocol/rsm" }, xml("max", {}, "3"), xml("before")),
        ),
      ),
    );
    const fin = result.getChild("fin", NS_MAM)!;
    expect(fin.attrs.complete).toBeUndefined();
    const forwarded = alice.stanzas
      .slice(mark)
      .filter((s) => s.getChild("result", NS_MAM)?.attrs.queryid === "q1");
    const bodies = forwarded.map((s) =>
      s.getChild("result", NS_MAM)!.getChild("forwarded")!.getChild("message")!.getChildText("body"),
    );
    expect(bodies).toEqual(["archived 2", "archived 3", "archived 4"]);
    expect(fin.getChild("set")!.getChildText("last")).toBe(
      forwarded[2]!.getChild("result", NS_MAM)!.attrs.id,
    );
  });
});

describe("corrections, retractions, reactions and replies", () => {
  it("maps XMPP ids to the network's ids, and refuses ids it never saw", async () => {
    const mark = alice.mark();
    await h.network.say(ALICE, { kind: "direct", id: "carol" }, "carol", "react to me", "net-77");
    const incoming = await alice.waitFor((s) => s.getChildText("body") === "react to me", "carol's message", {
      since: mark,
    });
    const id = incoming.attrs.id!;
    await alice.send(
      xml(
        "message",
        { to: `carol@${GATEWAY}`, type: "chat", id: "r1" },
        xml("reactions", { xmlns: "urn:xmpp:reactions:0", id }, xml("reaction", {}, "👍")),
      ),
    );
    const sentBefore = h.network.sent.length;
    await alice.send(
      xml(
        "message",
        { to: `carol@${GATEWAY}`, type: "chat", id: "r2" },
        xml("body", {}, "> react to me\nsure"),
        xml("reply", { xmlns: "urn:xmpp:reply:0", id }),
        xml(
          "fallback",
          { xmlns: "urn:xmpp:fallback:0", for: "urn:xmpp:reply:0" },
          xml("body", { start: "0", end: "14" }),
        ),
      ),
    );
    const [reply] = (await h.network.waitForSent(sentBefore + 1, "the reply")).slice(-1);
    expect(reply?.message.replyTo).toBe("net-77");
    expect(reply?.message.text.text).toBe("sure");
    const ownId = reply?.message.clientId;
    expect(ownId).toBe("r2");
    await alice.send(
      xml(
        "message",
        { to: `carol@${GATEWAY}`, type: "chat", id: "r3" },
        xml("body", {}, "sure!"),
        xml("replace", { xmlns: "urn:xmpp:message-correct:0", id: "r2" }),
      ),
    );
    await alice.send(
      xml(
        "message",
        { to: `carol@${GATEWAY}`, type: "chat", id: "r4" },
        xml("retract", { xmlns: "urn:xmpp:message-retract:1", id: "r2" }),
      ),
    );
    const deadline = Date.now() + 10_000;
    while (h.network.actions.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(h.network.actions.map((a) => [a.kind, a.target, a.detail])).toEqual([
      ["react", "net-77", "👍"],
      ["edit", `net-${h.network.sent.indexOf(reply!) + 1}`, "sure!"],
      ["retract", `net-${h.network.sent.indexOf(reply!) + 1}`, ""],
    ]);
    const m2 = alice.mark();
    await alice.send(
      xml(
        "message",
        { to: `carol@${GATEWAY}`, type: "chat", id: "r5" },
        xml("retract", { xmlns: "urn:xmpp:message-retract:1", id: "someone-elses" }),
      ),
    );
    const err = await alice.waitFor(
      (s) => s.attrs.id === "r5" && s.attrs.type === "error",
      "item-not-found for an unknown id",
      { since: m2 },
    );
    expect(err.getChild("error")?.getChild("item-not-found")).toBeDefined();
  });

  it("maps a room message's stanza-id and its message id to the network's id", async () => {
    await join(alice);
    const mark = alice.mark();
    await h.network.say(ALICE, { kind: "room", id: "#den" }, "carol", "vote on this", "net-room-9");
    const incoming = await alice.waitFor(
      (s) => s.name === "message" && s.getChildText("body") === "vote on this",
      "carol's room message",
      { since: mark },
    );
    // XEP-0444/0424 in a room name the message by the room's stanza-id; XEP-0461 may use its id.
    const stanzaId = incoming.getChild("stanza-id", "urn:xmpp:sid:0")?.attrs.id;
    expect(stanzaId).toMatch(/^\d+-\d+$/);
    const actionsBefore = h.network.actions.length;
    await alice.send(
      xml(
        "message",
        { to: ROOM, type: "groupchat", id: "rr1" },
        xml("reactions", { xmlns: "urn:xmpp:reactions:0", id: stanzaId }, xml("reaction", {}, "🗳")),
      ),
    );
    const sentBefore = h.network.sent.length;
    await alice.send(
      xml(
        "message",
        { to: ROOM, type: "groupchat", id: "rr2" },
        xml("body", {}, "yes"),
        xml("reply", { xmlns: "urn:xmpp:reply:0", to: `${ROOM}/carol`, id: incoming.attrs.id }),
      ),
    );
    const [reply] = (await h.network.waitForSent(sentBefore + 1, "the reply in the room")).slice(-1);
    expect(reply?.message.replyTo).toBe("net-room-9");
    expect(h.network.actions.slice(actionsBefore).map((a) => [a.kind, a.target, a.detail])).toEqual([
      ["react", "net-room-9", "🗳"],
    ]);
    await leave(alice);
  });

  it("shows network edits, retractions and reactions against the ids the user saw", async () => {
    const mark = alice.mark();
    await h.network.say(ALICE, { kind: "direct", id: "carol" }, "carol", "typo", "net-90");
    const original = await alice.waitFor((s) => s.getChildText("body") === "typo", "the original", {
      since: mark,
    });
    await h.network.emit(ALICE, {
      type: "edit",
      conversation: { kind: "direct", id: "carol" },
      from: { nick: "carol" },
      target: "net-90",
      text: { text: "fixed", spans: [] },
    });
    const edit = await alice.waitFor(
      (s) => s.getChild("replace", "urn:xmpp:message-correct:0") !== undefined,
      "the correction",
      { since: mark },
    );
    expect(edit.getChild("replace", "urn:xmpp:message-correct:0")?.attrs.id).toBe(original.attrs.id);
    expect(edit.getChildText("body")).toBe("fixed");
    await h.network.emit(ALICE, {
      type: "reaction",
      conversation: { kind: "direct", id: "carol" },
      from: { nick: "carol" },
      target: "net-90",
      emojis: ["🎉"],
    });
    const reaction = await alice.waitFor(
      (s) => s.getChild("reactions", "urn:xmpp:reactions:0") !== undefined,
      "the reaction",
      { since: mark },
    );
    expect(reaction.getChild("reactions", "urn:xmpp:reactions:0")?.attrs.id).toBe(original.attrs.id);
    await h.network.emit(ALICE, {
      type: "retraction",
      conversation: { kind: "direct", id: "carol" },
      from: { nick: "carol" },
      target: "net-90",
    });
    const retraction = await alice.waitFor(
      (s) => s.getChild("retract", "urn:xmpp:message-retract:1") !== undefined,
      "the retraction",
      { since: mark },
    );
    expect(retraction.getChild("retract", "urn:xmpp:message-retract:1")?.attrs.id).toBe(original.attrs.id);
  });
});

describe("contacts: names and avatars", () => {
  it("offers a new contact for the roster with its nickname, and serves its vCard with the avatar", async () => {
    const mark = alice.mark();
    const png = Buffer.from("89504e470d0a1a0a0000000d4948445200000001000000010806000000", "hex");
    await h.network.emit(ALICE, {
      type: "contact.info",
      contact: "dora",
      name: "Dora Explorer",
      avatar: { data: png, mediaType: "image/png" },
    });
    const subscribe = await alice.waitFor(
      (s) => s.name === "presence" && s.attrs.type === "subscribe" && s.attrs.from === `dora@${GATEWAY}`,
      "dora's subscription request",
      { since: mark },
    );
    expect(subscribe.getChildText("nick", "http://jabber.org/protocol/nick")).toBe("Dora Explorer");
    const update = await alice.waitFor(
      (s) =>
        s.name === "presence" &&
        s.attrs.from === `dora@${GATEWAY}` &&
        s.getChild("x", "vcard-temp:x:update") !== undefined,
      "the avatar hash",
      { since: mark },
    );
    const hash = update.getChild("x", "vcard-temp:x:update")!.getChildText("photo");
    expect(hash).toMatch(/^[0-9a-f]{40}$/);
    const vcard = await alice.iq(
      xml("iq", { type: "get", to: `dora@${GATEWAY}` }, xml("vCard", { xmlns: "vcard-temp" })),
    );
    const card = vcard.getChild("vCard", "vcard-temp")!;
    expect(card.getChildText("FN")).toBe("Dora Explorer");
    expect(Buffer.from(card.getChild("PHOTO")!.getChildText("BINVAL")!, "base64").equals(png)).toBe(true);
  });
});

describe("files from the user", () => {
  it("passes an XEP-0066 link as an attachment, without repeating the URL as text", async () => {
    const before = h.network.sent.length;
    const url = "https://upload.example.org/abc/holiday.jpg";
    await alice.send(
      xml(
        "message",
        { to: `carol@${GATEWAY}`, type: "chat", id: "f1" },
        xml("body", {}, url),
        xml("x", { xmlns: "jabber:x:oob" }, xml("url", {}, url)),
      ),
    );
    const [sent] = (await h.network.waitForSent(before + 1, "the file message")).slice(-1);
    expect(sent?.message.attachments).toEqual([
      { url, name: "holiday.jpg", mediaType: "application/octet-stream" },
    ]);
    expect(sent?.message.text.text).toBe("");
  });
});

describe("names with invisible characters (S11)", () => {
  it("shows network nicks and contact names without direction overrides or zero-width characters", async () => {
    const mark = alice.mark();
    await join(alice);
    await h.network.say(ALICE, { kind: "room", id: "#den" }, "mal\u202Eyrol", "look at my name");
    const msg = await alice.waitFor((s) => s.getChildText("body") === "look at my name", "the message", {
      since: mark,
    });
    expect(msg.attrs.from).toBe(`${ROOM}/malyrol`);
    await h.network.emit(ALICE, {
      type: "contact.info",
      contact: "zed",
      name: "Z\u200Bed\u2066 Admin\u2069",
    });
    const sub = await alice.waitFor(
      (s) => s.attrs.type === "subscribe" && s.attrs.from === `zed@${GATEWAY}`,
      "zed's subscription",
      { since: mark },
    );
    expect(sub.getChildText("nick", "http://jabber.org/protocol/nick")).toBe("Zed Admin");
  });
});
