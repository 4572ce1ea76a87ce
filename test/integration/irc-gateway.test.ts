/**
 * The IRC gateway end to end: an XMPP user on a real Prosody, Postern with the IRC adapter, a
 * real ngIRCd with raw IRC clients on the other side, Redis underneath. Each test asserts what
 * the XMPP user and the IRC users see.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParsedLine } from "../support/irc-client.ts";
import {
  commandNodes,
  contactJid,
  groupchat,
  IRC_GATEWAY,
  IRC_SERVER,
  type IrcHarness,
  joinRoom,
  mucItem,
  NS_DELAY,
  NS_MUC,
  roomJid,
  roomMessage,
  runCommand,
  SLOW_GATEWAY,
  startIrcHarness,
  statusCodes,
} from "../support/irc-gateway-harness.ts";
import { waitUntil } from "../support/wait.ts";
import { IqError, type XmppTestClient, xml } from "../support/xmpp-client.ts";

let h: IrcHarness;

beforeAll(async () => {
  h = await startIrcHarness();
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

const privmsg = (target: string, from: string) => (l: ParsedLine) =>
  l.command === "PRIVMSG" && l.params[0] === target && l.nick === from;
const body = (s: { getChildText(name: string): string | null }) => s.getChildText("body");

describe("rooms", () => {
  let alice: XmppTestClient;

  beforeAll(async () => {
    alice = await h.login("alice");
  });

  it("joins a channel: occupants with roles from prefixes, self-presence with 110, then the topic", async () => {
    const op = await h.irc("ops1");
    await op.join("#roles");
    const voiced = await h.irc("voiced1");
    await voiced.join("#roles");
    op.send("MODE #roles +v voiced1");
    op.send("TOPIC #roles :All about roles");
    await op.waitFor((l) => l.command === "TOPIC", "the topic set");
    const mark = op.mark();

    const joined = await joinRoom(alice, "#roles", "alice");
    const room = roomJid("#roles");
    const byNick = new Map(joined.presences.map((p) => [p.attrs.from?.slice(room.length + 1), p]));
    expect(mucItem(byNick.get("ops1")!)).toMatchObject({ role: "moderator", affiliation: "admin" });
    expect(mucItem(byNick.get("voiced1")!)).toMatchObject({ role: "participant", affiliation: "member" });
    expect(joined.self.attrs.from).toBe(`${room}/alice`);
    expect(statusCodes(joined.self)).toContain("110");
    expect(mucItem(joined.self)).toMatchObject({ role: "participant", affiliation: "none" });
    // The self-presence comes last among the presences (XEP-0045 §7.2.3).
    expect(joined.presences.at(-1)).toBe(joined.self);
    expect(joined.subject.getChildText("subject")).toBe("All about roles");
    await op.waitFor(
      (l) => l.command === "JOIN" && l.nick === "alice" && l.params[0] === "#roles",
      "alice's JOIN",
      {
        since: mark,
      },
    );

    // A later MODE change updates the role.
    const m = alice.mark();
    op.send("MODE #roles +o alice");
    const promoted = await alice.waitFor(
      (s) => s.name === "presence" && s.attrs.from === `${room}/alice` && mucItem(s).role === "moderator",
      "alice's presence as moderator",
      { since: m },
    );
    expect(statusCodes(promoted)).toContain("110");
  });

  it("carries messages, actions and notices both ways, without mIRC codes", async () => {
    const bob = await h.irc("ircbob");
    await bob.join("#talk");
    await joinRoom(alice, "#talk", "alice");

    let m = alice.mark();
    bob.privmsg("#talk", "hello \x02alice\x02 in \x0304,01red\x03 and \x1ditalic\x1d\x0f");
    const hello = await alice.waitFor(roomMessage("#talk", "ircbob"), "ircbob's message", { since: m });
    expect(body(hello)).toBe("hello *alice* in red and _italic_");

    m = alice.mark();
    bob.send("PRIVMSG #talk :\x01ACTION waves\x01");
    const action = await alice.waitFor(roomMessage("#talk", "ircbob"), "ircbob's action", { since: m });
    expect(body(action)).toBe("/me waves");

    m = alice.mark();
    bob.send("NOTICE #talk :a notice");
    const notice = await alice.waitFor(roomMessage("#talk", "ircbob"), "ircbob's notice", { since: m });
    expect(body(notice)).toBe("a notice");

    const b = bob.mark();
    m = alice.mark();
    await alice.send(groupchat("#talk", "hi *bob*", "g-1"));
    const line = await bob.waitFor(privmsg("#talk", "alice"), "alice's PRIVMSG", { since: b });
    expect(line.params[1]).toBe("hi \x02bob\x02");
    const reflection = await alice.waitFor(
      roomMessage("#talk", "alice"),
      "the reflection of alice's message",
      { since: m },
    );
    expect(reflection.attrs.id).toBe("g-1");
    expect(body(reflection)).toBe("hi *bob*");

    await alice.send(groupchat("#talk", "/me dances", "g-2"));
    const act = await bob.waitFor(
      (l) => privmsg("#talk", "alice")(l) && l.params[1] === "\x01ACTION dances\x01",
      "alice's ACTION",
      { since: b },
    );
    expect(act).toBeDefined();
  });

  it("carries private chats both ways, addressed to the bare JID", async () => {
    const bob = await h.irc("ircpm");
    const m = alice.mark();
    bob.privmsg("alice", "psst");
    const pm = await alice.waitFor(
      (s) => s.name === "message" && s.attrs.from === contactJid("ircpm") && body(s) !== null,
      "ircpm's private message",
      { since: m },
    );
    expect(pm.attrs.type).toBe("chat");
    expect(pm.attrs.to).toBe("alice@localhost");
    expect(body(pm)).toBe("psst");

    const b = bob.mark();
    await alice.send(
      xml("message", { to: contactJid("ircpm"), type: "chat", id: "pm-1" }, xml("body", {}, "psst back")),
    );
    const line = await bob.waitFor(privmsg("ircpm", "alice"), "alice's reply", { since: b });
    expect(line.params[1]).toBe("psst back");

    // CTCP VERSION is answered by the gateway and not shown to the user.
    bob.send("PRIVMSG alice :\x01VERSION\x01");
    const version = await bob.waitFor(
      (l) => l.command === "NOTICE" && l.nick === "alice",
      "the CTCP VERSION reply",
      { since: b },
    );
    expect(version.params[1]).toMatch(/^\x01VERSION Postern/);

    bob.send("NOTICE alice :private notice");
    const notice = await alice.waitFor(
      (s) => s.name === "message" && s.attrs.from === contactJid("ircpm") && body(s) === "private notice",
      "ircpm's private notice",
      { since: m },
    );
    expect(notice.attrs.type).toBe("chat");
    expect(alice.stanzas.slice(m).some((s) => body(s)?.includes("VERSION"))).toBe(false);
  });

  it("uses a suffixed nick when the nick is taken and says so with 210", async () => {
    await h.irc("bobby");
    const bob = await h.login("bob");
    const joined = await joinRoom(bob, "#taken", "bobby");
    expect(joined.self.attrs.from).toBe(`${roomJid("#taken")}/bobby_`);
    expect(statusCodes(joined.self)).toEqual(expect.arrayContaining(["110", "210"]));
  });

  it("joins a channel that has a key with the MUC password, and refuses a wrong one", async () => {
    const op = await h.irc("irckey");
    await op.join("#locked");
    op.send("MODE #locked +k sesame");
    await op.waitFor((l) => l.command === "MODE" && l.params[1] === "+k", "the key set");
    const bob = await h.login("bob", "keys");
    const room = roomJid("#locked");
    const withPassword = (password: string) => [xml("x", { xmlns: NS_MUC }, xml("password", {}, password))];
    let m = bob.mark();
    await bob.sendPresence({ to: `${room}/bobby` }, withPassword("wrong"));
    const refused = await bob.waitFor(
      (s) => s.name === "presence" && s.attrs.type === "error" && s.attrs.from?.startsWith(room) === true,
      "the refused join",
      { since: m },
    );
    expect(refused.getChild("error")?.getChild("not-authorized")).toBeDefined();
    m = bob.mark();
    await bob.sendPresence({ to: `${room}/bobby` }, withPassword("sesame"));
    const self = await bob.waitFor(
      (s) =>
        s.name === "presence" &&
        s.attrs.from?.startsWith(`${room}/`) === true &&
        statusCodes(s).includes("110"),
      "the join with the key",
      { since: m },
    );
    expect(self.attrs.type).toBeUndefined();
  });

  it("keeps one IRC connection for two resources: one JOIN, full join for both, same ids", async () => {
    const bob = await h.irc("ircmulti");
    await bob.join("#multi");
    const b = bob.mark();
    await joinRoom(alice, "#multi", "alice");
    const phone = await h.login("alice", "phone");
    const second = await joinRoom(phone, "#multi", "alice");
    expect(statusCodes(second.self)).toContain("110");
    expect(second.presences.map((p) => p.attrs.from)).toContain(`${roomJid("#multi")}/ircmulti`);

    const m1 = alice.mark();
    const m2 = phone.mark();
    bob.privmsg("#multi", "to both");
    await alice.waitFor(
      (s) => roomMessage("#multi", "ircmulti")(s) && body(s) === "to both",
      "the message on the first resource",
      { since: m1 },
    );
    await phone.waitFor(
      (s) => roomMessage("#multi", "ircmulti")(s) && body(s) === "to both",
      "the message on the second resource",
      { since: m2 },
    );

    await phone.send(groupchat("#multi", "from the phone", "ph-1"));
    const r1 = await alice.waitFor(
      (s) => roomMessage("#multi", "alice")(s) && body(s) === "from the phone",
      "the reflection on the first resource",
      { since: m1 },
    );
    const r2 = await phone.waitFor(
      (s) => roomMessage("#multi", "alice")(s) && body(s) === "from the phone",
      "the reflection on the second resource",
      { since: m2 },
    );
    expect([r1.attrs.id, r2.attrs.id]).toEqual(["ph-1", "ph-1"]);
    await bob.waitFor(privmsg("#multi", "alice"), "the phone's message on IRC", { since: b });

    // The IRC side saw one JOIN only; the phone leaving does not part the channel.
    await phone.sendPresence({ to: `${roomJid("#multi")}/alice`, type: "unavailable" });
    await phone.waitFor(
      (s) =>
        s.name === "presence" &&
        s.attrs.type === "unavailable" &&
        s.attrs.from === `${roomJid("#multi")}/alice`,
      "the phone's own leave",
      { since: m2 },
    );
    bob.privmsg("#multi", "still there?");
    await alice.waitFor(
      (s) => roomMessage("#multi", "ircmulti")(s) && body(s) === "still there?",
      "a message after the phone left",
      { since: m1 },
    );
    const fromAlice = bob.lines
      .slice(b)
      .filter((l) => l.nick === "alice")
      .map((l) => l.command);
    expect(fromAlice.filter((c) => c === "JOIN")).toHaveLength(1);
    expect(fromAlice).not.toContain("PART");
    await phone.stop();
  });

  it("sends 'hi\\r\\nQUIT :bye' as two lines of text and stays connected", async () => {
    const bob = await h.irc("ircinj");
    await bob.join("#inject");
    await joinRoom(alice, "#inject", "alice");
    const b = bob.mark();
    // XML parsers turn CRLF into LF on the way (a lone CR reaching the adapter is covered by
    // irc-adapter.test.ts); either way it must become two lines of text.
    await alice.send(groupchat("#inject", "hi\r\nQUIT :bye", "inj-1"));
    await alice.send(groupchat("#inject", "still here", "inj-2"));
    const lines = await bob.waitForAll(privmsg("#inject", "alice"), 3, "alice's three lines", { since: b });
    expect(lines.map((l) => l.params[1])).toEqual(["hi", "QUIT :bye", "still here"]);
    expect(bob.lines.slice(b).some((l) => l.command === "QUIT")).toBe(false);
  });

  it("delivers a 4000-character message whole and in order", async () => {
    const bob = await h.irc("irclong");
    await bob.join("#long");
    await joinRoom(alice, "#long", "alice");
    const words = Array.from({ length: 900 }, (_, i) => `w${i}é`);
    // Ends in a word: a message's own trailing space is stripped by IRC servers.
    const text = `${words.join(" ").slice(0, 3999)}.`;
    expect(text).toHaveLength(4000);
    const b = bob.mark();
    const m = alice.mark();
    await alice.send(groupchat("#long", text, "long-1"));
    const received = () =>
      bob.lines
        .slice(b)
        .filter(privmsg("#long", "alice"))
        .map((l) => l.params[1])
        .join("");
    await bob.waitFor(() => received().length >= text.length, "all pieces of the long message", { since: b });
    expect(received()).toBe(text);
    for (const line of bob.lines.slice(b).filter(privmsg("#long", "alice"))) {
      expect(line.bytes.length + 2).toBeLessThanOrEqual(512);
    }
    const reflection = await alice.waitFor(roomMessage("#long", "alice"), "the reflection", { since: m });
    expect(body(reflection)).toBe(text);
  });

  it("decodes latin-1 text from IRC", async () => {
    const bob = await h.irc("irclatin");
    await bob.join("#latin");
    await joinRoom(alice, "#latin", "alice");
    const m = alice.mark();
    bob.sendBytes(
      Buffer.concat([
        Buffer.from("PRIVMSG #latin :caf"),
        Buffer.from([0xe9]),
        Buffer.from(" cr"),
        Buffer.from([0xe8, 0x6d, 0x65]),
      ]),
    );
    const msg = await alice.waitFor(roomMessage("#latin", "irclatin"), "the latin-1 message", { since: m });
    expect(body(msg)).toBe("café crème");
  });
});

describe("nicks, topics, kicks and bans", () => {
  let dave: XmppTestClient;

  beforeAll(async () => {
    dave = await h.login("dave");
  });

  it("reports nick changes both ways with 303", async () => {
    const bob = await h.irc("ircnick");
    await bob.join("#nick");
    await joinRoom(dave, "#nick", "dave");
    const room = roomJid("#nick");

    let m = dave.mark();
    bob.send("NICK ircnick2");
    const gone = await dave.waitFor(
      (s) => s.name === "presence" && s.attrs.type === "unavailable" && s.attrs.from === `${room}/ircnick`,
      "ircnick's nick-change presence",
      { since: m },
    );
    expect(statusCodes(gone)).toContain("303");
    expect(mucItem(gone).nick).toBe("ircnick2");
    await dave.waitFor(
      (s) => s.name === "presence" && !s.attrs.type && s.attrs.from === `${room}/ircnick2`,
      "ircnick2 present",
      { since: m },
    );

    const b = bob.mark();
    m = dave.mark();
    await dave.sendPresence({ to: `${room}/davy` });
    await bob.waitFor(
      (l) => l.command === "NICK" && l.nick === "dave" && l.params[0] === "davy",
      "dave's NICK on IRC",
      { since: b },
    );
    const own = await dave.waitFor(
      (s) => s.name === "presence" && s.attrs.type === "unavailable" && s.attrs.from === `${room}/dave`,
      "dave's own 303",
      { since: m },
    );
    expect(statusCodes(own)).toEqual(expect.arrayContaining(["303", "110"]));
    expect(mucItem(own).nick).toBe("davy");
    const back = await dave.waitFor(
      (s) => s.name === "presence" && !s.attrs.type && s.attrs.from === `${room}/davy`,
      "dave as davy",
      { since: m },
    );
    expect(statusCodes(back)).toContain("110");

    // Messages now come from the new nick.
    m = dave.mark();
    await dave.send(groupchat("#nick", "renamed", "n-1"));
    await bob.waitFor(privmsg("#nick", "davy"), "davy's message", { since: b });
  });

  it("carries the topic both ways", async () => {
    const bob = await h.irc("irctopic");
    await bob.join("#topic");
    await joinRoom(dave, "#topic", "davy");
    const room = roomJid("#topic");
    let m = dave.mark();
    bob.send("TOPIC #topic :from IRC");
    const subject = await dave.waitFor(
      (s) => s.name === "message" && s.getChildText("subject") === "from IRC",
      "the topic from IRC",
      { since: m },
    );
    expect(subject.attrs.from).toBe(`${room}/irctopic`);

    const b = bob.mark();
    m = dave.mark();
    await dave.send(
      xml("message", { to: room, type: "groupchat", id: "t-1" }, xml("subject", {}, "from XMPP")),
    );
    const line = await bob.waitFor((l) => l.command === "TOPIC" && l.nick === "davy", "davy's TOPIC", {
      since: b,
    });
    expect(line.params[1]).toBe("from XMPP");
    const echoed = await dave.waitFor(
      (s) => s.name === "message" && s.getChildText("subject") === "from XMPP",
      "the new subject",
      { since: m },
    );
    expect(echoed.attrs.from).toBe(`${room}/davy`);
  });

  it("reports a kick with 307 and a ban with 301, for others and for the user", async () => {
    const op = await h.irc("irckicker");
    await op.join("#kick");
    const victim = await h.irc("ircvictim");
    await victim.join("#kick");
    const erin = await h.login("erin");
    await joinRoom(erin, "#kick", "erin");
    const room = roomJid("#kick");

    let m = erin.mark();
    op.send("KICK #kick ircvictim :behave");
    const kicked = await erin.waitFor(
      (s) => s.name === "presence" && s.attrs.type === "unavailable" && s.attrs.from === `${room}/ircvictim`,
      "ircvictim's kick",
      { since: m },
    );
    expect(statusCodes(kicked)).toContain("307");
    expect(kicked.getChild("x")?.getChild("item")?.getChildText("reason")).toBe("behave");

    m = erin.mark();
    op.send("MODE #kick +b erin!*@*");
    op.send("KICK #kick erin :go away");
    const banned = await erin.waitFor(
      (s) => s.name === "presence" && s.attrs.type === "unavailable" && s.attrs.from === `${room}/erin`,
      "erin's own ban",
      { since: m },
    );
    expect(statusCodes(banned)).toEqual(expect.arrayContaining(["301", "110"]));

    // Joining again is refused with forbidden, as a MUC ban is.
    m = erin.mark();
    await erin.sendPresence({ to: `${room}/erin` }, [xml("x", { xmlns: "http://jabber.org/protocol/muc" })]);
    const refused = await erin.waitFor(
      (s) => s.name === "presence" && s.attrs.type === "error" && s.attrs.from?.startsWith(room) === true,
      "the refused rejoin",
      { since: m },
    );
    expect(refused.getChild("error")?.getChild("forbidden")).toBeDefined();
  });
});

describe("persistent rooms and history", () => {
  it("replays the room's recent history on join, honouring maxstanzas, with <delay/>", async () => {
    const bob = await h.irc("irchist");
    await bob.join("#hist");
    const carol = await h.login("carol");
    await joinRoom(carol, "#hist", "carol");
    const m = carol.mark();
    for (const n of [1, 2, 3]) bob.privmsg("#hist", `old ${n}`);
    await carol.waitForAll(roomMessage("#hist", "irchist"), 3, "three messages", { since: m });
    const phone = await h.login("carol", "phone");
    const joined = await joinRoom(phone, "#hist", "carol", { history: { maxstanzas: "2" } });
    expect(joined.history.map(body)).toEqual(["old 2", "old 3"]);
    for (const message of joined.history)
      expect(message.getChild("delay", NS_DELAY)?.attrs.from).toBe(roomJid("#hist"));
    const none = await h.login("carol", "tablet");
    expect((await joinRoom(none, "#hist", "carol", { history: { maxstanzas: "0" } })).history).toEqual([]);
    await Promise.all([phone.stop(), none.stop()]);
  });

  it("keeps a persistent room joined while the user is away and gives what they missed", async () => {
    const bob = await h.irc("irckeep");
    await bob.join("#keep");
    const frank = await h.login("frank");
    await joinRoom(frank, "#keep", "frank");
    const room = roomJid("#keep");
    const done = await runCommand(frank, "room-settings", [{ persistent: "true" }], room);
    expect(done.attrs.status).toBe("completed");

    const b = bob.mark();
    let m = frank.mark();
    await frank.sendPresence({ to: `${room}/frank`, type: "unavailable" });
    await frank.waitFor(
      (s) => s.name === "presence" && s.attrs.type === "unavailable" && s.attrs.from === `${room}/frank`,
      "frank's own leave",
      { since: m },
    );
    bob.privmsg("#keep", "missed 1");
    bob.privmsg("#keep", "missed 2");
    await waitUntil(
      async () =>
        (await h.postern.store.userArchive(IRC_GATEWAY, "frank@localhost", `#keep%${IRC_SERVER}`).size()) >=
        2,
      "both missed messages archived for frank",
    );

    m = frank.mark();
    const joined = await joinRoom(frank, "#keep", "frank", { history: { maxstanzas: "2" } });
    expect(joined.history.map(body)).toEqual(["missed 1", "missed 2"]);
    expect(joined.history.every((s) => s.getChild("delay", NS_DELAY) !== undefined)).toBe(true);
    // IRC never saw frank leave.
    expect(
      bob.lines.slice(b).some((l) => l.nick === "frank" && (l.command === "PART" || l.command === "QUIT")),
    ).toBe(false);

    // Not persistent any more: the last resource leaving parts the channel.
    await runCommand(frank, "room-settings", [{ persistent: "false" }], room);
    await frank.sendPresence({ to: `${room}/frank`, type: "unavailable" });
    await bob.waitFor((l) => l.command === "PART" && l.nick === "frank", "frank's PART", { since: b });
  });
});

describe("ad-hoc commands", () => {
  it("configures a server without an open session; the settings apply on the next connection", async () => {
    const bob = await h.irc("irccfg");
    await bob.join("#auto");
    const mallory = await h.login("mallory");
    const picked = await runCommand(mallory, "irc:configure-server", [
      { server: IRC_SERVER },
      { nick: "mal", autojoin: ["#auto"] },
    ]);
    expect(picked.attrs.status).toBe("completed");
    expect(picked.getChild("note")?.attrs.type).toBe("info");

    const b = bob.mark();
    const m = mallory.mark();
    await mallory.sendPresence({ to: IRC_GATEWAY });
    await bob.waitFor(
      (l) => l.command === "JOIN" && l.nick === "mal" && l.params[0] === "#auto",
      "mal auto-joining #auto",
      { since: b },
    );
    const invite = await mallory.waitFor(
      (s) => s.name === "message" && s.attrs.from === roomJid("#auto"),
      "the invitation to #auto",
      { since: m },
    );
    expect(invite.getChild("x", "jabber:x:conference")?.attrs.jid).toBe(roomJid("#auto"));

    const listed = await runCommand(mallory, "irc:list-connections");
    expect(listed.getChildText("note")).toContain(`${IRC_SERVER}: online as mal in #auto`);

    const disconnected = await runCommand(mallory, "irc:disconnect", [{ server: IRC_SERVER }]);
    expect(disconnected.getChildText("note")).toBe(`Disconnected from ${IRC_SERVER}.`);
    await bob.waitFor((l) => l.command === "QUIT" && l.nick === "mal", "mal's QUIT", { since: b });
  });

  it("offers the admin commands to the admin only", async () => {
    const admin = await h.login("admin");
    const bob = await h.irc("ircadm");
    await bob.join("#adm");
    const carol = await h.login("carol", "adm");
    await joinRoom(carol, "#adm", "carol");

    expect(await commandNodes(carol)).not.toContain("irc:admin-list-connections");
    expect(await commandNodes(admin)).toEqual(
      expect.arrayContaining(["irc:admin-list-connections", "irc:admin-disconnect-user"]),
    );
    const refused = await runCommand(carol, "irc:admin-list-connections").catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(IqError);
    expect((refused as IqError).condition).toBe("forbidden");

    const list = await runCommand(admin, "irc:admin-list-connections");
    expect(list.getChildText("note")).toContain("carol@localhost");
    const b = bob.mark();
    const done = await runCommand(admin, "irc:admin-disconnect-user", [{ jid: "carol@localhost" }]);
    expect(done.getChildText("note")).toBe("Disconnected carol@localhost from IRC.");
    await bob.waitFor((l) => l.command === "QUIT" && l.nick === "carol", "carol's QUIT", { since: b });
  });
});

describe("flood limiter", () => {
  it("refuses what does not fit its queue with resource-constraint (wait), and loses nothing", async () => {
    const bob = await h.irc("ircflood");
    await bob.join("#flood");
    const erin = await h.login("erin", "flood");
    await joinRoom(erin, "#flood", "erins", { gateway: SLOW_GATEWAY });
    const b = bob.mark();
    const m = erin.mark();
    const total = 12;
    for (let i = 0; i < total; i++)
      await erin.send(groupchat("#flood", `burst ${i}`, `f-${i}`, SLOW_GATEWAY));
    // Each message either comes back reflected (accepted) or as an error.
    const outcomes = await erin.waitForAll(
      (s) => s.name === "message" && /^f-\d+$/.test(s.attrs.id ?? ""),
      total,
      "an outcome for every message",
      { since: m },
    );
    const refused = outcomes.filter((s) => s.attrs.type === "error");
    const accepted = outcomes.filter((s) => s.attrs.type === "groupchat").map((s) => body(s));
    expect(refused.length).toBeGreaterThan(0);
    for (const error of refused) {
      expect(error.getChild("error")?.attrs.type).toBe("wait");
      expect(error.getChild("error")?.getChild("resource-constraint")).toBeDefined();
    }
    // What was accepted reaches IRC, in order; what was refused never does.
    const lines = await bob.waitForAll(
      privmsg("#flood", "erins"),
      accepted.length,
      "the accepted messages on IRC",
      {
        since: b,
        timeoutMs: 20_000,
      },
    );
    expect(lines.map((l) => l.params[1])).toEqual(accepted);
    expect(accepted.length + refused.length).toBe(total);
  });
});
