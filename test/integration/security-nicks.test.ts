/**
 * RELIABILITY.md S11, end to end: nicks that are one nick to the IRC server, or that only look
 * like another, never let one XMPP user pass for another.
 *
 * Through the real IRC gateway, on InspIRCd (CASEMAPPING=rfc1459: `foo[` is `FOO{`) and ngIRCd
 * (CASEMAPPING=ascii: `Foo` is `foo`): the second of two users asking for one nick gets another
 * (the server's 433, then `nick_`) and is told (MUC status 210); each user's messages reach IRC
 * from their own nick, and what IRC users send to a nick reaches that nick's user only. Nicks with
 * invisible or direction-changing characters are refused (by Prosody's resourceprep, else by
 * Postern with not-acceptable) or reach Postern already stripped; nicks IRC servers cannot take
 * (Cyrillic look-alikes) are replaced by the nick derived from the JID, with 210; no IRC user
 * ever sees a nick that is not plain ASCII.
 *
 * In portal rooms, where Postern itself decides who holds which nick: a nick that only looks like
 * an occupant's (`аlice` with a Cyrillic а, `ALICE`, `aIice`) is let in with a visible suffix.
 */
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ircAdapter } from "../../adapters/irc/index.ts";
import { sameName } from "../../adapters/irc/protocol/casemap.ts";
import { AdapterError } from "../../src/adapter/index.ts";
import { harnessSession, MemoryLeases, MemoryState, testFetcher } from "../support/adapter-harness.ts";
import { GATEWAY, type Harness, startHarness } from "../support/gateway-harness.ts";
import type { ParsedLine, RawIrcClient } from "../support/irc-client.ts";
import {
  contactJid,
  groupchat,
  IRC_SERVER,
  type IrcHarness,
  joinRoom,
  NS_MUC,
  roomJid,
  roomMessage,
  runCommand,
  startIrcHarness,
  statusCodes,
} from "../support/irc-gateway-harness.ts";
import { type Element, type XmppTestClient, xml } from "../support/xmpp-client.ts";

const CHANNEL = "#s11";
const body = (s: Element) => s.getChildText("body");
const chatFrom = (from: string, text: string) => (s: Element) =>
  s.name === "message" && s.attrs.from?.startsWith(from) === true && body(s) === text;

/** The nick of an occupant presence: what follows `room/`. */
function nickOf(presence: Element, channel = CHANNEL): string {
  return presence.attrs.from!.slice(roomJid(channel).length + 1);
}

/** What a join to `room/nick` ends in: an error condition, or the nick the self-presence names. */
async function joinOutcome(client: XmppTestClient, nick: string): Promise<{ error?: string; nick?: string }> {
  const mark = client.mark();
  const room = roomJid(CHANNEL);
  await client.sendPresence({ to: `${room}/${nick}` }, [xml("x", { xmlns: NS_MUC })]);
  const end = await client.waitFor(
    (s) =>
      (s.name === "presence" && s.attrs.type === "error") ||
      (s.name === "message" && s.attrs.from === room && s.getChild("subject") !== undefined),
    `the answer to the join as ${JSON.stringify(nick)}`,
    { since: mark },
  );
  if (end.name === "presence") return { error: end.getChild("error")?.getChildElements()[0]?.name };
  const self = client.stanzas
    .slice(mark)
    .find((s) => s.name === "presence" && statusCodes(s).includes("110") && s.attrs.type !== "unavailable");
  return { nick: self ? nickOf(self) : undefined };
}

/** Every nick an IRC user saw: in line prefixes, and in NAMES replies. */
function nicksSeen(lines: readonly ParsedLine[]): string[] {
  const names = lines
    .filter((l) => l.command === "353")
    .flatMap((l) => (l.params.at(-1) ?? "").split(" ").filter(Boolean))
    .map((n) => n.replace(/^[~&@%+]+/, ""));
  return [...lines.flatMap((l) => (l.nick === undefined ? [] : [l.nick])), ...names];
}

interface ServerCase {
  ircd: "inspircd" | "ngircd";
  casemapping: "rfc1459" | "ascii";
  /** The nick alice asks for, and the nick bob asks for: one nick to this server. */
  first: string;
  second: string;
  /** A third spelling of the same nick, which carol configures for the server. */
  third: string;
}

const CASES: ServerCase[] = [
  { ircd: "inspircd", casemapping: "rfc1459", first: "foo[", second: "foo{", third: "FOO{" },
  { ircd: "ngircd", casemapping: "ascii", first: "Foo", second: "foo", third: "FOO" },
];

describe.each(CASES)("IRC nicks on $ircd (CASEMAPPING=$casemapping)", (c) => {
  let h: IrcHarness;
  let watcher: RawIrcClient;
  let alice: XmppTestClient;
  let bob: XmppTestClient;
  /** The nick bob got. */
  let bobNick: string;

  beforeAll(async () => {
    h = await startIrcHarness({ ircd: c.ircd });
    watcher = await h.irc("watcher");
    await watcher.join(CHANNEL);
    [alice, bob] = await Promise.all([h.login("alice"), h.login("bob")]);
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
  });

  it(`gives the second of two users asking for ${c.first} / ${c.second} another nick, and says so with 210`, async () => {
    const w = watcher.mark();
    const a = await joinRoom(alice, CHANNEL, c.first);
    expect(nickOf(a.self)).toBe(c.first);
    expect(statusCodes(a.self)).not.toContain("210");
    await watcher.waitFor((l) => l.command === "JOIN" && l.nick === c.first, `${c.first}'s JOIN`, {
      since: w,
    });

    const b = await joinRoom(bob, CHANNEL, c.second);
    bobNick = nickOf(b.self);
    // The server refused c.second (433: it is alice's nick), Postern registered c.second + "_".
    expect(bobNick).toBe(`${c.second}_`);
    expect(sameName(bobNick, c.first, c.casemapping)).toBe(false);
    expect(statusCodes(b.self)).toEqual(expect.arrayContaining(["110", "210"]));
    // Bob sees alice as another occupant, under her own nick.
    expect(b.presences.map((p) => nickOf(p))).toContain(c.first);
    await watcher.waitFor((l) => l.command === "JOIN" && l.nick === bobNick, `${bobNick}'s JOIN`, {
      since: w,
    });
    await alice.waitFor(
      (s) => s.name === "presence" && s.attrs.from === `${roomJid(CHANNEL)}/${bobNick}`,
      `alice seeing ${bobNick} arrive`,
    );
  });

  it("sends each user's messages from their own nick", async () => {
    const w = watcher.mark();
    const marks = new Map([alice, bob].map((client) => [client, client.mark()]));
    await alice.send(groupchat(CHANNEL, "said by alice", "s11-a"));
    await bob.send(groupchat(CHANNEL, "said by bob", "s11-b"));
    const lines = await watcher.waitForAll(
      (l) => l.command === "PRIVMSG" && l.params[0] === CHANNEL,
      2,
      "both messages in the channel",
      { since: w },
    );
    const from = Object.fromEntries(lines.map((l) => [l.params[1], l.nick]));
    expect(from).toEqual({ "said by alice": c.first, "said by bob": bobNick });
    // Each sees both messages, each from its writer's nick.
    for (const client of [alice, bob]) {
      const seen = await client.waitForAll(roomMessage(CHANNEL), 2, "both messages in the room", {
        since: marks.get(client),
      });
      expect(Object.fromEntries(seen.map((m) => [body(m), nickOf(m)]))).toEqual({
        "said by alice": c.first,
        "said by bob": bobNick,
      });
    }
  });

  it("delivers what IRC sends to a nick to that nick's user only, whatever its spelling", async () => {
    const a = alice.mark();
    const b = bob.mark();
    const from = contactJid("watcher");
    // c.second is the spelling bob asked for; to the server it is alice's nick.
    watcher.privmsg(c.second, "for alice, spelled as bob asked");
    watcher.privmsg(bobNick, "for bob");
    watcher.privmsg(c.first, "for alice again");
    // Each user's lines arrive in order on their own connection: once the later message is
    // there, an earlier one meant for the other user would be there too.
    await bob.waitFor(chatFrom(from, "for bob"), "the message for bob", { since: b });
    await alice.waitFor(chatFrom(from, "for alice again"), "the second message for alice", { since: a });
    const texts = (client: XmppTestClient, mark: number) =>
      client.stanzas
        .slice(mark)
        .filter((s) => s.name === "message" && s.attrs.type === "chat")
        .map(body);
    expect(texts(alice, a)).toEqual(["for alice, spelled as bob asked", "for alice again"]);
    expect(texts(bob, b)).toEqual(["for bob"]);
  });

  it(`refuses bob's nick change to ${c.third}, another spelling of alice's nick, with conflict`, async () => {
    const mark = bob.mark();
    await bob.sendPresence({ to: `${roomJid(CHANNEL)}/${c.third}` });
    const error = await bob.waitFor(
      (s) => s.name === "presence" && s.attrs.type === "error",
      "the error answering the nick change",
      { since: mark },
    );
    expect(error.getChild("error")?.getChild("conflict")).toBeDefined();
    expect(watcher.lines.some((l) => l.command === "NICK" && l.params[0] === c.third)).toBe(false);
  });

  it(`gives carol, whose nick for the server is ${c.third}, her own nick in private chats`, async () => {
    const carol = await h.login("carol");
    const configured = await runCommand(carol, "irc:configure-server", [
      { server: IRC_SERVER },
      { nick: c.third },
    ]);
    expect(configured.attrs.status).toBe("completed");

    const w = watcher.mark();
    await carol.send(
      xml(
        "message",
        { to: contactJid("watcher"), type: "chat", id: "s11-c" },
        xml("body", {}, "hi from carol"),
      ),
    );
    const line = await watcher.waitFor(
      (l) => l.command === "PRIVMSG" && l.params[1] === "hi from carol",
      "carol's private message",
      { since: w },
    );
    const carolNick = line.nick!;
    // Its spellings FOO{ and FOO{_ are alice's and bob's nicks to the server: 433 twice.
    expect(carolNick).toBe(`${c.third}__`);
    for (const taken of [c.first, bobNick]) expect(sameName(carolNick, taken, c.casemapping)).toBe(false);
    // She can see which nick she got.
    const listed = await runCommand(carol, "irc:list-connections");
    expect(listed.getChildText("note")).toContain(`${IRC_SERVER}: online as ${carolNick}`);

    // Replies to her nick reach her; a reply to alice's spelling of it reaches alice only.
    const cm = carol.mark();
    const a = alice.mark();
    watcher.privmsg(c.third, "to the nick carol wanted");
    watcher.privmsg(carolNick, "to carol");
    const from = contactJid("watcher");
    await carol.waitFor(chatFrom(from, "to carol"), "the reply to carol", { since: cm });
    await alice.waitFor(chatFrom(from, "to the nick carol wanted"), "alice getting her nick's message", {
      since: a,
    });
    expect(carol.stanzas.slice(cm).some(chatFrom(from, "to the nick carol wanted"))).toBe(false);
  });

  it("never lets a nick with a right-to-left override or a zero-width character reach IRC", async () => {
    const dave = await h.login("dave");
    // Prosody's resourceprep refuses U+202E (jid-malformed) and maps U+200B to nothing; Postern
    // refuses what is left (U+2066…U+2069, newer than stringprep) with not-acceptable.
    expect(await joinOutcome(dave, "da\u202Eve")).toEqual({ error: "jid-malformed" });
    expect(await joinOutcome(dave, "\u2066dave\u2069")).toEqual({ error: "not-acceptable" });
    expect(await joinOutcome(dave, "da\u200Bve")).toEqual({ nick: "dave" });
  });

  it("refuses such nicks in the adapter itself, whatever the XMPP server let through", async () => {
    const adapter = ircAdapter.create({
      gateway: { domain: "irc.localhost", name: "IRC" },
      settings: ircAdapter.configSchema.parse({
        servers: { [IRC_SERVER]: { host: "127.0.0.1", port: h.ircd.port } },
      }),
      log: pino({ level: "silent" }),
      state: new MemoryState(),
      files: undefined,
      leases: new MemoryLeases(),
      fetcher: testFetcher(),
    });
    const session = await adapter.openSession(harnessSession("dave@localhost").context);
    try {
      for (const nick of ["da\u202Eve", "da\u200Bve", "\u2066dave\u2069", "dave\uFEFF", "da\u200Dve"]) {
        const refused = await session.joinRoom!({ room: `${CHANNEL}%${IRC_SERVER}`, nick }).catch(
          (e: unknown) => e,
        );
        expect(refused, JSON.stringify(nick)).toBeInstanceOf(AdapterError);
        expect((refused as AdapterError).condition).toBe("not-acceptable");
      }
    } finally {
      await session.close();
      await adapter.stop();
    }
  });

  it("gives a nick with Cyrillic look-alikes, which IRC servers refuse, the nick derived from the JID", async () => {
    const erin = await h.login("erin");
    const w = watcher.mark();
    const joined = await joinRoom(erin, CHANNEL, "\u0435rin"); // Cyrillic е
    expect(nickOf(joined.self)).toBe("erin");
    expect(statusCodes(joined.self)).toEqual(expect.arrayContaining(["110", "210"]));
    await watcher.waitFor((l) => l.command === "JOIN" && l.nick === "erin", "erin's JOIN", { since: w });
  });

  it("never registers a configured nick with invisible characters", async () => {
    const frank = await h.login("frank");
    // The command refuses it and says why; and IRC must not see it either way.
    const refused = await runCommand(frank, "irc:configure-server", [
      { server: IRC_SERVER },
      { nick: "fr\u202Eank" },
    ]);
    expect(refused.getChild("note")?.attrs.type).toBe("error");
    expect(refused.getChildText("note")).toContain("invisible or text-direction characters");
    const w = watcher.mark();
    const joined = await joinRoom(frank, CHANNEL, "frank");
    expect(nickOf(joined.self)).toBe("frank");
    await watcher.waitFor((l) => l.command === "JOIN" && l.nick === "frank", "frank's JOIN", { since: w });
  });

  it("showed IRC users only plain ASCII nicks", () => {
    const seen = nicksSeen(watcher.lines);
    expect(seen).toContain(c.first);
    expect(seen.filter((n) => !/^[\x21-\x7E]+$/.test(n))).toEqual([]);
  });
});

describe("portal rooms: look-alike nicks", () => {
  const ROOM = `#plaza@${GATEWAY}`;
  let h: Harness;
  let alice: XmppTestClient;
  let bob: XmppTestClient;
  let mallory: XmppTestClient;

  beforeAll(async () => {
    h = await startHarness({ portalRooms: ["#plaza"] });
    h.network.roomMembers.set("#plaza", [{ nick: "mayor", role: "moderator", affiliation: "owner" }]);
    [alice, bob, mallory] = await Promise.all([h.login("alice"), h.login("bob"), h.login("mallory")]);
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
  });

  /** Joins and returns the self-presence. */
  async function join(client: XmppTestClient, nick: string): Promise<Element> {
    const mark = client.mark();
    await client.sendPresence({ to: `${ROOM}/${nick}` }, [xml("x", { xmlns: NS_MUC })]);
    await client.waitFor((s) => s.getChild("subject") !== undefined, `the join as ${nick} to finish`, {
      since: mark,
    });
    const self = client.stanzas
      .slice(mark)
      .find((s) => s.name === "presence" && statusCodes(s).includes("110"));
    if (!self) throw new Error(`no self-presence for the join as ${nick}`);
    return self;
  }

  const portalNicks = () => (h.network.portalOccupants.get("#plaza") ?? []).map((o) => o.nick).sort();

  it("lets a nick that looks like another occupant's in with a suffix, and says so with 210", async () => {
    const a = await join(alice, "alice");
    expect(a.attrs.from).toBe(`${ROOM}/alice`);

    const b = await join(bob, "\u0430lice"); // Cyrillic а
    expect(b.attrs.from).toBe(`${ROOM}/\u0430lice (2)`);
    expect(statusCodes(b)).toEqual(expect.arrayContaining(["110", "210"]));

    const m = await join(mallory, "aIice"); // capital I
    expect(m.attrs.from).toBe(`${ROOM}/aIice (3)`);
    expect(statusCodes(m)).toContain("210");
    expect(portalNicks()).toEqual(["aIice (3)", "alice", "\u0430lice (2)"].sort());
  });

  it("shows the network each writer under their distinct nick", async () => {
    const before = h.network.portalSent.length;
    await bob.send(xml("message", { to: ROOM, type: "groupchat", id: "p-b" }, xml("body", {}, "from bob")));
    await alice.waitFor((s) => body(s) === "from bob", "bob's message reaching alice");
    const sent = h.network.portalSent.slice(before);
    expect(sent.map((s) => [s.from.nick, s.from.jid, s.text])).toEqual([
      ["\u0430lice (2)", "bob@localhost", "from bob"],
    ]);
    const seenByAlice = alice.stanzas.find((s) => body(s) === "from bob");
    expect(seenByAlice?.attrs.from).toBe(`${ROOM}/\u0430lice (2)`);
  });

  it("suffixes a nick that looks like a network member's", async () => {
    await leave(mallory);
    const m = await join(mallory, "MAYOR");
    expect(m.attrs.from).toBe(`${ROOM}/MAYOR (2)`);
  });

  it("keeps refusing a nick that is exactly an occupant's with conflict", async () => {
    await leave(mallory);
    const mark = mallory.mark();
    await mallory.sendPresence({ to: `${ROOM}/alice` }, [xml("x", { xmlns: NS_MUC })]);
    const err = await mallory.waitFor(
      (s) => s.name === "presence" && s.attrs.type === "error",
      "a conflict",
      {
        since: mark,
      },
    );
    expect(err.getChild("error")?.getChild("conflict")).toBeDefined();
  });

  async function leave(client: XmppTestClient): Promise<void> {
    const mark = client.mark();
    await client.sendPresence({ to: `${ROOM}/x`, type: "unavailable" });
    await client.waitFor(
      (s) => s.name === "presence" && s.attrs.type === "unavailable" && statusCodes(s).includes("110"),
      "leaving the portal room",
      { since: mark },
    );
  }
});
