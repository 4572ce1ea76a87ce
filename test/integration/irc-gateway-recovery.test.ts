/**
 * The IRC gateway when things break, end to end (Prosody, Postern, ngIRCd, Redis): an IRC server
 * that is down at the first connection, an IRC server restart (R5), and Postern killed and
 * started again. What the XMPP user is told, and that nothing they sent is lost.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParsedLine } from "../support/irc-client.ts";
import {
  contactJid,
  groupchat,
  IRC_GATEWAY,
  type IrcHarness,
  joinRoom,
  NS_MUC,
  roomJid,
  roomMessage,
  startIrcHarness,
  statusCodes,
} from "../support/irc-gateway-harness.ts";
import { type Element, xml } from "../support/xmpp-client.ts";

let h: IrcHarness;

beforeAll(async () => {
  h = await startIrcHarness();
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

const privmsg = (target: string, from: string) => (l: ParsedLine) =>
  l.command === "PRIVMSG" && l.params[0] === target && l.nick === from;
const gatewayPresence = (s: Element) => s.name === "presence" && s.attrs.from === IRC_GATEWAY;

describe("IRC server down or restarting", () => {
  it("keeps trying a server that is down at the first connection, tells the user, and joins once it is up", async () => {
    const carol = await h.login("carol");
    await carol.sendPresence({ to: IRC_GATEWAY });
    h.blockIrc(true);
    const m = carol.mark();
    await carol.sendPresence({ to: `${roomJid("#first")}/carol` }, [xml("x", { xmlns: NS_MUC })]);
    const waiting = await carol.waitFor(
      (s) =>
        gatewayPresence(s) &&
        /cannot connect to localhost.*trying again/.test(s.getChildText("status") ?? ""),
      "the gateway saying it cannot connect yet",
      { since: m },
    );
    expect(waiting.getChildText("show")).toBe("xa");
    // A second failed attempt: it really retries.
    const n = carol.mark();
    await carol.waitFor(
      (s) => gatewayPresence(s) && /trying again/.test(s.getChildText("status") ?? ""),
      "another attempt",
      { since: n },
    );

    h.blockIrc(false);
    const self = await carol.waitFor(
      (s) =>
        s.name === "presence" &&
        s.attrs.from === `${roomJid("#first")}/carol` &&
        statusCodes(s).includes("110"),
      "carol's self-presence once the server is reachable",
      { since: m, timeoutMs: 20_000 },
    );
    expect(self.attrs.type).toBeUndefined();
    const online = await carol.waitFor(
      (s) => gatewayPresence(s) && s.attrs.type === undefined && s.getChild("show") === undefined,
      "the gateway online",
      { since: m },
    );
    expect(online).toBeDefined();
  });

  it("reconnects after the IRC server restarts: the user is told, channels are rejoined, what was sent meanwhile arrives in order", async () => {
    const alice = await h.login("alice");
    await alice.sendPresence({ to: IRC_GATEWAY });
    await joinRoom(alice, "#survive", "alice");

    h.blockIrc(true);
    const m = alice.mark();
    await h.ircd.restart({ downMs: 200 });
    const lost = await alice.waitFor(
      (s) => gatewayPresence(s) && /lost localhost/.test(s.getChildText("status") ?? ""),
      "the gateway saying the connection was lost",
      { since: m },
    );
    expect(lost.getChildText("show")).toBe("xa");

    // Sent while the connection is down: queued, nothing refused.
    for (const n of [1, 2, 3]) await alice.send(groupchat("#survive", `queued ${n}`, `q-${n}`));
    for (let n = 0; n < 100; n++) {
      await alice.send(
        xml(
          "message",
          { to: contactJid("ircwatch"), type: "chat", id: `pm-${n}` },
          xml("body", {}, `pm ${n}`),
        ),
      );
    }
    // The 101st message waiting for one conversation is refused, so nothing is lost silently.
    await alice.send(
      xml("message", { to: contactJid("ircwatch"), type: "chat", id: "pm-100" }, xml("body", {}, "pm 100")),
    );
    const refused = await alice.waitFor(
      (s) => s.attrs.id === "pm-100" && s.attrs.type === "error",
      "the 101st queued message refused",
      { since: m },
    );
    expect(refused.getChild("error")?.attrs.type).toBe("wait");
    expect(refused.getChild("error")?.getChild("recipient-unavailable")).toBeDefined();

    const watch = await h.irc("ircwatch");
    await watch.join("#survive");
    const w = watch.mark();
    h.blockIrc(false);

    await watch.waitFor(
      (l) => l.command === "JOIN" && l.nick === "alice" && l.params[0] === "#survive",
      "alice rejoining #survive",
      {
        since: w,
        timeoutMs: 20_000,
      },
    );
    const room = await watch.waitForAll(privmsg("#survive", "alice"), 3, "the three queued room messages", {
      since: w,
    });
    expect(room.map((l) => l.params[1])).toEqual(["queued 1", "queued 2", "queued 3"]);
    const pms = await watch.waitForAll(
      privmsg("ircwatch", "alice"),
      100,
      "the hundred queued private messages",
      { since: w },
    );
    expect(pms.map((l) => l.params[1])).toEqual(Array.from({ length: 100 }, (_, n) => `pm ${n}`));
    expect(watch.lines.slice(w).some((l) => l.params[1] === "pm 100")).toBe(false);

    // The user's copies of the room messages come once they went out, with the ids they had.
    const copies = await alice.waitForAll(
      roomMessage("#survive", "alice"),
      3,
      "the reflections of the queued messages",
      { since: m },
    );
    expect(copies.map((s) => s.attrs.id)).toEqual(["q-1", "q-2", "q-3"]);
    await alice.waitFor(
      (s) => gatewayPresence(s) && s.attrs.type === undefined && s.getChild("show") === undefined,
      "the gateway online again",
      { since: m },
    );

    // And messages flow again both ways.
    const n = alice.mark();
    watch.privmsg("#survive", "welcome back");
    await alice.waitFor(
      (s) => roomMessage("#survive", "ircwatch")(s) && s.getChildText("body") === "welcome back",
      "a message after the restart",
      { since: n },
    );
    await alice.send(groupchat("#survive", "glad to be back", "after-1"));
    await watch.waitFor(
      (l) => privmsg("#survive", "alice")(l) && l.params[1] === "glad to be back",
      "alice's message after the restart",
      { since: w },
    );
  });
});

describe("Postern killed", () => {
  it("brings the user's IRC connection back and rejoins the channel", async () => {
    const erin = await h.login("erin");
    await erin.sendPresence({ to: IRC_GATEWAY });
    const watch = await h.irc("irccrash");
    await watch.join("#crash");
    await joinRoom(erin, "#crash", "erin");
    const w = watch.mark();

    // Held back until the server has seen the old connection go, so the nick is free again.
    h.blockIrc(true);
    await h.crashPostern();
    // The old connection just drops (no QUIT reason of ours), then erin comes back as erin.
    const quit = await watch.waitFor(
      (l) => l.command === "QUIT" && l.nick === "erin",
      "erin's old connection dropping",
      { since: w },
    );
    expect(quit.params[0] ?? "").not.toContain("Postern");
    h.blockIrc(false);
    await watch.waitFor(
      (l) => l.command === "JOIN" && l.nick === "erin" && l.params[0] === "#crash",
      "erin rejoining #crash",
      {
        since: w,
        timeoutMs: 20_000,
      },
    );

    const m = erin.mark();
    watch.privmsg("#crash", "are you back?");
    await erin.waitFor(
      (s) => roomMessage("#crash", "irccrash")(s) && s.getChildText("body") === "are you back?",
      "a message after the crash",
      { since: m },
    );
    const v = watch.mark();
    await erin.send(groupchat("#crash", "yes", "crash-1"));
    await watch.waitFor(
      (l) => privmsg("#crash", "erin")(l) && l.params[1] === "yes",
      "erin's message after the crash",
      { since: v },
    );
  });
});
