/**
 * The Telegram gateway's message features end to end, as an XMPP user sees them: real Prosody and
 * Redis, Postern with the Telegram adapter and its HTTP file proxy, the fake Bot API scripting the
 * Telegram side, and a tiny HTTP server standing in for the XMPP server's upload service.
 *
 * Covers: messages reaching a user who was offline (sessions stay open), replies, reactions and
 * retractions both ways, a contact's avatar in its vCard, the privacy-mode limit in a room's
 * disco#info, files both ways through the file proxy and the safe fetcher, and no token or
 * Telegram file URL in anything a user or the log sees.
 */
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FakeBot } from "../fakes/telegram/server.ts";
import { registerWithForm } from "../support/registration-form.ts";
import {
  startTelegramHarness,
  type TelegramHarness,
  TG_GATEWAY,
} from "../support/telegram-gateway-harness.ts";
import { waitUntil } from "../support/wait.ts";
import { type Element, type XmppTestClient, xml } from "../support/xmpp-client.ts";

const NS_DATA = "jabber:x:data";
const NS_MUC = "http://jabber.org/protocol/muc";
const NS_REPLY = "urn:xmpp:reply:0";
const NS_FALLBACK = "urn:xmpp:fallback:0";
const NS_REACTIONS = "urn:xmpp:reactions:0";
const NS_RETRACT = "urn:xmpp:message-retract:1";
const NS_OOB = "jabber:x:oob";

const TOKEN = "7100001:AAfeatures-secret-token-0123456";
const ADA = 22001;
const GRACE = 22002;
const LINUS = 22003;
const HEDY = 22004;
const QUIET_GROUP = -1002200001;

const HEDY_PHOTO = Buffer.from("hedy's profile photo, pretend JPEG bytes");
/** A PNG header with the given size and some body bytes: enough for Telegram's photo sizes. */
function png(width: number, height: number, fill: string): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32BE(0x89504e47, 0);
  header.writeUInt32BE(0x0d0a1a0a, 4);
  header.writeUInt32BE(13, 8);
  header.write("IHDR", 12, "latin1");
  header.writeUInt32BE(width, 16);
  header.writeUInt32BE(height, 20);
  return Buffer.concat([header, Buffer.from(fill.repeat(50))]);
}

let h: TelegramHarness;
let alice: XmppTestClient;
let bot: FakeBot;
/** The test's stand-in for an upload service, on loopback: path → [type, bytes]. */
let uploads: Server;
let uploadOrigin: string;
const uploaded = new Map<string, [string, Buffer]>();

const ada = `${ADA}@${TG_GATEWAY}`;
const chatFrom = (from: string, body?: string) => (s: Element) =>
  s.name === "message" &&
  s.attrs.from === from &&
  s.attrs.type === "chat" &&
  (body === undefined || s.getChildText("body") === body);

function errorText(stanza: Element): string {
  return stanza.getChild("error")?.getChildText("text", "urn:ietf:params:xml:ns:xmpp-stanzas") ?? "";
}

beforeAll(async () => {
  uploads = createServer((req, res) => {
    const file = uploaded.get(req.url ?? "");
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { "Content-Type": file[0], "Content-Length": String(file[1].length) }).end(file[1]);
  });
  await new Promise<void>((resolve) => uploads.listen(0, "127.0.0.1", resolve));
  uploadOrigin = `http://127.0.0.1:${(uploads.address() as AddressInfo).port}`;
  h = await startTelegramHarness({ fetchAllowOrigins: [uploadOrigin] });
  bot = h.telegram.addBot({ token: TOKEN, username: "features_bot", first_name: "Features Bot" });
  h.telegram.addUser({ id: ADA, first_name: "Ada", username: "ada_f" });
  h.telegram.addUser({ id: HEDY, first_name: "Hedy", last_name: "Lamarr", photo: HEDY_PHOTO });
  h.telegram.addUser({ id: GRACE, first_name: "Grace" });
  h.telegram.addUser({ id: LINUS, first_name: "Linus" });
  // The bot is a plain member with privacy mode on: it sees only what mentions or answers it.
  h.telegram.addChat({
    id: QUIET_GROUP,
    type: "supergroup",
    title: "Quiet",
    admins: [GRACE],
    members: [ADA, bot.id],
  });
  alice = await h.login("alice");
  await registerWithForm(alice, TG_GATEWAY, { token: TOKEN, owner: String(GRACE) });
  await alice.sendPresence({ to: TG_GATEWAY });
}, 60_000);

afterAll(async () => {
  await h?.stop();
  await new Promise<void>((resolve) => (uploads ? uploads.close(() => resolve()) : resolve()));
});

describe("while the user is offline", () => {
  it("the bot keeps polling, and a message that arrived meanwhile reaches the user when they log in", async () => {
    await alice.stop();
    await waitUntil(() => bot.isLongPolling(), "the bot polling with alice offline");
    h.telegram.userSends(TOKEN, { from: ADA, text: "written while you were away" });
    // Confirmed to Telegram (the next poll names a higher offset) only after delivery.
    await waitUntil(() => bot.pendingUpdates().length === 0, "the update delivered and confirmed");
    // A round trip over the same component link: once it is back, the server has routed the
    // message (to offline storage), so the login below cannot race it.
    const bob = await h.login("bob");
    await bob.iq(xml("iq", { type: "get", to: TG_GATEWAY }, xml("ping", { xmlns: "urn:xmpp:ping" })));
    await bob.stop();
    alice = await h.login("alice");
    const msg = await alice.waitFor(chatFrom(ada, "written while you were away"), "the offline message");
    expect(msg.getChild("delay", "urn:xmpp:delay")).toBeDefined();
  });
});

describe("replies, reactions, retractions", () => {
  it("replies both ways: a Telegram reply points at the XMPP message, an XMPP reply quotes on Telegram", async () => {
    await alice.send(
      xml("message", { to: ada, type: "chat", id: "q-1" }, xml("body", {}, "Shall we meet at noon?")),
    );
    const question = await bot.waitForSent(
      (s) => s.message?.text === "Shall we meet at noon?",
      "the question",
    );
    let since = alice.mark();
    const answer = h.telegram.userSends(TOKEN, {
      from: ADA,
      text: "Noon works",
      reply_to_message_id: question.message?.message_id,
    });
    const reply = await alice.waitFor(chatFrom(ada, "Noon works"), "Ada's reply", { since });
    expect(reply.getChild("reply", NS_REPLY)?.attrs.id).toBe("q-1");

    since = alice.mark();
    const quote = "> Noon works\n";
    await alice.send(
      xml(
        "message",
        { to: ada, type: "chat", id: "r-1" },
        xml("body", {}, `${quote}See you then`),
        xml("reply", { xmlns: NS_REPLY, to: ada, id: reply.attrs.id }),
        xml(
          "fallback",
          { xmlns: NS_FALLBACK, for: NS_REPLY },
          xml("body", { start: "0", end: String([...quote].length) }),
        ),
      ),
    );
    const sent = await bot.waitForSent((s) => s.message?.text === "See you then", "the reply on Telegram");
    expect(sent.message?.reply_to_message?.message_id).toBe(answer.message_id);
  });

  it("reactions both ways, on the same message", async () => {
    let since = alice.mark();
    const original = h.telegram.userSends(TOKEN, { from: ADA, text: "I finished the notes" });
    const shown = await alice.waitFor(chatFrom(ada, "I finished the notes"), "Ada's message", { since });
    await alice.send(
      xml(
        "message",
        { to: ada, type: "chat", id: "react-1" },
        xml("reactions", { xmlns: NS_REACTIONS, id: shown.attrs.id }, xml("reaction", {}, "👍")),
      ),
    );
    const reacted = await bot.waitForSent(
      (s) => s.method === "setMessageReaction",
      "the reaction on Telegram",
    );
    expect(reacted.params.message_id).toBe(String(original.message_id));
    expect(JSON.parse(String(reacted.params.reaction))).toEqual([{ type: "emoji", emoji: "👍" }]);

    since = alice.mark();
    await alice.send(xml("message", { to: ada, type: "chat", id: "mine-1" }, xml("body", {}, "thank you!")));
    const mine = await bot.waitForSent((s) => s.message?.text === "thank you!", "alice's message");
    h.telegram.userReacts(TOKEN, { from: ADA, message_id: mine.message?.message_id ?? 0, emoji: ["❤"] });
    const back = await alice.waitFor(
      (s) => s.attrs.from === ada && s.getChild("reactions", NS_REACTIONS) !== undefined,
      "Ada's reaction",
      { since },
    );
    expect(back.getChild("reactions", NS_REACTIONS)?.attrs.id).toBe("mine-1");
    expect(back.getChild("reactions", NS_REACTIONS)?.getChildText("reaction")).toBe("❤");
  });

  it("retractions both ways: the user's own message is deleted on Telegram; a deleted Business message is retracted", async () => {
    await alice.send(
      xml("message", { to: ada, type: "chat", id: "oops-1" }, xml("body", {}, "wrong chat, sorry")),
    );
    const sent = await bot.waitForSent(
      (s) => s.message?.text === "wrong chat, sorry",
      "the message to retract",
    );
    await alice.send(
      xml(
        "message",
        { to: ada, type: "chat", id: "retract-1" },
        xml("retract", { xmlns: NS_RETRACT, id: "oops-1" }),
      ),
    );
    const deleted = await bot.waitForSent((s) => s.method === "deleteMessage", "the deletion on Telegram");
    expect(deleted.params.message_id).toBe(String(sent.message?.message_id));

    // Telegram tells bots about deletions only in Business chats (deleted_business_messages).
    let since = alice.mark();
    const connection = h.telegram.connectBusiness(TOKEN, {
      userId: GRACE,
      can_reply: true,
      is_enabled: true,
    });
    await alice.waitFor(
      (s) => /Business connected/.test(s.getChildText("body") ?? ""),
      "the connection notice",
      {
        since,
      },
    );
    since = alice.mark();
    const gone = h.telegram.businessUserSends(TOKEN, {
      connection_id: connection,
      chat: LINUS,
      from: LINUS,
      text: "typo-laden message",
    });
    const shown = await alice.waitFor(
      chatFrom(`b${LINUS}@${TG_GATEWAY}`, "typo-laden message"),
      "Linus's message",
      {
        since,
      },
    );
    since = alice.mark();
    h.telegram.businessDeletes(TOKEN, {
      connection_id: connection,
      chat: LINUS,
      message_ids: [gone.message_id],
    });
    const retraction = await alice.waitFor(
      (s) => s.attrs.from === `b${LINUS}@${TG_GATEWAY}` && s.getChild("retract", NS_RETRACT) !== undefined,
      "the retraction",
      { since },
    );
    expect(retraction.getChild("retract", NS_RETRACT)?.attrs.id).toBe(shown.attrs.id);
  });
});

describe("contacts and rooms", () => {
  it("a contact's Telegram profile photo is their vCard avatar, announced by its hash", async () => {
    const hedy = `${HEDY}@${TG_GATEWAY}`;
    const hash = createHash("sha1").update(HEDY_PHOTO).digest("hex");
    const since = alice.mark();
    h.telegram.userSends(TOKEN, { from: HEDY, text: "hello, it's Hedy" });
    await alice.waitFor(
      (s) =>
        s.name === "presence" &&
        s.attrs.from === hedy &&
        s.getChild("x", "vcard-temp:x:update")?.getChildText("photo") === hash,
      "a presence announcing Hedy's avatar hash",
      { since },
    );
    const vcard = await alice.iq(xml("iq", { type: "get", to: hedy }, xml("vCard", { xmlns: "vcard-temp" })));
    const card = vcard.getChild("vCard", "vcard-temp");
    expect(
      Buffer.from(card?.getChild("PHOTO")?.getChildText("BINVAL") ?? "", "base64").equals(HEDY_PHOTO),
    ).toBe(true);
    expect(card?.getChild("PHOTO")?.getChildText("TYPE")).toBe("image/jpeg");
    expect(card?.getChildText("NICKNAME") ?? card?.getChildText("FN")).toBe("Hedy Lamarr");
  });

  it("a group where privacy mode hides messages says so in the room's disco#info", async () => {
    const since = alice.mark();
    h.telegram.userSends(TOKEN, { from: ADA, chat: QUIET_GROUP, text: "@features_bot are you there?" });
    await alice.waitFor((s) => s.getChild("x", "jabber:x:conference") !== undefined, "the invitation", {
      since,
    });
    const room = `${QUIET_GROUP}@${TG_GATEWAY}`;
    await alice.sendPresence({ to: `${room}/alice` }, [xml("x", { xmlns: NS_MUC })]);
    await alice.waitFor((s) => s.attrs.from === room && s.getChild("subject") !== undefined, "the join", {
      since,
    });
    const info = await alice.iq(
      xml("iq", { type: "get", to: room }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })),
    );
    const fields = info.getChild("query")?.getChild("x", NS_DATA)?.getChildren("field") ?? [];
    const description = fields.find((f) => f.attrs.var === "muc#roominfo_description")?.getChildText("value");
    expect(description).toMatch(/Privacy mode is on for your bot/);
    expect(description).toMatch(/only sees commands, messages that mention it and replies to it/);
  });
});

describe("files", () => {
  it("a photo from Telegram arrives as an OOB link to the file proxy, serving the same bytes, caption as text", async () => {
    const image = png(1600, 1200, "photo-bytes ");
    const since = alice.mark();
    const sent = h.telegram.userSends(TOKEN, { from: ADA, photo: image, caption: "the whiteboard" });
    const msg = await alice.waitFor(
      (s) => chatFrom(ada)(s) && s.getChild("x", NS_OOB) !== undefined,
      "the photo as a link",
      { since },
    );
    const url = msg.getChild("x", NS_OOB)?.getChildText("url") ?? "";
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/files\/[A-Za-z0-9_-]{43}\//);
    expect(msg.getChildText("body")).toBe(`the whiteboard\n${url}`);
    const res = await fetch(url);
    expect(res.headers.get("content-type")).toBe("image/jpeg");
    expect(Buffer.from(await res.arrayBuffer()).equals(image)).toBe(true);
    // The largest of Telegram's sizes was the one fetched.
    const largest = sent.photo?.at(-1)?.file_id;
    const fetched = h.telegram
      .requests()
      .filter((r) => r.method === "getFile")
      .at(-1);
    expect(fetched?.params.file_id).toBe(largest);
  });

  it("documents, voice, stickers and locations arrive as a user can use them", async () => {
    let since = alice.mark();
    h.telegram.userSends(TOKEN, {
      from: ADA,
      document: {
        data: Buffer.from("%PDF-1.4 minutes"),
        file_name: "minutes.pdf",
        mime_type: "application/pdf",
      },
    });
    const doc = await alice.waitFor(
      (s) => chatFrom(ada)(s) && s.getChild("x", NS_OOB) !== undefined,
      "the document",
      {
        since,
      },
    );
    const docUrl = doc.getChild("x", NS_OOB)?.getChildText("url") ?? "";
    expect(docUrl).toMatch(/\/minutes\.pdf$/);
    expect(doc.getChildText("body")).toBe(docUrl);
    expect(await (await fetch(docUrl)).text()).toBe("%PDF-1.4 minutes");

    since = alice.mark();
    h.telegram.userSends(TOKEN, { from: ADA, voice: { data: Buffer.from("OggS voice"), duration: 3 } });
    const voice = await alice.waitFor(
      (s) => chatFrom(ada)(s) && s.getChild("x", NS_OOB) !== undefined,
      "the voice",
      {
        since,
      },
    );
    expect(
      (await fetch(voice.getChild("x", NS_OOB)?.getChildText("url") ?? "")).headers.get("content-type"),
    ).toBe("audio/ogg");

    since = alice.mark();
    h.telegram.userSends(TOKEN, {
      from: ADA,
      sticker: { data: Buffer.from("RIFF webp sticker"), emoji: "🐱" },
    });
    const sticker = await alice.waitFor(
      (s) => chatFrom(ada)(s) && s.getChild("x", NS_OOB) !== undefined,
      "the sticker",
      {
        since,
      },
    );
    expect(
      (await fetch(sticker.getChild("x", NS_OOB)?.getChildText("url") ?? "")).headers.get("content-type"),
    ).toBe("image/webp");

    since = alice.mark();
    h.telegram.userSends(TOKEN, { from: ADA, location: { latitude: 51.5072, longitude: -0.1276 } });
    const where = await alice.waitFor(
      (s) => chatFrom(ada)(s) && /geo:/.test(s.getChildText("body") ?? ""),
      "the location",
      {
        since,
      },
    );
    expect(where.getChildText("body")).toContain("geo:51.5072,-0.1276");
  });

  it("a file over Telegram's 20 MB download limit is announced with the reason, not dropped", async () => {
    const since = alice.mark();
    h.telegram.userSends(TOKEN, {
      from: ADA,
      document: {
        data: Buffer.alloc(21 * 1024 * 1024, 1),
        file_name: "dataset.bin",
        mime_type: "application/octet-stream",
      },
      caption: "all the data",
    });
    const msg = await alice.waitFor(
      (s) => chatFrom(ada)(s) && /dataset\.bin/.test(s.getChildText("body") ?? ""),
      "the notice",
      {
        since,
      },
    );
    expect(msg.getChildText("body")).toMatch(
      /too big to relay: Telegram lets bots download files up to 20 MB/,
    );
    expect(msg.getChildText("body")).toMatch(/all the data$/);
    expect(msg.getChild("x", NS_OOB)).toBeUndefined();
  });

  it("an XMPP user's OOB link is fetched and uploaded: an image as a photo, a PDF as a document", async () => {
    const image = png(640, 480, "upload ");
    uploaded.set("/up/cat.png", ["image/png", image]);
    uploaded.set("/up/report.pdf", ["application/pdf", Buffer.from("%PDF-1.7 report")]);
    const imageUrl = `${uploadOrigin}/up/cat.png`;
    await alice.send(
      xml(
        "message",
        { to: ada, type: "chat", id: "file-1" },
        xml("body", {}, imageUrl),
        xml("x", { xmlns: NS_OOB }, xml("url", {}, imageUrl)),
      ),
    );
    const photo = await bot.waitForSent((s) => s.method === "sendPhoto", "the photo on Telegram");
    const fileId = photo.message?.photo?.at(-1)?.file_id ?? "";
    expect(h.telegram.fileData(fileId)?.equals(image)).toBe(true);
    expect(photo.message?.caption).toBeUndefined();

    const pdfUrl = `${uploadOrigin}/up/report.pdf`;
    await alice.send(
      xml(
        "message",
        { to: ada, type: "chat", id: "file-2" },
        xml("body", {}, pdfUrl),
        xml("x", { xmlns: NS_OOB }, xml("url", {}, pdfUrl)),
      ),
    );
    const doc = await bot.waitForSent((s) => s.method === "sendDocument", "the document on Telegram");
    expect(doc.message?.document?.file_name).toBe("report.pdf");
    expect(h.telegram.fileData(doc.message?.document?.file_id ?? "")?.toString()).toBe("%PDF-1.7 report");
  });

  it("a link to a private address is not fetched: the sender gets an error saying why", async () => {
    const url = "http://127.0.0.1:9/secret.png";
    const before = bot.sent().length;
    await alice.send(
      xml(
        "message",
        { to: ada, type: "chat", id: "ssrf-1" },
        xml("body", {}, url),
        xml("x", { xmlns: NS_OOB }, xml("url", {}, url)),
      ),
    );
    const error = await alice.waitFor(
      (s) => s.attrs.type === "error" && s.attrs.id === "ssrf-1",
      "the refusal",
    );
    expect(error.getChild("error")?.getChild("not-acceptable")).toBeDefined();
    expect(errorText(error)).toMatch(/^Sending to Telegram failed|the file cannot be fetched/);
    expect(bot.sent().slice(before)).toEqual([]);
  });
});

describe("secrets", () => {
  it("no bot token and no Telegram file URL in the log or in anything the user received", () => {
    const seen = alice.stanzas.map((s) => s.toString()).join("\n");
    for (const text of [h.logText(), seen]) {
      expect(text).not.toContain("AAfeatures-secret");
      expect(text).not.toContain("/file/bot");
    }
  });
});
