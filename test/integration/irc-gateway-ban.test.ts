/**
 * R6, as an XMPP user sees it: an IRC server K-lines one user's puppet. Real Prosody, Redis and
 * Postern with the real IRC adapter, pointed at a scripted IRC server (test/support/scripted-ircd.ts)
 * that bans some nicks and serves the others normally.
 *
 * The banned user must be told why (in the failed join, in the rooms they were in, on each message
 * they send meanwhile); the gateway must not knock again before `reconnect.bannedMs` (10 min by
 * default) however often they retry, since a server answers a gateway that keeps knocking by
 * banning its whole address; and everyone else's puppet carries on.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  contactJid,
  groupchat,
  IRC_GATEWAY,
  type IrcHarness,
  type IrcTestUser,
  joinRoom,
  NS_MUC,
  roomJid,
  roomMessage,
  startIrcHarness,
} from "../support/irc-gateway-harness.ts";
import { type ScriptedClient, type ScriptedIrcd, startScriptedIrcd } from "../support/scripted-ircd.ts";
import { type Element, type XmppTestClient, xml } from "../support/xmpp-client.ts";

const KLINE = "ERROR :Closing Link: 127.0.0.1 (K-Lined: Banned)";

/** What the scripted server does with a puppet once it registered, by nick; others are welcomed. */
const onRegister: Partial<Record<IrcTestUser, (client: ScriptedClient) => void>> = {
  // Lets the puppet in, then throws it out: a K-line that matched only after registration.
  alice(client) {
    client.welcome();
    client.close(KLINE);
  },
  // The numeric variant: 465 (ERR_YOUREBANNEDCREEP) names the reason; the ERROR that follows says
  // nothing of a ban, as servers that hide their ban reasons send it.
  carol(client) {
    client.close(
      `:scripted.test 465 carol :You are banned from this server- Spamming is not welcome here`,
      "ERROR :Closing Link: 127.0.0.1 (Connection closed)",
    );
  },
};

let h: IrcHarness;
let ircd: ScriptedIrcd;

beforeAll(async () => {
  ircd = await startScriptedIrcd({
    onRegister(client) {
      const script = onRegister[client.nick as IrcTestUser];
      if (script) script(client);
      else client.welcome();
    },
  });
  h = await startIrcHarness({ ircPort: ircd.port });
}, 60_000);

afterAll(async () => {
  await h?.stop();
  await ircd?.close();
});

const BANNED =
  /banned by localhost \(Closing Link: 127\.0\.0\.1 \(K-Lined: Banned\)\); no new connection to localhost for \d+ s/;

/** The text of a stanza's `<error/>`, or undefined when it is no error. */
function errorText(stanza: Element): string | undefined {
  if (stanza.attrs.type !== "error") return undefined;
  return stanza.getChild("error")?.getChildText("text") ?? "";
}

/** Sends a MUC join and resolves with the error presence the room answers with. */
async function failedJoin(client: XmppTestClient, channel: string, nick: string): Promise<Element> {
  const occupant = `${roomJid(channel)}/${nick}`;
  const mark = client.mark();
  await client.sendPresence({ to: occupant }, [xml("x", { xmlns: NS_MUC })]);
  return client.waitFor(
    (s) => s.name === "presence" && s.attrs.from === occupant && s.attrs.type === "error",
    `an error presence from ${occupant}`,
    { since: mark },
  );
}

/** Sends a message and resolves with the error message it bounces with. */
async function bounced(client: XmppTestClient, message: Element): Promise<Element> {
  const mark = client.mark();
  await client.send(message);
  return client.waitFor(
    (s) => s.name === "message" && s.attrs.id === message.attrs.id && s.attrs.type === "error",
    `the error for message ${message.attrs.id}`,
    { since: mark },
  );
}

const chat = (to: string, body: string, id: string) =>
  xml("message", { to, type: "chat", id }, xml("body", {}, body));

describe("an IRC server bans one user's puppet (R6)", () => {
  it("K-lined at registration: the user is told why, retries do not reach the server, other users carry on", async () => {
    const connectionsBefore = ircd.connections;
    const alice = await h.login("alice");
    const bob = await h.login("bob");

    const refused = await failedJoin(alice, "#chan", "alice");
    expect(refused.getChild("error")?.getChild("forbidden")).toBeDefined();
    expect(errorText(refused)).toMatch(BANNED);

    // Bob, on the same server meanwhile: joins, is heard, hears.
    await joinRoom(bob, "#chan", "bob");
    await bob.send(groupchat("#chan", "hello from bob", "b1"));
    await ircd.waitForLine(
      (l) => l.nick === "bob" && l.command === "PRIVMSG" && l.params[0] === "#chan",
      "bob's message on IRC",
    );
    const mark = bob.mark();
    ircd.client("bob")?.send(":dave!dave@scripted.user PRIVMSG #chan :hello bob, from IRC");
    const heard = await bob.waitFor(roomMessage("#chan", "dave"), "dave's IRC line in bob's room", {
      since: mark,
    });
    expect(heard.getChildText("body")).toBe("hello bob, from IRC");

    // Alice keeps trying for ~15 s, as a client that rejoins on error would: every join and every
    // message is answered at once, and none of it opens a connection.
    for (let round = 1; round <= 5; round++) {
      const rejoin = await failedJoin(alice, "#chan", "alice");
      expect(errorText(rejoin)).toMatch(BANNED);
      const direct = await bounced(
        alice,
        chat(contactJid("bob"), `are you there? ${round}`, `a-dm-${round}`),
      );
      expect(direct.getChild("error")?.getChild("forbidden")).toBeDefined();
      expect(errorText(direct)).toMatch(BANNED);
      // Not in the room, so the room says so rather than dropping it.
      const inRoom = await bounced(alice, groupchat("#chan", `hello? ${round}`, `a-room-${round}`));
      expect(errorText(inRoom)).toMatch(/join it first/);
      await new Promise((resolve) => setTimeout(resolve, 3_000));
    }
    expect(ircd.connectionsOf("alice")).toBe(1);
    expect(ircd.connectionsOf("bob")).toBe(1);
    expect(ircd.connections - connectionsBefore).toBe(2); // no burst: one each, nothing else
    expect(ircd.received.filter((l) => l.nick === "alice" && l.command === "PRIVMSG")).toEqual([]);
  }, 40_000);

  it("banned with numeric 465: the user is told the server's reason, and a retry does not reach the server", async () => {
    const connectionsBefore = ircd.connections;
    const carol = await h.login("carol");
    const refused = await failedJoin(carol, "#chan", "carol");
    expect(errorText(refused)).toBe(
      "banned by localhost (You are banned from this server- Spamming is not welcome here; Closing Link: 127.0.0.1 (Connection closed)); no new connection to localhost for 600 s",
    );
    const again = await failedJoin(carol, "#other", "carol");
    expect(errorText(again)).toMatch(/^banned by localhost \(You are banned from this server/);
    expect(ircd.connectionsOf("carol")).toBe(1);
    expect(ircd.connections - connectionsBefore).toBe(1);
  });

  it("K-lined while in a room: the room says why, messages to it bounce with the reason, no reconnect", async () => {
    const connectionsBefore = ircd.connections;
    const dave = await h.login("dave");
    await dave.sendPresence({ to: IRC_GATEWAY });
    await joinRoom(dave, "#chan", "dave");
    await dave.send(groupchat("#chan", "before", "d0"));
    await ircd.waitForLine(
      (l) => l.nick === "dave" && l.command === "PRIVMSG" && l.params[1] === "before",
      "dave's message before the ban",
    );
    // Postern counts "before" as read once the server answers the PING it wrote after it; a PING
    // of the server's own, answered after that, shows Postern has the answer.
    ircd.client("dave")?.send("PING :probe");
    await ircd.waitForLine((l) => l.command === "PONG" && l.params.includes("probe"), "dave's PONG :probe");

    const mark = dave.mark();
    ircd.client("dave")?.close(KLINE);
    const notice = await dave.waitFor(
      (s) => s.name === "message" && s.attrs.from === roomJid("#chan") && s.getChild("body") !== undefined,
      "a message from the room itself about the ban",
      { since: mark },
    );
    expect(notice.getChildText("body")).toMatch(/^Disconnected from #chan: banned by localhost/);
    expect(notice.getChildText("body")).toMatch(BANNED);
    const status = await dave.waitFor(
      (s) =>
        s.name === "presence" &&
        s.attrs.from === IRC_GATEWAY &&
        /banned/.test(s.getChildText("status") ?? ""),
      "the gateway's presence saying dave is banned",
      { since: mark },
    );
    expect(status.getChildText("status")).toBe(
      "banned by localhost (Closing Link: 127.0.0.1 (K-Lined: Banned)); trying again in 600 s",
    );

    for (let round = 1; round <= 3; round++) {
      const inRoom = await bounced(dave, groupchat("#chan", `still here? ${round}`, `d-room-${round}`));
      expect(errorText(inRoom)).toMatch(BANNED);
      const direct = await bounced(dave, chat(contactJid("bob"), `psst ${round}`, `d-dm-${round}`));
      expect(errorText(direct)).toMatch(BANNED);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    expect(ircd.connectionsOf("dave")).toBe(1);
    expect(ircd.connections - connectionsBefore).toBe(1);
    expect(ircd.received.filter((l) => l.nick === "dave" && l.command === "PRIVMSG")).toHaveLength(1);
  });
});
