/**
 * R8 (RELIABILITY.md) for the IRC link with IRCv3 echo-message, on a real InspIRCd: the server's
 * echo of a line confirms it, so a message echoed before the link went silent is not sent again,
 * while the messages written into the dead link (never echoed) are, once the link is back, in
 * order, and the user sees their own copy of each once (from the new echo). irc-keepalive.test.ts
 * shows the same on ngIRCd, which has no echo-message.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParsedLine } from "../support/irc-client.ts";
import {
  groupchat,
  IRC_GATEWAY,
  type IrcHarness,
  joinRoom,
  roomJid,
  roomMessage,
  startIrcHarness,
} from "../support/irc-gateway-harness.ts";
import type { Element } from "../support/xmpp-client.ts";

const KEEPALIVE_MS = 1_000;
const DEAD_AFTER_MS = 4_000;

let h: IrcHarness;

beforeAll(async () => {
  h = await startIrcHarness({
    ircd: "inspircd",
    faultProxy: true,
    settings: `keepaliveMs: ${KEEPALIVE_MS}\n      deadAfterMs: ${DEAD_AFTER_MS}`,
  });
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

const gatewayPresence = (s: Element) => s.name === "presence" && s.attrs.from === IRC_GATEWAY;
const byAlice = (l: ParsedLine) =>
  l.command === "PRIVMSG" && l.params[0] === "#echo" && l.nick?.startsWith("alice") === true;
const ownCopy = (s: Element) =>
  roomMessage("#echo")(s) && s.attrs.from?.startsWith(`${roomJid("#echo")}/alice`) === true;

describe("R8 with echo-message: the IRC link goes silent", () => {
  it("resends what was never echoed, in order and once, and not what was", async () => {
    const proxy = h.ircProxy!;
    const alice = await h.login("alice");
    await alice.sendPresence({ to: IRC_GATEWAY });
    const watch = await h.irc("echowatch");
    await watch.join("#echo");
    await joinRoom(alice, "#echo", "alice");

    const m = alice.mark();
    await alice.send(groupchat("#echo", "echoed before the fault", "echoed"));
    // Alice's own copy comes from the server's echo: the line is confirmed.
    await alice.waitFor(
      (s) => ownCopy(s) && s.getChildText("body") === "echoed before the fault",
      "alice's own copy (the echo) of her first message",
      { since: m },
    );
    proxy.blackhole();
    const inFlight = ["in flight 1", "in flight 2"];
    for (const [n, text] of inFlight.entries()) await alice.send(groupchat("#echo", text, `flight-${n}`));
    await alice.waitFor(
      (s) => gatewayPresence(s) && /lost localhost.*no answer/.test(s.getChildText("status") ?? ""),
      "the gateway saying the IRC link is dead",
      { since: m, timeoutMs: DEAD_AFTER_MS + 30_000 },
    );

    const w = watch.mark();
    proxy.pass();
    await watch.waitFor(
      (l) => byAlice(l) && l.params[1] === inFlight[inFlight.length - 1],
      "the last message written into the dead link, after the blackhole lifts",
      { since: w, timeoutMs: 60_000 },
    );
    await alice.waitFor(
      (s) => ownCopy(s) && s.getChildText("body") === inFlight[inFlight.length - 1],
      "alice's own copy of her last message",
      { since: m, timeoutMs: 30_000 },
    );

    const seen = watch.lines.filter(byAlice).map((l) => l.params[1]);
    expect(seen, "what #echo saw from alice, start to end").toEqual(["echoed before the fault", ...inFlight]);
    const own = alice.stanzas
      .slice(m)
      .filter(ownCopy)
      .map((s) => s.getChildText("body"));
    expect(own, "alice's own copies, each once").toEqual(["echoed before the fault", ...inFlight]);
    const errors = alice.stanzas.slice(m).filter((s) => s.name === "message" && s.attrs.type === "error");
    expect(errors, "error replies").toEqual([]);
  }, 120_000);
});
