/**
 * Portal rooms: one network room shared by every allowed XMPP user, through a real Prosody and
 * Redis with the test network. Users see each other and the network's members; what one writes
 * reaches the network once and every other occupant; the room's history is shared.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GATEWAY, type Harness, startHarness } from "../support/gateway-harness.ts";
import { type XmppTestClient, xml } from "../support/xmpp-client.ts";

const ROOM = `#town@${GATEWAY}`;
const NS_MUC = "http://jabber.org/protocol/muc";
const NS_MUC_USER = "http://jabber.org/protocol/muc#user";

let h: Harness;
let alice: XmppTestClient;
let bob: XmppTestClient;

beforeAll(async () => {
  h = await startHarness({ portalRooms: ["#town"] });
  h.network.roomMembers.set("#town", [{ nick: "mayor", role: "moderator", affiliation: "owner" }]);
  h.network.topics.set("#town", "Town square");
  [alice, bob] = await Promise.all([h.login("alice"), h.login("bob")]);
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

async function join(client: XmppTestClient, nick: string) {
  const mark = client.mark();
  await client.sendPresence({ to: `${ROOM}/${nick}` }, [xml("x", { xmlns: NS_MUC })]);
  await client.waitFor((s) => s.getChild("subject") !== undefined, `${nick}'s join to finish`, {
    since: mark,
  });
  return mark;
}

describe("portal rooms", () => {
  it("lets unregistered allowed users join and see the network's members and each other", async () => {
    const aMark = await join(alice, "alice");
    const aPresences = alice.stanzas
      .slice(aMark)
      .filter((s) => s.name === "presence" && s.attrs.from?.startsWith(ROOM))
      .map((s) => s.attrs.from);
    expect(aPresences).toEqual([`${ROOM}/mayor`, `${ROOM}/alice`]);
    const bobSeen = alice.mark();
    const bMark = await join(bob, "bob");
    const bPresences = bob.stanzas
      .slice(bMark)
      .filter((s) => s.name === "presence" && s.attrs.from?.startsWith(ROOM))
      .map((s) => s.attrs.from);
    expect(bPresences).toEqual([`${ROOM}/mayor`, `${ROOM}/alice`, `${ROOM}/bob`]);
    await alice.waitFor(
      (s) => s.name === "presence" && s.attrs.from === `${ROOM}/bob`,
      "bob arriving, seen by alice",
      { since: bobSeen },
    );
    expect(
      h.network.portalOccupants
        .get("#town")
        ?.map((o) => o.nick)
        .sort(),
    ).toEqual(["alice", "bob"]);
  });

  it("refuses a nick another user holds with conflict", async () => {
    const mallory = await h.login("mallory");
    const mark = mallory.mark();
    await mallory.sendPresence({ to: `${ROOM}/alice` }, [xml("x", { xmlns: NS_MUC })]);
    const err = await mallory.waitFor(
      (s) => s.name === "presence" && s.attrs.type === "error",
      "a conflict",
      { since: mark },
    );
    expect(err.getChild("error")?.getChild("conflict")).toBeDefined();
  });

  it("sends an occupant's message to the network once, with their nick, and reflects it to everyone", async () => {
    const aMark = alice.mark();
    const bMark = bob.mark();
    await alice.send(
      xml("message", { to: ROOM, type: "groupchat", id: "town-1" }, xml("body", {}, "hello town")),
    );
    const mine = await alice.waitFor((s) => s.getChildText("body") === "hello town", "alice's reflection", {
      since: aMark,
    });
    const theirs = await bob.waitFor(
      (s) => s.getChildText("body") === "hello town",
      "bob receiving alice's message",
      { since: bMark },
    );
    expect(mine.attrs.id).toBe("town-1");
    expect(theirs.attrs.from).toBe(`${ROOM}/alice`);
    expect(h.network.portalSent).toEqual([
      { room: "#town", from: { nick: "alice", jid: "alice@localhost" }, text: "hello town" },
    ]);
  });

  it("fans the network's messages and members out to every occupant", async () => {
    const aMark = alice.mark();
    const bMark = bob.mark();
    await h.network.portalContext!.emit({
      type: "message",
      conversation: { kind: "room", id: "#town" },
      from: { nick: "mayor" },
      kind: "normal",
      text: { text: "welcome", spans: [] },
      id: "m-1",
    });
    await h.network.portalContext!.emit({
      type: "room.member",
      room: "#town",
      change: "join",
      occupant: { nick: "baker", role: "participant", affiliation: "none" },
    });
    for (const [client, mark] of [
      [alice, aMark],
      [bob, bMark],
    ] as const) {
      await client.waitFor(
        (s) => s.getChildText("body") === "welcome" && s.attrs.from === `${ROOM}/mayor`,
        "the mayor's message",
        { since: mark },
      );
      await client.waitFor(
        (s) => s.name === "presence" && s.attrs.from === `${ROOM}/baker`,
        "the baker joining",
        { since: mark },
      );
    }
  });

  it("keeps one shared history: a newcomer gets it on join", async () => {
    const carolLike = await h.login("admin");
    const mark = await join(carolLike, "admin");
    const bodies = carolLike.stanzas
      .slice(mark)
      .filter((s) => s.name === "message" && s.getChild("delay", "urn:xmpp:delay"))
      .map((s) => s.getChildText("body"));
    expect(bodies).toEqual(["hello town", "welcome"]);
  });

  it("tells the others when an occupant leaves", async () => {
    const aMark = alice.mark();
    await bob.sendPresence({ to: `${ROOM}/bob`, type: "unavailable" });
    const gone = await alice.waitFor(
      (s) => s.name === "presence" && s.attrs.type === "unavailable" && s.attrs.from === `${ROOM}/bob`,
      "bob leaving",
      { since: aMark },
    );
    expect(gone.getChild("x", NS_MUC_USER)?.getChild("item")?.attrs.role).toBe("none");
    expect(
      h.network.portalOccupants
        .get("#town")
        ?.map((o) => o.nick)
        .sort(),
    ).toEqual(["admin", "alice"]);
  });
});

describe("portal rooms: files, replies and what is not relayed", () => {
  it("shows a network file as an OOB link, and maps a reply to the id occupants saw", async () => {
    const mark = alice.mark();
    await h.network.portalContext!.emit({
      type: "message",
      conversation: { kind: "room", id: "#town" },
      from: { nick: "mayor" },
      kind: "normal",
      text: { text: "the map", spans: [] },
      id: "m-map",
      attachments: [{ url: "https://files.example.org/map.png", name: "map.png", mediaType: "image/png" }],
    });
    const file = await alice.waitFor(
      (s) => s.getChild("x", "jabber:x:oob") !== undefined,
      "the file message",
      { since: mark },
    );
    expect(file.getChild("x", "jabber:x:oob")?.getChildText("url")).toBe("https://files.example.org/map.png");
    expect(file.getChildText("body")).toBe("the map\nhttps://files.example.org/map.png");
    await h.network.portalContext!.emit({
      type: "message",
      conversation: { kind: "room", id: "#town" },
      from: { nick: "mayor" },
      kind: "normal",
      text: { text: "see above", spans: [] },
      id: "m-reply",
      replyTo: "m-map",
    });
    const reply = await alice.waitFor((s) => s.getChildText("body") === "see above", "the reply", {
      since: mark,
    });
    expect(reply.getChild("reply", "urn:xmpp:reply:0")?.attrs.id).toBe(file.attrs.id);
  });

  it("answers a correction in a shared room with feature-not-implemented rather than dropping it", async () => {
    const mark = alice.mark();
    await alice.send(
      xml(
        "message",
        { to: ROOM, type: "groupchat", id: "fix-1" },
        xml("body", {}, "hello twon"),
        xml("replace", { xmlns: "urn:xmpp:message-correct:0", id: "town-1" }),
      ),
    );
    const err = await alice.waitFor((s) => s.attrs.id === "fix-1" && s.attrs.type === "error", "the error", {
      since: mark,
    });
    expect(err.getChild("error")?.getChild("feature-not-implemented")).toBeDefined();
  });
});

describe("portal nicks (S11)", () => {
  it("refuses a nick with direction-changing characters, which Telegram users would see as written", async () => {
    const mallory = await h.login("mallory", "bidi");
    const mark = mallory.mark();
    await mallory.sendPresence({ to: `${ROOM}/adm\u202Enim` }, [xml("x", { xmlns: NS_MUC })]);
    const err = await mallory.waitFor(
      (s) => s.name === "presence" && s.attrs.type === "error",
      "the refusal",
      { since: mark },
    );
    // Prosody's resourceprep already refuses it (jid-malformed); the gateway would (not-acceptable).
    expect(
      err
        .getChild("error")
        ?.getChildElements()
        .map((c) => c.name),
    ).toEqual(expect.arrayContaining([expect.stringMatching(/^(jid-malformed|not-acceptable)$/)]));
    expect(h.network.portalOccupants.get("#town")?.some((o) => o.nick.includes("\u202E"))).toBe(false);
  });
});
