/**
 * The IRC adapter against a real ngIRCd, driven directly (no XMPP): what the IRC side sees on
 * the wire (raw test clients) and what the adapter emits (harness).
 */

import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ircAdapter } from "../../adapters/irc/index.ts";
import type {
  Adapter,
  JoinedRoom,
  MessageEvent,
  RoomMemberEvent,
  RoomTopicEvent,
  Session,
  SessionEvent,
} from "../../src/adapter/index.ts";
import { AdapterError, plain } from "../../src/adapter/index.ts";
import {
  type HarnessSession,
  harnessSession,
  MemoryLeases,
  MemoryState,
  testFetcher,
} from "../support/adapter-harness.ts";
import { connectIrc, type ParsedLine, type RawIrcClient } from "../support/irc-client.ts";
import { type IrcServer, startNgircd } from "../support/ircd.ts";
import { freePort } from "../support/ports.ts";

const SERVER = "ngircd.test";

let ircd: IrcServer;
let adapter: Adapter;
const cleanups: (() => Promise<void>)[] = [];

function makeAdapter(port: number, overrides: Record<string, unknown> = {}): Adapter {
  const settings = ircAdapter.configSchema.parse({
    servers: { [SERVER]: { host: "127.0.0.1", port } },
    flood: {
      burst: 100,
      refillMs: 10,
      maxQueued: 500,
      networkLinesPerSecond: 100_000,
      maxLinesPerMessage: 100,
    },
    connections: { minIntervalMs: 0 },
    reconnect: { minMs: 200, maxMs: 1000 },
    ...overrides,
  });
  return ircAdapter.create({
    gateway: { domain: "irc.localhost", name: "IRC" },
    settings,
    log: pino({ level: "silent" }),
    state: new MemoryState(),
    files: undefined,
    leases: new MemoryLeases(),
    fetcher: testFetcher(),
  });
}

async function openUser(
  local: string,
  registration: Record<string, string> = {},
  on: Adapter = adapter,
): Promise<{ session: Session; h: HarnessSession }> {
  const h = harnessSession(`${local}@localhost`, registration);
  const session = await on.openSession(h.context);
  cleanups.push(() => session.close("test done"));
  return { session, h };
}

async function raw(nick: string): Promise<RawIrcClient> {
  const client = await connectIrc({ port: ircd.port, nick });
  cleanups.push(() => client.close());
  return client;
}

const room = (channel: string) => `${channel}%${SERVER}`;
const msg = (conversation: { kind: "room" | "direct"; id: string }, text: string, clientId = "c1") => ({
  conversation,
  kind: "normal" as const,
  text: plain(text),
  clientId,
});
const isMessage = (e: SessionEvent): e is MessageEvent => e.type === "message";
const isMember = (e: SessionEvent): e is RoomMemberEvent => e.type === "room.member";
const privmsgTo = (target: string, from?: string) => (l: ParsedLine) =>
  l.command === "PRIVMSG" && l.params[0] === target && (from === undefined || l.nick === from);

beforeAll(async () => {
  ircd = await startNgircd({ serverName: SERVER });
  adapter = makeAdapter(ircd.port);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await adapter?.stop();
  await ircd?.stop();
});

describe("IRC adapter on ngIRCd", () => {
  it("joins a channel and reports occupants with roles from prefixes", async () => {
    const bob = await raw("bob");
    await bob.join("#roles");
    const carol = await raw("carol");
    await carol.join("#roles");
    bob.send("MODE #roles +v carol");
    await carol.waitFor((l) => l.command === "MODE" && l.params[1] === "+v", "carol voiced");

    const { session } = await openUser("alice");
    const joined = (await session.joinRoom!({ room: room("#roles"), nick: "alice" })) as JoinedRoom;
    expect(joined.nick).toBe("alice");
    const byNick = new Map(joined.occupants.map((o) => [o.nick, o]));
    expect(byNick.get("bob")).toMatchObject({
      role: "moderator",
      affiliation: "admin",
      contactId: `bob%${SERVER}`,
    });
    expect(byNick.get("carol")).toMatchObject({ role: "participant", affiliation: "member" });
    expect(byNick.get("alice")).toMatchObject({ role: "participant", affiliation: "none" });

    // A second join returns the snapshot at once.
    const again = await session.joinRoom!({ room: room("#roles"), nick: "alice" });
    expect(again.occupants.map((o) => o.nick).sort()).toEqual(["alice", "bob", "carol"]);
  });

  it("carries messages, actions and notices both ways, with a self echo", async () => {
    const bob = await raw("bob2");
    await bob.join("#talk");
    const { session, h } = await openUser("alice2");
    await session.joinRoom!({ room: room("#talk"), nick: "alice2" });

    bob.privmsg("#talk", "hello \x02alice\x02");
    const incoming = await h.waitForEvent<MessageEvent>(
      (e) => isMessage(e) && e.from.nick === "bob2",
      "bob2's message in #talk",
    );
    expect(incoming).toMatchObject({ conversation: { kind: "room", id: room("#talk") }, kind: "normal" });
    expect(incoming.text.text).toBe("hello alice");
    expect(incoming.text.spans).toEqual([{ kind: "bold", start: 6, end: 11 }]);

    bob.send("PRIVMSG #talk :\x01ACTION waves\x01");
    const action = await h.waitForEvent<MessageEvent>(
      (e) => isMessage(e) && e.kind === "action",
      "bob2's action",
    );
    expect(action.text.text).toBe("waves");

    bob.send("NOTICE #talk :a notice");
    const notice = await h.waitForEvent<MessageEvent>(
      (e) => isMessage(e) && e.kind === "notice",
      "bob2's notice",
    );
    expect(notice.text.text).toBe("a notice");

    const mark = bob.mark();
    const since = h.mark();
    await session.sendMessage(msg({ kind: "room", id: room("#talk") }, "hi bob", "stanza-1"));
    const line = await bob.waitFor(privmsgTo("#talk", "alice2"), "alice2's PRIVMSG", { since: mark });
    expect(line.params[1]).toBe("hi bob");
    const echo = await h.waitForEvent<MessageEvent>(
      (e) => isMessage(e) && e.from.self === true,
      "self echo",
      { since },
    );
    expect(echo.echoOf).toBe("stanza-1");

    await session.sendMessage({ ...msg({ kind: "room", id: room("#talk") }, "dances"), kind: "action" });
    const act = await bob.waitFor(
      (l) => privmsgTo("#talk", "alice2")(l) && l.params[1] === "\x01ACTION dances\x01",
      "alice2's ACTION",
      { since: mark },
    );
    expect(act).toBeDefined();
  });

  it("carries private messages both ways", async () => {
    const bob = await raw("bob3");
    const { session, h } = await openUser("alice3");
    await session.joinRoom!({ room: room("#pm"), nick: "alice3" }); // connects
    await session.sendMessage(msg({ kind: "direct", id: `bob3%${SERVER}` }, "psst"));
    const line = await bob.waitFor(privmsgTo("bob3", "alice3"), "private message to bob3");
    expect(line.params[1]).toBe("psst");

    bob.privmsg("alice3", "psst back");
    const pm = await h.waitForEvent<MessageEvent>(
      (e) => isMessage(e) && e.from.nick === "bob3",
      "PM from bob3",
    );
    expect(pm.conversation).toEqual({ kind: "direct", id: `bob3%${SERVER}` });
    expect(pm.text.text).toBe("psst back");
    expect(pm.from.contactId).toBe(`bob3%${SERVER}`);
  });

  it("takes a suffixed nick when the nick is in use", async () => {
    await raw("dave");
    const { session } = await openUser("dave");
    const joined = await session.joinRoom!({ room: room("#nicks"), nick: "dave" });
    expect(joined.nick).toBe("dave_");
  });

  it("reports nick changes both ways", async () => {
    const bob = await raw("bob4");
    await bob.join("#nick");
    const { session, h } = await openUser("alice4");
    await session.joinRoom!({ room: room("#nick"), nick: "alice4" });

    bob.send("NICK robert4");
    const change = await h.waitForEvent<RoomMemberEvent>(
      (e) => isMember(e) && e.change === "nick",
      "bob4 → robert4",
    );
    expect(change).toMatchObject({ room: room("#nick"), occupant: { nick: "bob4" }, newNick: "robert4" });

    const mark = bob.mark();
    await session.changeNick!("alicia4");
    await bob.waitFor(
      (l) => l.command === "NICK" && l.nick === "alice4" && l.params[0] === "alicia4",
      "alice4 → alicia4",
      {
        since: mark,
      },
    );
    const self = await h.waitForEvent<RoomMemberEvent>(
      (e) => isMember(e) && e.change === "nick" && e.self === true,
      "own nick change",
    );
    expect(self.newNick).toBe("alicia4");
  });

  it("reports and sets topics", async () => {
    const bob = await raw("bob5");
    await bob.join("#topic");
    bob.send("TOPIC #topic :first topic");
    await bob.waitFor((l) => l.command === "TOPIC", "bob5's topic");
    const { session, h } = await openUser("alice5");
    const joined = await session.joinRoom!({ room: room("#topic"), nick: "alice5" });
    expect(joined.topic).toMatchObject({ text: "first topic", by: "bob5" });

    bob.send("TOPIC #topic :second topic");
    const topic = await h.waitForEvent<RoomTopicEvent>((e) => e.type === "room.topic", "topic change");
    expect(topic).toMatchObject({ room: room("#topic"), topic: "second topic", by: "bob5" });

    const mark = bob.mark();
    await session.setTopic!(room("#topic"), "from\r\nxmpp");
    const line = await bob.waitFor((l) => l.command === "TOPIC" && l.nick === "alice5", "alice5's topic", {
      since: mark,
    });
    expect(line.params[1]).toBe("from xmpp");
  });

  it("reports kicks and bans, for others and for the user", async () => {
    const bob = await raw("bob6");
    await bob.join("#kick");
    const carol = await raw("carol6");
    await carol.join("#kick");
    const { session, h } = await openUser("alice6");
    await session.joinRoom!({ room: room("#kick"), nick: "alice6" });

    bob.send("KICK #kick carol6 :behave");
    const kick = await h.waitForEvent<RoomMemberEvent>(
      (e) => isMember(e) && e.change === "kick",
      "carol6 kicked",
    );
    expect(kick).toMatchObject({ occupant: { nick: "carol6" }, actor: "bob6", reason: "behave" });

    bob.send("MODE #kick +b alice6!*@*");
    bob.send("KICK #kick alice6 :bye");
    const ban = await h.waitForEvent<RoomMemberEvent>(
      (e) => isMember(e) && e.change === "ban",
      "alice6 banned",
    );
    expect(ban).toMatchObject({ self: true, actor: "bob6", occupant: { nick: "alice6" } });

    const error = await session.joinRoom!({ room: room("#kick"), nick: "alice6" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdapterError);
    expect((error as AdapterError).condition).toBe("forbidden");
  });

  it("maps a wrong channel key to not-authorized", async () => {
    const bob = await raw("bob7");
    await bob.join("#locked");
    bob.send("MODE #locked +k sesame");
    await bob.waitFor((l) => l.command === "MODE" && l.params[1] === "+k", "key set");
    const { session } = await openUser("alice7");
    const error = await session.joinRoom!({ room: room("#locked"), nick: "alice7", password: "wrong" }).catch(
      (e: unknown) => e,
    );
    expect((error as AdapterError).condition).toBe("not-authorized");
    const joined = await session.joinRoom!({ room: room("#locked"), nick: "alice7", password: "sesame" });
    expect(joined.occupants.map((o) => o.nick)).toContain("bob7");
  });

  it("refuses unsafe channel names and keys before anything reaches the wire", async () => {
    const { session } = await openUser("alice8");
    for (const bad of ["0", "#a,#b", "#a b", "#a\u0007"]) {
      const error = await session.joinRoom!({ room: room(bad), nick: "alice8" }).catch((e: unknown) => e);
      expect(error, bad).toBeInstanceOf(AdapterError);
    }
    const error = await session.joinRoom!({ room: room("#ok8"), nick: "alice8", password: "a b" }).catch(
      (e: unknown) => e,
    );
    expect((error as AdapterError).condition).toBe("not-acceptable");
  });

  it("sends 'hi\\r\\nQUIT :bye' as text and stays connected", async () => {
    const bob = await raw("bob9");
    await bob.join("#inject");
    const { session } = await openUser("alice9");
    await session.joinRoom!({ room: room("#inject"), nick: "alice9" });
    const mark = bob.mark();
    await session.sendMessage(msg({ kind: "room", id: room("#inject") }, "hi\r\nQUIT :bye"));
    const lines = await bob.waitForAll(privmsgTo("#inject", "alice9"), 2, "two PRIVMSGs", { since: mark });
    expect(lines.map((l) => l.params[1])).toEqual(["hi", "QUIT :bye"]);
    await session.sendMessage(msg({ kind: "room", id: room("#inject") }, "still here"));
    const after = await bob.waitForAll(privmsgTo("#inject", "alice9"), 3, "the third PRIVMSG", {
      since: mark,
    });
    expect(after[2]?.params[1]).toBe("still here");
    expect(bob.lines.slice(mark).some((l) => l.command === "QUIT" && l.nick === "alice9")).toBe(false);
  });

  it("delivers a 4000-character message whole, in order, in lines of at most 512 bytes", async () => {
    const bob = await raw("bob10");
    await bob.join("#long");
    const { session } = await openUser("alice10");
    await session.joinRoom!({ room: room("#long"), nick: "alice10" });
    const words = Array.from({ length: 800 }, (_, i) => `w${String(i).padStart(3, "0")}é`);
    const text = words.join(" ").slice(0, 4000);
    const mark = bob.mark();
    await session.sendMessage(msg({ kind: "room", id: room("#long") }, text));
    // Split points keep their space with the next piece, so the pieces add up exactly even
    // though servers strip trailing spaces.
    const receivedText = () =>
      bob.lines
        .slice(mark)
        .filter(privmsgTo("#long", "alice10"))
        .map((l) => l.params[1])
        .join("");
    await bob.waitFor(() => receivedText().length >= text.length, "the pieces of the whole message", {
      since: mark,
    });
    const received = bob.lines.slice(mark).filter(privmsgTo("#long", "alice10"));
    expect(received.length).toBeGreaterThan(1);
    expect(receivedText()).toBe(text);
    for (const line of received) expect(line.bytes.length + 2).toBeLessThanOrEqual(512);
  });

  it("decodes latin-1 from IRC", async () => {
    const bob = await raw("bob11");
    await bob.join("#latin");
    const { session, h } = await openUser("alice11");
    await session.joinRoom!({ room: room("#latin"), nick: "alice11" });
    bob.sendBytes(Buffer.concat([Buffer.from("PRIVMSG #latin :caf"), Buffer.from([0xe9])]));
    const event = await h.waitForEvent<MessageEvent>(
      (e) => isMessage(e) && e.from.nick === "bob11",
      "latin-1 message",
    );
    expect(event.text.text).toBe("café");
  });

  it("refuses servers that are not listed", async () => {
    const { session } = await openUser("alice12");
    const error = await session.joinRoom!({ room: "#x%irc.example.org", nick: "alice12" }).catch(
      (e: unknown) => e,
    );
    expect((error as AdapterError).condition).toBe("item-not-found");
    expect(adapter.classify("#x%irc.example.org")).toBeNull();
    expect(adapter.classify(room("#x"))).toBe("room");
    expect(adapter.classify(`bob%${SERVER}`)).toBe("direct");
    expect(adapter.classify(SERVER)).toBe("direct");
  });
});

describe("XMPP-controlled parameters", () => {
  it("refuses injection attempts in nicks, targets and topics and sends no extra lines", async () => {
    const bob = await raw("bob13");
    await bob.join("#inj13");
    const { session } = await openUser("alice13");
    await session.joinRoom!({ room: room("#inj13"), nick: "alice13" });
    const mark = bob.mark();
    for (const nick of ["a b", "a,b", ":x", "0", "x\r\nQUIT :x", "\u202E"]) {
      const error = await session.changeNick!(nick).catch((e: unknown) => e);
      expect(error, JSON.stringify(nick)).toBeInstanceOf(AdapterError);
    }
    for (const nick of ["a b", "a,b", ":x", "0", "x\r\nQUIT :x"]) {
      const pm = await session
        .sendMessage(msg({ kind: "direct", id: `${nick}%${SERVER}` }, "x"))
        .catch((e: unknown) => e);
      expect(pm, JSON.stringify(nick)).toBeInstanceOf(AdapterError);
    }
    await session.sendMessage(
      msg({ kind: "room", id: room("#inj13") }, "\u0001VERSION\u0001 a\u0000b \rPRIVMSG #x :y"),
    );
    await session.setTopic!(room("#inj13"), "t\r\nQUIT :x");
    await bob.waitFor((l) => l.command === "TOPIC" && l.nick === "alice13", "alice13's topic", {
      since: mark,
    });
    const fromAlice = bob.lines.slice(mark).filter((l) => l.nick === "alice13" && l.command !== "JOIN");
    expect(fromAlice.map((l) => l.command)).toEqual(["PRIVMSG", "PRIVMSG", "TOPIC"]);
    expect(fromAlice.map((l) => l.params[1])).toEqual(["VERSION ab", "PRIVMSG #x :y", "t QUIT :x"]);
  });
});

describe("ad-hoc commands", () => {
  it("configures a server (nick, secret password, auto-join) and lists connections", async () => {
    const { session, h } = await openUser("alice14");
    const configure = adapter.commands!.find((c) => c.node === "irc:configure-server")!;
    const base = {
      user: "alice14@localhost",
      isAdmin: false,
      session,
      userState: h.state,
      target: undefined,
    };
    const pick = await configure.step({ ...base, values: {}, state: undefined });
    expect(pick.kind).toBe("form");
    const edit = await configure.step({
      ...base,
      values: { server: SERVER },
      state: pick.kind === "form" ? pick.state : undefined,
    });
    expect(edit.kind).toBe("form");
    const done = await configure.step({
      ...base,
      values: { nick: "ali14", "nickserv-password": "s3cret", autojoin: ["#auto14"] },
      state: edit.kind === "form" ? edit.state : undefined,
    });
    expect(done.kind).toBe("done");
    expect([...h.state.secrets.values()]).toContain("s3cret");
    expect([...h.state.values.values()].join()).not.toContain("s3cret");

    // The stored nick is used for the next connection.
    const joined = await session.joinRoom!({ room: room("#cfg14"), nick: "alice14" });
    expect(joined.nick).toBe("ali14");
    const list = adapter.commands!.find((c) => c.node === "irc:list-connections")!;
    const listed = await list.step({ ...base, values: {}, state: undefined });
    expect(listed).toMatchObject({ kind: "done" });
    expect(listed.kind === "done" ? listed.note : "").toContain(`${SERVER}: online as ali14 in #cfg14`);

    const disconnect = adapter.commands!.find((c) => c.node === "irc:disconnect")!;
    const result = await disconnect.step({ ...base, values: { server: SERVER }, state: undefined });
    expect(result).toMatchObject({ kind: "done", note: `Disconnected from ${SERVER}.` });

    const adminList = adapter.commands!.find((c) => c.node === "irc:admin-list-connections")!;
    expect((await adminList.step({ ...base, values: {}, state: undefined })).kind).toBe("error");
  });

  it("joins the configured channels when the session opens", async () => {
    const bob = await raw("bob15");
    await bob.join("#auto15");
    const h = harnessSession("alice15@localhost");
    await h.state.setJson(`server:${SERVER}`, { autojoin: [{ channel: "#auto15" }] });
    const session = await adapter.openSession(h.context);
    cleanups.push(() => session.close());
    const self = await h.waitForEvent<RoomMemberEvent>((e) => isMember(e) && e.self === true, "auto-join");
    expect(self).toMatchObject({ room: room("#auto15"), change: "join" });
    await h.waitForEvent((e) => isMember(e) && e.occupant.nick === "bob15", "bob15 listed");
  });
});

describe("flood limiter", () => {
  it("sends 30 lines in order through a burst-5 limiter, and refuses what its queue cannot hold", async () => {
    const limited = makeAdapter(ircd.port, {
      flood: { burst: 5, refillMs: 200, maxQueued: 40, maxLinesPerMessage: 100 },
    });
    cleanups.push(() => limited.stop());
    const bob = await raw("bob20");
    await bob.join("#flood");
    const { session } = await openUser("alice20", {}, limited);
    await session.joinRoom!({ room: room("#flood"), nick: "alice20" });
    const mark = bob.mark();
    const text = Array.from({ length: 30 }, (_, i) => `line ${i}`).join("\n");
    await session.sendMessage(msg({ kind: "room", id: room("#flood") }, text));
    // The queue holds 25 lines now: a message of 20 more does not fit and is refused whole.
    const error = await session
      .sendMessage(
        msg({ kind: "room", id: room("#flood") }, Array.from({ length: 20 }, (_, i) => `x${i}`).join("\n")),
      )
      .catch((e: unknown) => e);
    expect((error as AdapterError).condition).toBe("resource-constraint");
    const lines = await bob.waitForAll(privmsgTo("#flood", "alice20"), 30, "30 lines", {
      since: mark,
      timeoutMs: 20_000,
    });
    expect(lines.map((l) => l.params[1])).toEqual(Array.from({ length: 30 }, (_, i) => `line ${i}`));
    expect(bob.lines.slice(mark).some((l) => l.params[1]?.startsWith("x"))).toBe(false);
  });
});

describe("reconnect", () => {
  it("keeps trying an unreachable server, queues what is said meanwhile, and reports it if the link closes", async () => {
    const down = makeAdapter(await freePort());
    cleanups.push(() => down.stop());
    const { session, h } = await openUser("alice31", {}, down);
    await session.sendMessage(msg({ kind: "direct", id: `bob31%${SERVER}` }, "are you there?"));
    await h.waitForEvent(
      (e) =>
        e.type === "session.state" &&
        e.state === "connecting" &&
        /cannot connect.*trying again/.test(e.reason ?? ""),
      "the first failure",
    );
    await h.waitForEvent(
      (e) => e.type === "session.state" && e.state === "connecting" && /trying again/.test(e.reason ?? ""),
      "a second attempt",
      { since: h.mark() },
    );
    await session.close("bye");
    const notice = await h.waitForEvent(
      (e) => e.type === "notice" && e.conversation?.id === `bob31%${SERVER}`,
      "the notice about the message not sent",
    );
    expect(notice).toMatchObject({
      text: expect.stringContaining("1 message(s) you sent here were not delivered"),
    });
  });

  it("reports reconnecting, comes back online and rejoins its channels after an ngIRCd restart", async () => {
    const { session, h } = await openUser("alice30");
    await session.joinRoom!({ room: room("#survive"), nick: "alice30" });
    const since = h.mark();
    await ircd.restart({ downMs: 300 });
    await h.waitForEvent((e) => e.type === "session.state" && e.state === "reconnecting", "reconnecting", {
      since,
    });
    await h.waitForEvent((e) => e.type === "session.state" && e.state === "online", "online again", {
      since,
      timeoutMs: 20_000,
    });
    const bob = await raw("bob30");
    const mark = bob.mark();
    bob.send("JOIN #survive");
    await bob.waitFor(
      (l) =>
        (l.command === "353" &&
          (l.params[3] ?? "").split(" ").some((n) => n.replace(/^[@+]/, "") === "alice30")) ||
        (l.command === "JOIN" && l.nick === "alice30"),
      "alice30 back in #survive",
      { since: mark },
    );
  });
});
