/**
 * Portal rooms on Telegram end to end: the operator's shared bot (its token given through the
 * environment) bridges a Telegram group as a room every allowed XMPP user may join. Two XMPP users
 * share it with Telegram members through the fake Bot API: each sees Telegram's messages once,
 * each one's message reaches Telegram once with their nick, and the pinned "On XMPP" list in the
 * group follows who is in the room.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FakeBot, SentMessage } from "../fakes/telegram/server.ts";
import {
  startTelegramHarness,
  type TelegramHarness,
  TG_GATEWAY,
} from "../support/telegram-gateway-harness.ts";
import { type Element, IqError, type XmppTestClient, xml } from "../support/xmpp-client.ts";

const NS_MUC = "http://jabber.org/protocol/muc";
const PORTAL_TOKEN = "7300001:AAportal-secret-token-012345678";
const GROUP = -1003300001;
const OTHER_GROUP = -1003300002;
const TOM = 33001;
const ANN = 33002;
const ROOM = `${GROUP}@${TG_GATEWAY}`;

let h: TelegramHarness;
let alice: XmppTestClient;
let bob: XmppTestClient;
let portalBot: FakeBot;

beforeAll(async () => {
  h = await startTelegramHarness({
    settings: `portal: { token: "\${TG_PORTAL_TOKEN}", groups: ["${GROUP}"] }`,
    env: { TG_PORTAL_TOKEN: PORTAL_TOKEN },
  });
  portalBot = h.telegram.addBot({
    token: PORTAL_TOKEN,
    username: "community_portal_bot",
    first_name: "Portal",
  });
  h.telegram.addUser({ id: TOM, first_name: "Tom" });
  h.telegram.addUser({ id: ANN, first_name: "Ann" });
  // An admin, so privacy mode hides nothing from it and it may pin.
  h.telegram.addChat({
    id: GROUP,
    type: "supergroup",
    title: "Community",
    creator: ANN,
    admins: [ANN, portalBot.id],
    members: [TOM],
  });
  h.telegram.addChat({
    id: OTHER_GROUP,
    type: "supergroup",
    title: "Elsewhere",
    admins: [ANN, portalBot.id],
  });
  [alice, bob] = await Promise.all([h.login("alice"), h.login("bob")]);
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

async function join(client: XmppTestClient, nick: string): Promise<number> {
  const mark = client.mark();
  await client.sendPresence({ to: `${ROOM}/${nick}` }, [xml("x", { xmlns: NS_MUC })]);
  await client.waitFor(
    (s) => s.attrs.from === ROOM && s.getChild("subject") !== undefined,
    `${nick}'s join`,
    {
      since: mark,
    },
  );
  return mark;
}

const board = (s: SentMessage) =>
  (s.method === "sendMessage" || s.method === "editMessageText") && /^On XMPP/.test(s.message?.text ?? "");

async function waitForBoard(text: string): Promise<SentMessage> {
  return portalBot.waitForSent((s) => board(s) && s.message?.text === text, `the occupant list "${text}"`);
}

describe("a Telegram portal room shared by two XMPP users", () => {
  it("both join without registering; the group's admins are occupants; the pinned list names them", async () => {
    const aMark = await join(alice, "alice");
    const occupants = alice.stanzas
      .slice(aMark)
      .filter((s) => s.name === "presence" && s.attrs.from?.startsWith(`${ROOM}/`))
      .map((s) => s.attrs.from);
    expect(occupants).toEqual(expect.arrayContaining([`${ROOM}/Portal`, `${ROOM}/Ann`, `${ROOM}/alice`]));
    const first = await waitForBoard("On XMPP (1): alice");
    const pin = await portalBot.waitForSent((s) => s.method === "pinChatMessage", "the list pinned");
    expect(pin.params.message_id).toBe(String(first.message?.message_id));
    expect(pin.params.disable_notification).toBe("true");
    await join(bob, "bob");
    const edited = await waitForBoard("On XMPP (2): alice, bob");
    expect(edited.method).toBe("editMessageText");
    expect(edited.message?.message_id).toBe(first.message?.message_id);
  });

  it("a Telegram member's message reaches each XMPP user once, and the member becomes an occupant", async () => {
    const aMark = alice.mark();
    const bMark = bob.mark();
    h.telegram.userSends(PORTAL_TOKEN, { from: TOM, chat: GROUP, text: "hi from Telegram" });
    for (const [client, mark] of [
      [alice, aMark],
      [bob, bMark],
    ] as const) {
      await client.waitFor(
        (s) => s.name === "presence" && s.attrs.from === `${ROOM}/Tom`,
        "Tom appearing as an occupant",
        { since: mark },
      );
      await client.waitFor((s) => s.getChildText("body") === "hi from Telegram", "Tom's message", {
        since: mark,
      });
    }
    // Let anything duplicated arrive before counting.
    await waitForPoll();
    for (const [client, mark] of [
      [alice, aMark],
      [bob, bMark],
    ] as const) {
      const copies = client.stanzas.slice(mark).filter((s) => s.getChildText("body") === "hi from Telegram");
      expect(copies.map((s) => s.attrs.from)).toEqual([`${ROOM}/Tom`]);
    }
  });

  it("each XMPP user's message reaches Telegram once, with their nick in bold, and the other user sees it", async () => {
    const before = portalBot.sent().length;
    const bMark = bob.mark();
    await alice.send(
      xml("message", { to: ROOM, type: "groupchat", id: "p-1" }, xml("body", {}, "hello *all*")),
    );
    await bob.waitFor((s) => s.getChildText("body") === "hello *all*", "alice's message at bob", {
      since: bMark,
    });
    const aMark = alice.mark();
    await bob.send(xml("message", { to: ROOM, type: "groupchat", id: "p-2" }, xml("body", {}, "hi there")));
    await alice.waitFor((s) => s.getChildText("body") === "hi there", "bob's message at alice", {
      since: aMark,
    });
    const sent = portalBot
      .sent()
      .slice(before)
      .filter((s) => s.method === "sendMessage");
    expect(sent.map((s) => s.message?.text)).toEqual(["alice: hello all", "bob: hi there"]);
    expect(sent.every((s) => s.chat_id === GROUP)).toBe(true);
    expect(sent[0]?.message?.entities).toEqual([
      { type: "bold", offset: 0, length: 5 },
      { type: "bold", offset: 13, length: 3 },
    ]);
    expect(sent[1]?.message?.entities).toEqual([{ type: "bold", offset: 0, length: 3 }]);
  });

  it("the pinned list follows a leave", async () => {
    await bob.sendPresence({ to: `${ROOM}/bob`, type: "unavailable" });
    await waitForBoard("On XMPP (1): alice");
  });

  it("ignores groups that are not portals", async () => {
    const mark = alice.mark();
    h.telegram.userSends(PORTAL_TOKEN, { from: ANN, chat: OTHER_GROUP, text: "not bridged" });
    h.telegram.userSends(PORTAL_TOKEN, { from: TOM, chat: GROUP, text: "bridged" });
    await alice.waitFor((s) => s.getChildText("body") === "bridged", "the portal group's message", {
      since: mark,
    });
    expect(alice.stanzas.slice(mark).some((s: Element) => s.getChildText("body") === "not bridged")).toBe(
      false,
    );
  });

  it("nobody can register the portal bot as their own", async () => {
    const error = await alice
      .iq(
        xml(
          "iq",
          { type: "set", to: TG_GATEWAY },
          xml(
            "query",
            { xmlns: "jabber:iq:register" },
            xml(
              "x",
              { xmlns: "jabber:x:data", type: "submit" },
              xml("field", { var: "token" }, xml("value", {}, PORTAL_TOKEN)),
            ),
          ),
        ),
      )
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(error).toBeInstanceOf(IqError);
    expect((error as IqError).condition).toBe("not-acceptable");
    expect((error as IqError).stanza.toString()).toMatch(/the gateway's own portal bot/);
  });

  it("the portal token never shows in the log or to users", () => {
    expect(h.logText()).not.toContain("AAportal-secret");
    expect(alice.stanzas.map((s) => s.toString()).join("")).not.toContain("AAportal-secret");
  });
});

/** Waits until the portal bot has polled again after what was queued (everything queued was delivered). */
async function waitForPoll(): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (portalBot.pendingUpdates().length > 0) {
    if (Date.now() > deadline)
      throw new Error("timed out after 10000 ms waiting for the portal bot to confirm its updates");
    await new Promise((r) => setTimeout(r, 25));
  }
}
