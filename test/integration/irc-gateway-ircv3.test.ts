/**
 * The IRC gateway's IRCv3 parts end to end on a real InspIRCd 3 (Prosody, Postern, Redis):
 * server-time as XEP-0203 delay, echo-message reflected once to every resource with the id the
 * client gave, msgid kept in the id map. Registrations on InspIRCd are slow (~1 s), so one raw
 * client and one XMPP user serve the whole file.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParsedLine, RawIrcClient } from "../support/irc-client.ts";
import {
  groupchat,
  IRC_GATEWAY,
  IRC_SERVER,
  type IrcHarness,
  joinRoom,
  NS_DELAY,
  roomJid,
  roomMessage,
  startIrcHarness,
} from "../support/irc-gateway-harness.ts";
import { type XmppTestClient, xml } from "../support/xmpp-client.ts";

let h: IrcHarness;
let bob: RawIrcClient;
let alice: XmppTestClient;
let phone: XmppTestClient;
const ROOM_ID = `#v3%${IRC_SERVER}`;

beforeAll(async () => {
  h = await startIrcHarness({ ircd: "inspircd" });
  bob = await h.irc("ircv3bob", ["message-tags", "echo-message", "server-time", "away-notify"]);
  await bob.join("#v3");
  alice = await h.login("alice");
  phone = await h.login("alice", "phone");
  await joinRoom(alice, "#v3", "alice");
  await joinRoom(phone, "#v3", "alice");
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

const fromAlice = (l: ParsedLine) => l.command === "PRIVMSG" && l.params[0] === "#v3" && l.nick === "alice";
const body = (s: { getChildText(name: string): string | null }) => s.getChildText("body");

describe("IRCv3 through the gateway", () => {
  it("stamps messages with the server's time (server-time → XEP-0203 delay)", async () => {
    const m = alice.mark();
    bob.privmsg("#v3", "what time is it?");
    const msg = await alice.waitFor(roomMessage("#v3", "ircv3bob"), "ircv3bob's message", { since: m });
    const own = await bob.waitFor(
      (l) => l.command === "PRIVMSG" && l.nick === "ircv3bob",
      "bob's own echo with its tags",
    );
    const delay = msg.getChild("delay", NS_DELAY);
    expect(delay?.attrs.from).toBe(roomJid("#v3"));
    expect(new Date(delay?.attrs.stamp ?? "").getTime()).toBe(new Date(own.tags.time ?? "").getTime());
  });

  it("reflects the user's message once to each resource, with the id it was sent with (echo-message)", async () => {
    const b = bob.mark();
    const m1 = alice.mark();
    const m2 = phone.mark();
    const text = `${"long ".repeat(150)}end`;
    await phone.send(groupchat("#v3", text, "echo-1"));
    // Two resources' stanzas have no order between them: let the first go out first.
    await phone.waitFor((s) => s.attrs.id === "echo-1", "the phone's reflection", { since: m2 });
    await alice.send(groupchat("#v3", "short one", "echo-2"));
    for (const [client, since] of [
      [alice, m1],
      [phone, m2],
    ] as const) {
      const copies = await client.waitForAll(roomMessage("#v3", "alice"), 2, "both reflections", { since });
      expect(copies.map((s) => s.attrs.id)).toEqual(["echo-1", "echo-2"]);
      expect(copies.map(body)).toEqual([text, "short one"]);
    }
    const lines = await bob.waitForAll(fromAlice, 3, "the long message's pieces and the short one", {
      since: b,
    });
    expect(lines.map((l) => l.params[1]).join("")).toBe(`${text}short one`);
    // Each message was reflected exactly once per resource, however many lines it took.
    const probe = alice.mark();
    await alice.send(groupchat("#v3", "probe", "echo-3"));
    await alice.waitFor((s) => s.attrs.id === "echo-3", "the probe's reflection", { since: probe });
    expect(alice.stanzas.slice(m1).filter((s) => s.attrs.id === "echo-1")).toHaveLength(1);
    expect(phone.stanzas.slice(m2).filter((s) => s.attrs.id === "echo-1")).toHaveLength(1);
  });

  it("keeps IRCv3 msgids in the id map, both for the user's messages and for others'", async () => {
    const b = bob.mark();
    const m = alice.mark();
    await alice.send(groupchat("#v3", "remember me", "msgid-1"));
    const line = await bob.waitFor(fromAlice, "alice's line with its msgid", { since: b });
    const sentId = line.tags.msgid;
    expect(sentId).toMatch(/\S+/);
    await alice.waitFor((s) => s.attrs.id === "msgid-1", "the reflection", { since: m });
    const idMap = h.postern.store.idMap;
    expect(await idMap.legacyIdFor(IRC_GATEWAY, "alice@localhost", ROOM_ID, "msgid-1")).toBe(sentId);

    bob.privmsg("#v3", "and me");
    const own = await bob.waitFor(
      (l) => l.command === "PRIVMSG" && l.nick === "ircv3bob" && l.params[1] === "and me",
      "bob's own line with its msgid",
      { since: b },
    );
    const received = await alice.waitFor(
      (s) => roomMessage("#v3", "ircv3bob")(s) && body(s) === "and me",
      "bob's message",
      { since: m },
    );
    expect(await idMap.stanzaIdFor(IRC_GATEWAY, "alice@localhost", ROOM_ID, own.tags.msgid ?? "")).toBe(
      received.attrs.id,
    );
  });

  it("carries away both ways: away-notify → show=away, XMPP away → IRC AWAY", async () => {
    const m = alice.mark();
    bob.send("AWAY :lunch");
    const away = await alice.waitFor(
      (s) =>
        s.name === "presence" &&
        s.attrs.from === `${roomJid("#v3")}/ircv3bob` &&
        s.getChildText("show") === "away",
      "ircv3bob shown as away",
      { since: m },
    );
    expect(away.attrs.type).toBeUndefined();
    bob.send("AWAY");

    const b = bob.mark();
    await alice.sendPresence({ to: IRC_GATEWAY }, [
      xml("show", {}, "away"),
      xml("status", {}, "in a meeting"),
    ]);
    const line = await bob.waitFor((l) => l.command === "AWAY" && l.nick === "alice", "alice's AWAY", {
      since: b,
    });
    expect(line.params[0]).toBe("in a meeting");
    await alice.sendPresence({ to: IRC_GATEWAY });
    const back = await bob.waitFor(
      (l) => l.command === "AWAY" && l.nick === "alice" && l.params.length === 0,
      "alice back",
      { since: b },
    );
    expect(back).toBeDefined();
  });
});
