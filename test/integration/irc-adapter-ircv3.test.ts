/**
 * The IRC adapter's IRCv3 parts against a real InspIRCd 3: server-time and msgid on events,
 * echo-message matched to the XMPP stanza id, away-notify.
 */
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ircAdapter } from "../../adapters/irc/index.ts";
import type {
  Adapter,
  MessageEvent,
  RoomMemberEvent,
  Session,
  SessionEvent,
} from "../../src/adapter/index.ts";
import { plain } from "../../src/adapter/index.ts";
import {
  type HarnessSession,
  harnessSession,
  MemoryLeases,
  MemoryState,
  testFetcher,
} from "../support/adapter-harness.ts";
import { connectIrc, type RawIrcClient } from "../support/irc-client.ts";
import { type IrcServer, startInspircd } from "../support/ircd.ts";

const SERVER = "inspircd.test";
let ircd: IrcServer;
let adapter: Adapter;
const cleanups: (() => Promise<void>)[] = [];

const room = (channel: string) => `${channel}%${SERVER}`;
const isMessage = (e: SessionEvent): e is MessageEvent => e.type === "message";

async function openUser(local: string): Promise<{ session: Session; h: HarnessSession }> {
  const h = harnessSession(`${local}@localhost`);
  const session = await adapter.openSession(h.context);
  cleanups.push(() => session.close("test done"));
  return { session, h };
}

async function raw(nick: string, caps: string[] = []): Promise<RawIrcClient> {
  const client = await connectIrc({ port: ircd.port, nick, caps });
  cleanups.push(() => client.close());
  return client;
}

beforeAll(async () => {
  ircd = await startInspircd({ serverName: SERVER });
  adapter = ircAdapter.create({
    gateway: { domain: "irc.localhost", name: "IRC" },
    settings: ircAdapter.configSchema.parse({
      servers: { [SERVER]: { host: "127.0.0.1", port: ircd.port } },
      flood: {
        burst: 100,
        refillMs: 10,
        maxQueued: 500,
        networkLinesPerSecond: 100_000,
        maxLinesPerMessage: 100,
      },
      connections: { minIntervalMs: 0 },
    }),
    log: pino({ level: "silent" }),
    state: new MemoryState(),
    files: undefined,
    leases: new MemoryLeases(),
    fetcher: testFetcher(),
  });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await adapter?.stop();
  await ircd?.stop();
});

describe("IRC adapter on InspIRCd (IRCv3)", () => {
  it("puts server-time and msgid on incoming messages", async () => {
    const bob = await raw("bob");
    await bob.join("#v3");
    const { session, h } = await openUser("alice");
    await session.joinRoom!({ room: room("#v3"), nick: "alice" });
    bob.privmsg("#v3", "tagged");
    const event = await h.waitForEvent<MessageEvent>(
      (e) => isMessage(e) && e.from.nick === "bob",
      "bob's message",
    );
    expect(event.text.text).toBe("tagged");
    expect(event.id).toMatch(/\S+/);
    expect(event.timestamp).toBeInstanceOf(Date);

    // A reply (IRCv3 +draft/reply client tag) names the msgid it answers.
    const carol = await raw("carol", ["message-tags"]);
    await carol.join("#v3");
    carol.send(`@+draft/reply=${event.id} PRIVMSG #v3 :a reply`);
    const reply = await h.waitForEvent<MessageEvent>(
      (e) => isMessage(e) && e.from.nick === "carol",
      "carol's reply",
    );
    expect(reply.replyTo).toBe(event.id);
  });

  it("matches echo-message reflections to the clientId, once per message even when split", async () => {
    const bob = await raw("bob2");
    await bob.join("#echo");
    const { session, h } = await openUser("alice2");
    await session.joinRoom!({ room: room("#echo"), nick: "alice2" });
    const since = h.mark();
    await session.sendMessage({
      conversation: { kind: "room", id: room("#echo") },
      kind: "normal",
      text: plain("line one\nline two"),
      clientId: "stanza-42",
    });
    const echo = await h.waitForEvent<MessageEvent>((e) => isMessage(e) && e.from.self === true, "the echo", {
      since,
    });
    expect(echo).toMatchObject({ echoOf: "stanza-42", text: { text: "line one\nline two" } });
    expect(echo.id).toMatch(/\S+/);
    expect(echo.timestamp).toBeInstanceOf(Date);
    // Bob's copy proves both lines went out; only one self event was reported for them.
    await bob.waitForAll((l) => l.command === "PRIVMSG" && l.nick === "alice2", 2, "both lines at bob2");
    await session.sendMessage({
      conversation: { kind: "room", id: room("#echo") },
      kind: "normal",
      text: plain("next"),
      clientId: "stanza-43",
    });
    await h.waitForEvent((e) => isMessage(e) && e.echoOf === "stanza-43", "the second echo", { since });
    expect(h.events.slice(since).filter((e) => isMessage(e) && e.from.self === true)).toHaveLength(2);
  });

  it("reports away changes of occupants (away-notify)", async () => {
    const bob = await raw("bob3");
    await bob.join("#away");
    const { session, h } = await openUser("alice3");
    await session.joinRoom!({ room: room("#away"), nick: "alice3" });
    bob.send("AWAY :lunch");
    const away = await h.waitForEvent<RoomMemberEvent>(
      (e) => e.type === "room.member" && e.change === "away",
      "bob3 away",
    );
    expect(away.occupant).toMatchObject({ nick: "bob3", away: true });
  });
});
