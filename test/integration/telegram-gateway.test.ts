/**
 * The Telegram gateway as its users see it: real Prosody and Redis, Postern with the Telegram
 * adapter, and the fake Bot API server scripting the Telegram side (people, groups, Business
 * accounts, faults).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FakeBot } from "../fakes/telegram/server.ts";
import { registerWithForm } from "../support/registration-form.ts";
import {
  startTelegramHarness,
  type TelegramHarness,
  TG_GATEWAY,
} from "../support/telegram-gateway-harness.ts";
import { waitUntil } from "../support/wait.ts";
import { type Element, IqError, type XmppTestClient, xml } from "../support/xmpp-client.ts";

const NS_MUC = "http://jabber.org/protocol/muc";
const NS_MUC_USER = "http://jabber.org/protocol/muc#user";
const NS_CONFERENCE = "jabber:x:conference";

const ALICE_TOKEN = "7000001:AAalice-secret-token-0123456789";
const MALLORY_TOKEN = "7000002:AAmallory-secret-token-012345678";
const REVOKED_TOKEN = "7000009:AArevoked-secret-token-01234567";
const ADA = 12345;
const GRACE = 23456;
const GROUP = -1001234567;

let h: TelegramHarness;
let alice: XmppTestClient;
let aliceBot: FakeBot;

async function iqError(promise: Promise<unknown>): Promise<IqError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof IqError) return err;
    throw err;
  }
  throw new Error("expected an iq error, got a result");
}

function errorText(stanza: Element): string {
  return stanza.getChild("error")?.getChildText("text", "urn:ietf:params:xml:ns:xmpp-stanzas") ?? "";
}

const chatFrom = (from: string, body?: string) => (s: Element) =>
  s.name === "message" &&
  s.attrs.from === from &&
  s.attrs.type === "chat" &&
  (body === undefined || s.getChildText("body") === body);

beforeAll(async () => {
  h = await startTelegramHarness();
  const tg = h.telegram;
  aliceBot = tg.addBot({ token: ALICE_TOKEN, username: "alice_gw_bot", first_name: "Alice's Bot" });
  tg.addBot({ token: MALLORY_TOKEN, username: "mallory_gw_bot", first_name: "Mallory's Bot" });
  tg.addUser({
    id: ADA,
    first_name: "Ada",
    last_name: "Lovelace",
    username: "ada_lovelace",
    photo: Buffer.from("fake-jpeg-bytes"),
  });
  tg.addUser({ id: GRACE, first_name: "Grace", last_name: "Hopper" });
  // The bot is an admin, so privacy mode does not hide ordinary messages from it.
  tg.addChat({
    id: GROUP,
    type: "supergroup",
    title: "Analytical Engines",
    creator: GRACE,
    admins: [GRACE, aliceBot.id],
    members: [ADA],
  });
  alice = await h.login("alice");
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

describe("registration", () => {
  it("refuses something that is not a token, and a token Telegram rejects, saying why", async () => {
    const notToken = await iqError(registerWithForm(alice, TG_GATEWAY, { token: "hello" }));
    expect(notToken.condition).toBe("not-acceptable");
    expect(errorText(notToken.stanza)).toMatch(/not a bot token/);
    const revoked = await iqError(registerWithForm(alice, TG_GATEWAY, { token: REVOKED_TOKEN }));
    expect(revoked.condition).toBe("not-acceptable");
    expect(errorText(revoked.stanza)).toMatch(/rejected this bot token/);
    expect(errorText(revoked.stanza)).not.toContain("AArevoked");
  });

  it("accepts a good token checked with getMe, and the bot starts polling", async () => {
    await registerWithForm(alice, TG_GATEWAY, { token: ALICE_TOKEN, owner: "@ada_lovelace" });
    await alice.waitFor(
      (s) => s.name === "presence" && s.attrs.from === TG_GATEWAY && s.attrs.type === "subscribe",
      "the gateway asking for a subscription",
    );
    // Alice is online: her session opens and the bot long-polls.
    await alice.sendPresence({ to: TG_GATEWAY });
    await waitUntil(() => aliceBot.isLongPolling(), "alice's bot long-polling");
  });

  it("refuses a bot already linked to another XMPP account with conflict", async () => {
    const mallory = await h.login("mallory");
    const error = await iqError(registerWithForm(mallory, TG_GATEWAY, { token: ALICE_TOKEN }));
    expect(error.condition).toBe("conflict");
    await mallory.stop();
  });
});

describe("private chats", () => {
  it("a Telegram user writing appears as a contact with a nickname", async () => {
    const since = alice.mark();
    h.telegram.userSends(ALICE_TOKEN, { from: ADA, text: "Hello from Telegram" });
    const msg = await alice.waitFor(
      chatFrom(`${ADA}@${TG_GATEWAY}`, "Hello from Telegram"),
      "Ada's message",
      { since },
    );
    expect(msg.attrs.to).toBe("alice@localhost");
    const nick = await alice.waitFor(
      (s) =>
        s.name === "presence" && s.attrs.from === `${ADA}@${TG_GATEWAY}` && s.getChild("nick") !== undefined,
      "Ada's nickname",
      { since },
    );
    expect(nick.getChildText("nick", "http://jabber.org/protocol/nick")).toBe("Ada Lovelace");
  });

  it("an XMPP message reaches Telegram with its formatting as entities", async () => {
    await alice.send(
      xml(
        "message",
        { to: `${ADA}@${TG_GATEWAY}`, type: "chat", id: "m1" },
        xml("body", {}, "this is *bold* <b>not html</b> _x"),
      ),
    );
    const sent = await aliceBot.waitForSent(
      (s) => s.method === "sendMessage" && s.chat_id === ADA,
      "the message on Telegram",
    );
    expect(sent.message?.text).toBe("this is bold <b>not html</b> _x");
    // Telegram itself marks "/b" as a command; what we sent is the bold span, nothing parsed.
    expect(sent.message?.entities).toContainEqual({ type: "bold", offset: 8, length: 4 });
  });

  it("edits, reactions and deletions from Telegram reach the XMPP client, pointing at the original", async () => {
    let since = alice.mark();
    const original = h.telegram.userSends(ALICE_TOKEN, { from: ADA, text: "first draft" });
    const first = await alice.waitFor(chatFrom(`${ADA}@${TG_GATEWAY}`, "first draft"), "the original", {
      since,
    });
    since = alice.mark();
    h.telegram.userEdits(ALICE_TOKEN, { from: ADA, message_id: original.message_id, text: "second draft" });
    const edit = await alice.waitFor(chatFrom(`${ADA}@${TG_GATEWAY}`, "second draft"), "the correction", {
      since,
    });
    expect(edit.getChild("replace", "urn:xmpp:message-correct:0")?.attrs.id).toBe(first.attrs.id);
    since = alice.mark();
    h.telegram.userReacts(ALICE_TOKEN, { from: ADA, message_id: original.message_id, emoji: ["👍"] });
    const reaction = await alice.waitFor(
      (s) => s.getChild("reactions", "urn:xmpp:reactions:0") !== undefined,
      "the reaction",
      { since },
    );
    const reactions = reaction.getChild("reactions", "urn:xmpp:reactions:0");
    expect(reactions?.attrs.id).toBe(first.attrs.id);
    expect(reactions?.getChildText("reaction")).toBe("👍");
  });

  it("corrections and typing from XMPP reach Telegram", async () => {
    await alice.send(
      xml(
        "message",
        { to: `${ADA}@${TG_GATEWAY}`, type: "chat", id: "typo-1" },
        xml("body", {}, "teh answer"),
      ),
    );
    const sent = await aliceBot.waitForSent(
      (s) => s.method === "sendMessage" && s.message?.text === "teh answer",
      "the first version",
    );
    await alice.send(
      xml(
        "message",
        { to: `${ADA}@${TG_GATEWAY}`, type: "chat", id: "typo-2" },
        xml("body", {}, "the answer"),
        xml("replace", { xmlns: "urn:xmpp:message-correct:0", id: "typo-1" }),
      ),
    );
    const edited = await aliceBot.waitForSent(
      (s) => s.method === "editMessageText",
      "the correction on Telegram",
    );
    expect(edited.message?.message_id).toBe(sent.message?.message_id);
    expect(edited.message?.text).toBe("the answer");
    await alice.send(
      xml(
        "message",
        { to: `${ADA}@${TG_GATEWAY}`, type: "chat" },
        xml("composing", { xmlns: "http://jabber.org/protocol/chatstates" }),
      ),
    );
    const action = await aliceBot.waitForSent((s) => s.method === "sendChatAction", "typing on Telegram");
    expect(action.params.action).toBe("typing");
  });

  it("a message Telegram finally refuses comes back as an error on the original id", async () => {
    await alice.send(
      xml(
        "message",
        { to: `${GRACE}@${TG_GATEWAY}`, type: "chat", id: "to-grace" },
        xml("body", {}, "hi Grace"),
      ),
    );
    const error = await alice.waitFor(
      (s) => s.name === "message" && s.attrs.type === "error" && s.attrs.id === "to-grace",
      "the bounce",
    );
    expect(errorText(error)).toMatch(/has not started a chat with your bot/);
  });
});

describe("429 and 5xx", () => {
  it("retries after retry_after and server errors, with no loss, no early request and order kept", async () => {
    const fault429 = h.telegram.injectFault({
      method: "sendMessage",
      token: ALICE_TOKEN,
      kind: { status: 429, retry_after: 1 },
      times: 1,
    });
    const fault502 = h.telegram.injectFault({
      method: "sendMessage",
      token: ALICE_TOKEN,
      kind: { status: 502 },
      times: 2,
    });
    const before = aliceBot.sent().length;
    for (let i = 1; i <= 4; i++) {
      await alice.send(
        xml(
          "message",
          { to: `${ADA}@${TG_GATEWAY}`, type: "chat", id: `burst-${i}` },
          xml("body", {}, `numbered ${i}`),
        ),
      );
    }
    await aliceBot.waitForSent((s) => s.message?.text === "numbered 4", "the last numbered message", 15_000);
    const texts = aliceBot
      .sent()
      .slice(before)
      .flatMap((s) => (s.method === "sendMessage" ? [s.message?.text] : []));
    expect(texts).toEqual(["numbered 1", "numbered 2", "numbered 3", "numbered 4"]);
    expect(fault429.fired()).toBe(1);
    expect(fault502.fired()).toBe(2);
    // Nothing went to that chat before the retry_after second had passed.
    const log = h.telegram
      .requests()
      .filter((r) => r.method === "sendMessage" && r.params.chat_id === String(ADA));
    const refused = log.findIndex((r) => r.status === 429);
    const next = log[refused + 1];
    expect(next && next.at - log[refused]!.at).toBeGreaterThanOrEqual(1000);
    expect(alice.stanzas.some((s) => s.attrs.type === "error" && s.attrs.id?.startsWith("burst-"))).toBe(
      false,
    );
  });
});

describe("groups", () => {
  it("a group the bot is in becomes a room: invitation, occupants, subject from the title", async () => {
    let since = alice.mark();
    h.telegram.userSends(ALICE_TOKEN, { from: GRACE, chat: GROUP, text: "Welcome to the group" });
    const invite = await alice.waitFor(
      (s) => s.name === "message" && s.getChild("x", NS_CONFERENCE) !== undefined,
      "an invitation to the group's room",
      { since },
    );
    const roomJid = `${GROUP}@${TG_GATEWAY}`;
    expect(invite.getChild("x", NS_CONFERENCE)?.attrs.jid).toBe(roomJid);
    since = alice.mark();
    await alice.sendPresence({ to: `${roomJid}/alice` }, [xml("x", { xmlns: NS_MUC })]);
    const self = await alice.waitFor(
      (s) =>
        s.name === "presence" &&
        s.attrs.from?.startsWith(`${roomJid}/`) === true &&
        s
          .getChild("x", NS_MUC_USER)
          ?.getChildren("status")
          .some((c) => c.attrs.code === "110") === true,
      "the self-presence",
      { since },
    );
    expect(self.attrs.from).toBe(`${roomJid}/Alice's Bot`);
    const occupants = alice.stanzas
      .slice(since)
      .filter((s) => s.name === "presence" && s.attrs.from?.startsWith(`${roomJid}/`));
    const grace = occupants.find((s) => s.attrs.from === `${roomJid}/Grace Hopper`);
    expect(grace?.getChild("x", NS_MUC_USER)?.getChild("item")?.attrs.role).toBe("moderator");
    const history = await alice.waitFor(
      (s) => s.attrs.type === "groupchat" && s.getChildText("body") === "Welcome to the group",
      "the message from before the join",
      { since },
    );
    expect(history.attrs.from).toBe(`${roomJid}/Grace Hopper`);
    const subject = await alice.waitFor(
      (s) => s.attrs.type === "groupchat" && s.getChild("subject") !== undefined,
      "the subject",
      { since },
    );
    expect(subject.getChildText("subject")).toBe("Analytical Engines");
  });

  it("new speakers join as occupants, title changes become the subject, room messages reach Telegram", async () => {
    const roomJid = `${GROUP}@${TG_GATEWAY}`;
    let since = alice.mark();
    h.telegram.userSends(ALICE_TOKEN, { from: ADA, chat: GROUP, text: "Ada here" });
    await alice.waitFor(
      (s) => s.name === "presence" && s.attrs.from === `${roomJid}/Ada Lovelace`,
      "Ada joining the room",
      { since },
    );
    await alice.waitFor(
      (s) => s.attrs.type === "groupchat" && s.getChildText("body") === "Ada here",
      "Ada's room message",
      { since },
    );
    since = alice.mark();
    h.telegram.groupEvent({ chat: GROUP, from: GRACE, new_chat_title: "Difference Engines" });
    const subject = await alice.waitFor((s) => s.getChild("subject") !== undefined, "the new subject", {
      since,
    });
    expect(subject.getChildText("subject")).toBe("Difference Engines");
    since = alice.mark();
    await alice.send(
      xml("message", { to: roomJid, type: "groupchat", id: "room-1" }, xml("body", {}, "hello group")),
    );
    await aliceBot.waitForSent(
      (s) => s.chat_id === GROUP && s.message?.text === "hello group",
      "the room message on Telegram",
    );
    const echo = await alice.waitFor(
      (s) => s.attrs.type === "groupchat" && s.getChildText("body") === "hello group",
      "the room reflecting the message",
      { since },
    );
    expect(echo.attrs.id).toBe("room-1");
  });
});

describe("Telegram Business", () => {
  it("the owner's private chats appear as b-contacts, both ways, and the 24-hour rule is explained", async () => {
    let since = alice.mark();
    const connection = h.telegram.connectBusiness(ALICE_TOKEN, {
      userId: ADA,
      can_reply: true,
      is_enabled: true,
    });
    await alice.waitFor(
      (s) => s.attrs.from === TG_GATEWAY && /Telegram Business connected/.test(s.getChildText("body") ?? ""),
      "the connection notice",
      { since },
    );
    since = alice.mark();
    h.telegram.businessUserSends(ALICE_TOKEN, {
      connection_id: connection,
      chat: GRACE,
      from: GRACE,
      text: "Hi Ada, it's Grace",
    });
    await alice.waitFor(
      chatFrom(`b${GRACE}@${TG_GATEWAY}`, "Hi Ada, it's Grace"),
      "Grace's business message",
      { since },
    );
    await alice.send(
      xml(
        "message",
        { to: `b${GRACE}@${TG_GATEWAY}`, type: "chat", id: "biz-1" },
        xml("body", {}, "Hi Grace, Ada here"),
      ),
    );
    const sent = await aliceBot.waitForSent(
      (s) => s.message?.text === "Hi Grace, Ada here",
      "the answer as Ada",
    );
    expect(sent.params.business_connection_id).toBe(connection);
    expect(sent.message?.from?.id).toBe(ADA);
    // Nobody wrote from this chat in the last 24 hours: Telegram refuses, the user learns why.
    h.telegram.addUser({ id: 34567, first_name: "Charles" });
    await alice.send(
      xml(
        "message",
        { to: `b34567@${TG_GATEWAY}`, type: "chat", id: "biz-2" },
        xml("body", {}, "Hello Charles"),
      ),
    );
    const error = await alice.waitFor(
      (s) => s.attrs.type === "error" && s.attrs.id === "biz-2",
      "the refusal",
    );
    expect(errorText(error)).toMatch(/last 24 hours/);
    since = alice.mark();
    h.telegram.businessDeletes(ALICE_TOKEN, { connection_id: connection, chat: GRACE, message_ids: [1] });
    await alice.waitFor(
      (s) =>
        s.attrs.from === `b${GRACE}@${TG_GATEWAY}` &&
        s.getChild("retract", "urn:xmpp:message-retract:1") !== undefined,
      "the retraction",
      { since },
    );
  });
});

describe("isolation and secrets", () => {
  it("another XMPP user cannot reach alice's bot chats", async () => {
    const mallory = await h.login("mallory");
    await mallory.send(
      xml("message", { to: `${ADA}@${TG_GATEWAY}`, type: "chat", id: "m-1" }, xml("body", {}, "as alice?")),
    );
    const unregistered = await mallory.waitFor(
      (s) => s.attrs.type === "error" && s.attrs.id === "m-1",
      "the refusal",
    );
    expect(unregistered.getChild("error")?.getChild("registration-required")).toBeDefined();
    await registerWithForm(mallory, TG_GATEWAY, { token: MALLORY_TOKEN });
    await mallory.sendPresence({ to: TG_GATEWAY });
    await mallory.send(
      xml("message", { to: `${ADA}@${TG_GATEWAY}`, type: "chat", id: "m-2" }, xml("body", {}, "as alice?")),
    );
    const refused = await mallory.waitFor(
      (s) => s.attrs.type === "error" && s.attrs.id === "m-2",
      "the refusal through mallory's own bot",
    );
    expect(errorText(refused)).toMatch(/not started a chat with your bot/);
    expect(aliceBot.sent().some((s) => s.message?.text === "as alice?")).toBe(false);
    await mallory.stop();
  });

  it("a revoked token fails the session with a reason, and polling stops", async () => {
    const bob = await h.login("bob");
    const token = "7000003:AAbob-secret-token-0123456789ab";
    h.telegram.addBot({ token, username: "bob_gw_bot", first_name: "Bob's Bot" });
    // getMe still answers (the registration check passes); polling is refused from the start.
    h.telegram.injectFault({
      method: "getUpdates",
      token,
      kind: { status: 401, description: "Unauthorized" },
      times: Number.POSITIVE_INFINITY,
    });
    const since = bob.mark();
    await registerWithForm(bob, TG_GATEWAY, { token });
    await bob.sendPresence({ to: TG_GATEWAY });
    const notice = await bob.waitFor(
      (s) =>
        s.name === "message" &&
        s.attrs.from === TG_GATEWAY &&
        /Connection failed/.test(s.getChildText("body") ?? ""),
      "the failure message",
      { since },
    );
    expect(notice.getChildText("body")).toMatch(/does not accept the bot token/);
    await bob.waitFor(
      (s) => s.name === "presence" && s.attrs.from === TG_GATEWAY && s.getChildText("show") === "dnd",
      "the failed gateway presence",
      { since },
    );
    const polls = () =>
      h.telegram.requests().filter((r) => r.method === "getUpdates" && r.token.startsWith("7000003:")).length;
    const count = polls();
    await new Promise((r) => setTimeout(r, 1500));
    expect(polls()).toBe(count);
    await bob.stop();
  });

  it("no token or Telegram file URL ever appears in the logs", () => {
    const text = h.logText();
    expect(text.length).toBeGreaterThan(0);
    for (const secret of [
      "AAalice-secret",
      "AAmallory-secret",
      "AAbob-secret",
      "AArevoked-secret",
      "/file/bot",
    ])
      expect(text).not.toContain(secret);
  });
});

describe("a crash during a burst", () => {
  it("200 updates, kill -9 in the middle, restart: each delivered exactly once", async () => {
    const since = alice.mark();
    for (let i = 1; i <= 200; i++) h.telegram.userSends(ALICE_TOKEN, { from: ADA, text: `burst ${i}` });
    await alice.waitFor(chatFrom(`${ADA}@${TG_GATEWAY}`, "burst 40"), "the first part of the burst", {
      since,
      timeoutMs: 20_000,
    });
    await h.restartPostern({ crash: true });
    await alice.waitFor(
      chatFrom(`${ADA}@${TG_GATEWAY}`, "burst 200"),
      "the end of the burst after the restart",
      { since, timeoutMs: 30_000 },
    );
    const received = alice.stanzas
      .slice(since)
      .filter((s) => chatFrom(`${ADA}@${TG_GATEWAY}`)(s) && /^burst \d+$/.test(s.getChildText("body") ?? ""));
    // No loss, in order: the distinct bodies, in order of first arrival, are exactly the 200 sent.
    const firstSeen = [...new Set(received.map((s) => s.getChildText("body")))];
    expect(firstSeen).toEqual(Array.from({ length: 200 }, (_, i) => `burst ${i + 1}`));
    // No duplicate for a client that keeps ids: each message has one stanza id, replays included.
    const idsByBody = new Map<string, Set<string>>();
    for (const s of received)
      idsByBody.set(
        s.getChildText("body") ?? "",
        (idsByBody.get(s.getChildText("body") ?? "") ?? new Set()).add(s.attrs.id ?? ""),
      );
    expect([...idsByBody.values()].every((ids) => ids.size === 1)).toBe(true);
    // Raw replays: at most the one update in flight when the process died (RELIABILITY.md R1).
    expect(received.length - 200).toBeLessThanOrEqual(1);
  });
});
