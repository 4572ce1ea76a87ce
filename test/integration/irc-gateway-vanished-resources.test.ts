/**
 * XMPP resources that vanish without a word (RELIABILITY.md R12, issue 6): when Prosody is killed,
 * its clients' sessions end and no unavailable presence ever reaches Postern. Once the component
 * link is back, Postern asks each resource it believes present; those the server says are gone
 * are removed as a leave would, so a puppet nobody needs leaves its IRC channel and its
 * connection closes. One that came back and joined again stays.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParsedLine, RawIrcClient } from "../support/irc-client.ts";
import {
  IRC_GATEWAY,
  type IrcHarness,
  joinRoom,
  roomJid,
  roomMessage,
  startIrcHarness,
} from "../support/irc-gateway-harness.ts";
import { waitUntil } from "../support/wait.ts";
import { type XmppTestClient, xml } from "../support/xmpp-client.ts";

let h: IrcHarness;

beforeAll(async () => {
  h = await startIrcHarness();
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

/** The puppet `nick` leaving `channel` (PART), or the IRC server altogether (QUIT). */
const leaves = (nick: string, channel: string) => (l: ParsedLine) =>
  l.nick === nick && ((l.command === "PART" && l.params[0] === channel) || l.command === "QUIT");

/** Whether the IRC server has a user `nick` (ISON). */
async function isOnline(watch: RawIrcClient, nick: string): Promise<boolean> {
  const mark = watch.mark();
  watch.send(`ISON ${nick}`);
  const reply = await watch.waitFor((l) => l.command === "303", `the ISON reply for ${nick}`, {
    since: mark,
  });
  return (reply.params[1] ?? "").split(" ").includes(nick);
}

/**
 * A gateway round trip (iq ping): Postern has handled what this client sent before, and Prosody
 * has read what Postern wrote before its answer — so nothing of the setup is still in flight
 * when Prosody is killed.
 */
async function settle(client: XmppTestClient): Promise<void> {
  await client.iq(xml("iq", { type: "get", to: IRC_GATEWAY }, xml("ping", { xmlns: "urn:xmpp:ping" })));
}

/** Prosody killed (SIGKILL) and started again; resolves once Postern's link is back. */
async function killProsody(): Promise<void> {
  const gw = h.postern.gateways[0]!;
  await h.prosody.restart({ kill: true, downMs: 500 });
  await waitUntil(() => gw.online, "the component link back after Prosody was killed", 30_000);
}

describe("resources that vanished while the XMPP server was down", () => {
  it("removes a resource that never came back: the puppet leaves the channel and its connection closes", async () => {
    const watch = await h.irc("watchgone");
    await watch.join("#vanish");
    const carol = await h.login("carol", "laptop");
    await carol.sendPresence({ to: IRC_GATEWAY });
    await joinRoom(carol, "#vanish", "carol");
    await settle(carol);
    const w = watch.mark();

    await killProsody();
    // Nobody tells Postern that carol/laptop is gone; the server answers for it when asked.
    const part = await watch.waitFor(leaves("carol", "#vanish"), "carol's puppet leaving #vanish", {
      since: w,
      timeoutMs: 30_000,
    });
    expect(part.command).toBe("PART");
    // Nothing needs the session any more (no resource online, no room): its connection closes.
    await waitUntil(async () => !(await isOnline(watch, "carol")), "carol's puppet gone from IRC", 30_000);
  }, 90_000);

  it("keeps a resource that came back on the same address and joined again", async () => {
    const watch = await h.irc("watchback");
    await watch.join("#comeback");
    const dave = await h.login("dave", "phone");
    await joinRoom(dave, "#comeback", "dave");
    await settle(dave);
    const w = watch.mark();

    await killProsody();
    const again = await h.login("dave", "phone");
    await joinRoom(again, "#comeback", "dave", { timeoutMs: 30_000 });
    // Whatever the check found meanwhile (dave/phone gone before the new login, or present after
    // it), once it is done dave is in the room on both sides.
    await h.postern.gateways[0]!.resourceCheck.idle();
    await settle(again);
    const m = again.mark();
    watch.privmsg("#comeback", "still with us?");
    await again.waitFor(
      (s) => roomMessage("#comeback", "watchback")(s) && s.getChildText("body") === "still with us?",
      "a channel message after the check",
      { since: m },
    );
    const joinsAndLeaves = watch.lines
      .slice(w)
      .filter((l) => l.nick === "dave" && ["JOIN", "PART", "QUIT"].includes(l.command))
      .map((l) => l.command);
    // Either it never left, or it left and joined again: it ends in the channel.
    expect(joinsAndLeaves.at(-1) ?? "JOIN").toBe("JOIN");
  }, 90_000);

  it("treats a presence bounce from the resource as gone: the puppet leaves and its connection closes", async () => {
    const watch = await h.irc("watchbounce");
    await watch.join("#bounce");
    const erin = await h.login("erin", "tablet");
    await erin.sendPresence({ to: IRC_GATEWAY });
    await joinRoom(erin, "#bounce", "erin");
    const w = watch.mark();
    // What the user's server sends back when a presence cannot be delivered to that resource.
    await erin.sendPresence({ to: `${roomJid("#bounce")}/erin`, type: "error" }, [
      xml(
        "error",
        { type: "cancel" },
        xml("service-unavailable", { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" }),
      ),
    ]);
    await watch.waitFor(leaves("erin", "#bounce"), "erin's puppet leaving #bounce", { since: w });
    await waitUntil(async () => !(await isOnline(watch, "erin")), "erin's puppet gone from IRC", 30_000);
  }, 60_000);

  it("treats a message bounce from the resource as gone too", async () => {
    const watch = await h.irc("watchmsgbounce");
    await watch.join("#mbounce");
    const frank = await h.login("frank", "phone");
    await frank.sendPresence({ to: IRC_GATEWAY });
    await joinRoom(frank, "#mbounce", "frank");
    const w = watch.mark();
    // What the user's server sends back when a room message cannot be delivered to that resource.
    await frank.send(
      xml(
        "message",
        { to: `${roomJid("#mbounce")}/watchmsgbounce`, type: "error", id: "gone" },
        xml(
          "error",
          { type: "cancel" },
          xml("service-unavailable", { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" }),
        ),
      ),
    );
    await watch.waitFor(leaves("frank", "#mbounce"), "frank's puppet leaving #mbounce", { since: w });
    await waitUntil(async () => !(await isOnline(watch, "frank")), "frank's puppet gone from IRC", 30_000);
  }, 60_000);
});
