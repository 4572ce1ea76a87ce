/**
 * The fake Bot API server, driven by the real node-telegram-bot-api client (as the
 * gateway uses it) and by raw HTTP for the edges the client hides.
 */
import { inspect } from "node:util";
import { Api, InputFile, NetworkError, TelegramApiError } from "node-telegram-bot-api";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FakeTelegram, startFakeTelegram, type TgUpdate } from "../fakes/telegram/server.ts";

const SECRET = "AAHsecretPartOfTheToken";
const TOKEN = `111111:${SECRET}`;
const ALICE = 42;
const BOB = 43;
const GROUP = -4001;

let fake: FakeTelegram;
/** The real client, without its own retries unless a test asks for them. */
let api: Api;

beforeEach(async () => {
  fake = await startFakeTelegram();
  fake.addBot({ token: TOKEN, username: "postern_bot", first_name: "Postern" });
  fake.addUser({ id: ALICE, first_name: "Alice", username: "alice" });
  fake.addUser({ id: BOB, first_name: "Bob" });
  api = new Api(TOKEN, { apiRoot: fake.apiRoot, maxRetries: 0 });
});

afterEach(async () => {
  await fake.close();
});

/** A raw Bot API call: status and parsed body. */
async function call(method: string, params: Record<string, unknown> = {}, token = TOKEN) {
  const response = await fetch(`${fake.apiRoot}/bot${token}/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(params),
  });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as Record<string, unknown>, text };
}

/** getUpdates through the real client, read with the fake's Update shape. */
async function getUpdates(params: Parameters<Api["getUpdates"]>[0]): Promise<TgUpdate[]> {
  const updates: unknown = await api.getUpdates(params);
  return updates as TgUpdate[];
}

/** The TelegramApiError a client call fails with. */
async function apiError(promise: Promise<unknown>): Promise<TelegramApiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof TelegramApiError))
    throw new Error(`expected a TelegramApiError, got ${inspect(error)}`);
  return error;
}

describe("HTTP surface", () => {
  it("answers an unknown token with 401 Unauthorized and never echoes it", async () => {
    const other = "999999:AAHsomeoneElsesSecret";
    const { status, body, text } = await call("getMe", {}, other);
    expect(status).toBe(401);
    expect(body).toEqual({ ok: false, error_code: 401, description: "Unauthorized" });
    expect(text).not.toContain("AAHsomeoneElsesSecret");
  });

  it("answers an unknown method with 404 Not Found", async () => {
    const { status, body } = await call("sendTelepathy");
    expect(status).toBe(404);
    expect(body).toEqual({ ok: false, error_code: 404, description: "Not Found" });
  });

  it("accepts method names in any case, GET query strings and JSON bodies", async () => {
    const viaGet = await fetch(`${fake.apiRoot}/bot${TOKEN}/GETME`);
    expect(viaGet.status).toBe(200);
    expect(await viaGet.json()).toMatchObject({
      ok: true,
      result: { id: 111111, is_bot: true, username: "postern_bot" },
    });
    fake.addChat({ id: ALICE, type: "private" });
    const viaQuery = await fetch(`${fake.apiRoot}/bot${TOKEN}/sendMessage?chat_id=${ALICE}&text=hi`);
    expect(await viaQuery.json()).toMatchObject({ ok: true, result: { text: "hi", chat: { id: ALICE } } });
    const viaJson = await call("sendmessage", {
      chat_id: ALICE,
      text: "json",
      entities: [{ type: "bold", offset: 0, length: 4 }],
    });
    expect(viaJson.body).toMatchObject({
      ok: true,
      result: { text: "json", entities: [{ type: "bold", offset: 0, length: 4 }] },
    });
  });

  it("logs every request with the token redacted and a server timestamp", async () => {
    await api.getMe();
    const [entry] = fake.requests();
    expect(entry).toMatchObject({ method: "getMe", token: "111111:[redacted]", botId: 111111, status: 200 });
    expect(typeof entry?.at).toBe("number");
    expect(JSON.stringify(fake.requests())).not.toContain(SECRET);
  });
});

describe("sending with the real client", () => {
  beforeEach(() => {
    fake.userSends(TOKEN, { from: ALICE, text: "hi bot" });
  });

  it("sends text with HTML and MarkdownV2 entities in UTF-16 offsets", async () => {
    const html = await api.sendMessage({
      chat_id: ALICE,
      text: '🏟 <b>bold</b> &amp; <a href="example.org">x</a>',
      parse_mode: "HTML",
    });
    expect(html.text).toBe("🏟 bold & x");
    expect(html.entities).toEqual([
      { type: "bold", offset: 3, length: 4 },
      { type: "text_link", offset: 10, length: 1, url: "http://example.org/" },
    ]);
    const md = await api.sendMessage({
      chat_id: ALICE,
      text: "*b* _i_ __u__ `c` 1\\.0",
      parse_mode: "MarkdownV2",
    });
    expect(md.text).toBe("b i u c 1.0");
    expect(md.entities?.map((e) => e.type)).toEqual(["bold", "italic", "underline", "code"]);
    expect(
      fake
        .bot(TOKEN)
        .sent()
        .map((s) => s.method),
    ).toEqual(["sendMessage", "sendMessage"]);
  });

  it("refuses malformed markup with the server's wording", async () => {
    const html = await apiError(
      api.sendMessage({ chat_id: ALICE, text: "a <foo>b</foo>", parse_mode: "HTML" }),
    );
    expect(html.errorCode).toBe(400);
    expect(html.description).toBe(
      'Bad Request: can\'t parse entities: Unsupported start tag "foo" at byte offset 2',
    );
    const unclosed = await apiError(
      api.sendMessage({ chat_id: ALICE, text: "<b>x</i>", parse_mode: "HTML" }),
    );
    expect(unclosed.description).toBe(
      'Bad Request: can\'t parse entities: Unmatched end tag at byte offset 4, expected "</b>", found "</i>"',
    );
    const md = await apiError(
      api.sendMessage({ chat_id: ALICE, text: "Version 1.0", parse_mode: "MarkdownV2" }),
    );
    expect(md.description).toBe(
      "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'",
    );
    const open = await apiError(api.sendMessage({ chat_id: ALICE, text: "*bold", parse_mode: "MarkdownV2" }));
    expect(open.description).toBe(
      "Bad Request: can't parse entities: Can't find end of Bold entity at byte offset 0",
    );
    expect(fake.bot(TOKEN).sent()).toEqual([]);
  });

  it("enforces text limits and chat existence", async () => {
    const long = await apiError(api.sendMessage({ chat_id: ALICE, text: "x".repeat(4097) }));
    expect(long.description).toBe("Bad Request: message is too long");
    await expect(api.sendMessage({ chat_id: ALICE, text: "x".repeat(4096) })).resolves.toMatchObject({});
    const empty = await call("sendMessage", { chat_id: ALICE, text: "" });
    expect(empty.body.description).toBe("Bad Request: message text is empty");
    const blank = await call("sendMessage", { chat_id: ALICE, text: "<b> </b>", parse_mode: "HTML" });
    expect(blank.body.description).toBe("Bad Request: message text is empty");
    const noChat = await apiError(api.sendMessage({ chat_id: 777, text: "x" }));
    expect(noChat.description).toBe("Bad Request: chat not found");
    const stranger = await apiError(api.sendMessage({ chat_id: BOB, text: "x" }));
    expect(stranger).toMatchObject({
      errorCode: 403,
      description: "Forbidden: bot can't initiate conversation with a user",
    });
    const noId = await call("sendMessage", { text: "x" });
    expect(noId.body.description).toBe("Bad Request: chat_id is empty");
  });

  it("threads replies through reply_parameters and the legacy reply_to_message_id", async () => {
    const first = await api.sendMessage({ chat_id: ALICE, text: "first" });
    const reply = await api.sendMessage({
      chat_id: ALICE,
      text: "second",
      reply_parameters: { message_id: first.message_id },
    });
    expect(reply.reply_to_message).toMatchObject({ message_id: first.message_id, text: "first" });
    const legacy = await call("sendMessage", {
      chat_id: ALICE,
      text: "third",
      reply_to_message_id: reply.message_id,
    });
    expect(legacy.body).toMatchObject({ result: { reply_to_message: { message_id: reply.message_id } } });
    const missing = await apiError(
      api.sendMessage({ chat_id: ALICE, text: "x", reply_parameters: { message_id: 999 } }),
    );
    expect(missing.description).toBe("Bad Request: message to be replied not found");
    const tolerated = await api.sendMessage({
      chat_id: ALICE,
      text: "x",
      reply_parameters: { message_id: 999, allow_sending_without_reply: true },
    });
    expect(tolerated.reply_to_message).toBeUndefined();
  });

  it("edits, reacts to and deletes a message, with the documented refusals", async () => {
    const sent = await api.sendMessage({ chat_id: ALICE, text: "draft" });
    const edited = await api.editMessageText({ chat_id: ALICE, message_id: sent.message_id, text: "final" });
    expect(edited).toMatchObject({ message_id: sent.message_id, text: "final" });
    expect(typeof (edited as { edit_date?: number }).edit_date).toBe("number");
    const same = await apiError(
      api.editMessageText({ chat_id: ALICE, message_id: sent.message_id, text: "final" }),
    );
    expect(same.description).toMatch(/^Bad Request: message is not modified: /);
    const foreign = await apiError(api.editMessageText({ chat_id: ALICE, message_id: 1, text: "mine now" }));
    expect(foreign.description).toBe("Bad Request: message can't be edited");
    await expect(
      api.setMessageReaction({ chat_id: ALICE, message_id: 1, reaction: [{ type: "emoji", emoji: "👍" }] }),
    ).resolves.toBe(true);
    const badEmoji = await apiError(
      api.setMessageReaction({ chat_id: ALICE, message_id: 1, reaction: [{ type: "emoji", emoji: "🦆" }] }),
    );
    expect(badEmoji.description).toBe("Bad Request: REACTION_INVALID");
    await expect(api.deleteMessage({ chat_id: ALICE, message_id: sent.message_id })).resolves.toBe(true);
    const gone = await apiError(
      api.editMessageText({ chat_id: ALICE, message_id: sent.message_id, text: "again" }),
    );
    expect(gone.description).toBe("Bad Request: message to edit not found");
    const twice = await apiError(api.deleteMessage({ chat_id: ALICE, message_id: sent.message_id }));
    expect(twice.description).toBe("Bad Request: message to delete not found");
    await expect(api.sendChatAction({ chat_id: ALICE, action: "typing" })).resolves.toBe(true);
    expect(
      fake
        .bot(TOKEN)
        .sent()
        .map((s) => s.method),
    ).toEqual(["sendMessage", "editMessageText", "setMessageReaction", "deleteMessage", "sendChatAction"]);
  });

  it("does not let a bot delete someone else's message in a group it does not administer", async () => {
    fake.addChat({ id: GROUP, type: "group", title: "G", admins: [BOB], members: [ALICE, 111111] });
    const theirs = fake.userSends(TOKEN, { from: ALICE, chat: GROUP, text: "/start" });
    const refused = await apiError(api.deleteMessage({ chat_id: GROUP, message_id: theirs.message_id }));
    expect(refused.description).toBe("Bad Request: message can't be deleted");
  });
});

describe("files", () => {
  beforeEach(() => {
    fake.addChat({ id: ALICE, type: "private" });
  });

  it("uploads a photo as multipart, then serves it through getFile and the download route", async () => {
    const png = Buffer.alloc(33);
    png.writeUInt32BE(0x89504e47, 0);
    png.write("IHDR", 12, "latin1");
    png.writeUInt32BE(2000, 16);
    png.writeUInt32BE(1000, 20);
    const message = await api.sendPhoto({
      chat_id: ALICE,
      photo: new InputFile(new Uint8Array(png), { filename: "wide.png", contentType: "image/png" }),
      caption: "<i>look</i>",
      parse_mode: "HTML",
    });
    const sizes = message.photo ?? [];
    expect(sizes.map((s) => [s.width, s.height])).toEqual([
      [90, 45],
      [320, 160],
      [800, 400],
      [1280, 640],
      [2000, 1000],
    ]);
    expect(message.caption).toBe("look");
    expect(message.caption_entities).toEqual([{ type: "italic", offset: 0, length: 4 }]);
    const largest = sizes.at(-1)!;
    const file = await api.getFile({ file_id: largest.file_id });
    expect(file).toMatchObject({ file_id: largest.file_id, file_size: png.length });
    const download = await fetch(`${fake.apiRoot}/file/bot${TOKEN}/${file.file_path}`);
    expect(Buffer.from(await download.arrayBuffer())).toEqual(png);
    const again = await api.sendPhoto({ chat_id: ALICE, photo: largest.file_id });
    expect(again.photo?.map((s) => s.file_unique_id)).toEqual(sizes.map((s) => s.file_unique_id));
  });

  it("parses a multipart document sent with FormData and keeps its name and type", async () => {
    // Content that looks like a part delimiter must survive the parser.
    const content = Buffer.from("line one\r\n--not a boundary\r\n\r\n");
    const form = new FormData();
    form.append("chat_id", String(ALICE));
    form.append("document", new Blob([content], { type: "text/plain" }), "notes.txt");
    const response = await fetch(`${fake.apiRoot}/bot${TOKEN}/sendDocument`, { method: "POST", body: form });
    const body = (await response.json()) as { result: { document: { file_id: string } } };
    expect(body.result.document).toMatchObject({ file_name: "notes.txt", mime_type: "text/plain" });
    const file = await api.getFile({ file_id: body.result.document.file_id });
    const download = await fetch(`${fake.apiRoot}/file/bot${TOKEN}/${file.file_path}`);
    expect(Buffer.from(await download.arrayBuffer())).toEqual(content);
  });

  it("records a file given by URL without fetching it", async () => {
    const message = await api.sendDocument({ chat_id: ALICE, document: "https://files.example/report.pdf" });
    expect(message.document).toMatchObject({ file_name: "report.pdf", mime_type: "application/pdf" });
    expect(fake.bot(TOKEN).sent()[0]?.params).toMatchObject({ document: "https://files.example/report.pdf" });
    const unknown = await apiError(api.sendDocument({ chat_id: ALICE, document: "no-such-file-id" }));
    expect(unknown.description).toBe("Bad Request: wrong file identifier/HTTP URL specified");
  });

  it("refuses getFile above 20 MB and answers an unknown file_id", async () => {
    const big = fake.userSends(TOKEN, {
      from: ALICE,
      document: {
        data: Buffer.alloc(20 * 1024 * 1024 + 1),
        file_name: "big.bin",
        mime_type: "application/octet-stream",
      },
    });
    const tooBig = await apiError(api.getFile({ file_id: big.document!.file_id }));
    expect(tooBig.description).toBe("Bad Request: file is too big");
    const invalid = await apiError(api.getFile({ file_id: "nope" }));
    expect(invalid.description).toBe("Bad Request: invalid file_id");
  });

  it("serves profile photos", async () => {
    fake.addUser({ id: 50, first_name: "Carol", photo: Buffer.from("jpeg-ish") });
    const photos = await api.getUserProfilePhotos({ user_id: 50 });
    expect(photos.total_count).toBe(1);
    expect(photos.photos[0]?.length).toBeGreaterThan(1);
  });
});

describe("getUpdates", () => {
  it("returns [] when a long poll times out", async () => {
    await expect(getUpdates({ timeout: 1 })).resolves.toEqual([]);
  });

  it("answers a waiting long poll as soon as an update arrives", async () => {
    const poll = getUpdates({ timeout: 25 });
    // Let the poll reach the server and start waiting.
    await expect.poll(() => fake.bot(TOKEN).isLongPolling()).toBe(true);
    fake.userSends(TOKEN, { from: ALICE, text: "ping" });
    const updates = await poll;
    expect(updates).toHaveLength(1);
    expect(updates[0]?.message?.text).toBe("ping");
  });

  it("forgets updates below the offset for good, and counts a negative offset from the end", async () => {
    for (const text of ["one", "two", "three", "four"]) fake.userSends(TOKEN, { from: ALICE, text });
    const all = await getUpdates({});
    expect(all.map((u) => u.message?.text)).toEqual(["one", "two", "three", "four"]);
    const ids = all.map((u) => u.update_id);
    const fromSecond = await getUpdates({ offset: ids[1]! });
    expect(fromSecond.map((u) => u.update_id)).toEqual(ids.slice(1));
    expect(
      fake
        .bot(TOKEN)
        .pendingUpdates()
        .map((u) => u.update_id),
    ).toEqual(ids.slice(1));
    const limited = await getUpdates({ offset: ids[1]!, limit: 1 });
    expect(limited.map((u) => u.update_id)).toEqual([ids[1]]);
    const last = await getUpdates({ offset: -1 });
    expect(last.map((u) => u.update_id)).toEqual([ids[3]]);
    expect(
      fake
        .bot(TOKEN)
        .pendingUpdates()
        .map((u) => u.update_id),
    ).toEqual([ids[3]]);
    await expect(getUpdates({ offset: ids[3]! + 1 })).resolves.toEqual([]);
    expect(fake.bot(TOKEN).pendingUpdates()).toEqual([]);
  });

  it("terminates the older of two concurrent long polls with 409", async () => {
    // The newer poll repeats offset 0 within 3 s, so the server's busy-loop guard
    // stretches its 1 s timeout to 3 s, as the real server does.
    const first = call("getUpdates", { timeout: 25 });
    await expect.poll(() => fake.bot(TOKEN).isLongPolling()).toBe(true);
    const second = getUpdates({ timeout: 1 });
    const old = await first;
    expect(old.status).toBe(409);
    expect(old.body).toEqual({
      ok: false,
      error_code: 409,
      description:
        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    });
    await expect(second).resolves.toEqual([]);
  });

  it("refuses getUpdates while a webhook is set", async () => {
    const set = await call("setWebhook", { url: "https://gateway.example/hook" });
    expect(set.body).toEqual({ ok: true, result: true, description: "Webhook was set" });
    const refused = await apiError(getUpdates({}));
    expect(refused.errorCode).toBe(409);
    expect(refused.description).toBe(
      "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
    );
    fake.userSends(TOKEN, { from: ALICE, text: "queued" });
    await expect(api.getWebhookInfo()).resolves.toMatchObject({
      url: "https://gateway.example/hook",
      pending_update_count: 1,
    });
    await expect(api.deleteWebhook({})).resolves.toBe(true);
    const updates = await getUpdates({});
    expect(updates.map((u) => u.message?.text)).toEqual(["queued"]);
  });

  it("delivers message_reaction only when allowed_updates asks for it, and remembers the setting", async () => {
    const mine = await (async () => {
      fake.userSends(TOKEN, { from: ALICE, text: "hi" });
      return api.sendMessage({ chat_id: ALICE, text: "hello" });
    })();
    fake.userReacts(TOKEN, { from: ALICE, message_id: mine.message_id, emoji: ["👍"] });
    const before = await getUpdates({});
    expect(before.map((u) => Object.keys(u).filter((k) => k !== "update_id")[0])).toEqual(["message"]);
    await getUpdates({
      offset: before.at(-1)!.update_id + 1,
      allowed_updates: ["message", "message_reaction"],
    });
    fake.userReacts(TOKEN, { from: ALICE, message_id: mine.message_id, emoji: ["🔥"] });
    const after = await getUpdates({ offset: before.at(-1)!.update_id + 1 });
    expect(after).toHaveLength(1);
    expect(after[0]?.message_reaction).toMatchObject({
      message_id: mine.message_id,
      old_reaction: [{ type: "emoji", emoji: "👍" }],
      new_reaction: [{ type: "emoji", emoji: "🔥" }],
    });
  });
});

describe("groups", () => {
  beforeEach(() => {
    fake.addChat({ id: GROUP, type: "group", title: "Lounge", admins: [ALICE], members: [BOB, 111111] });
  });

  it("in privacy mode, a bot sees commands, mentions and replies but not chatter", async () => {
    fake.userSends(TOKEN, { from: BOB, chat: GROUP, text: "just chatting" });
    fake.userSends(TOKEN, { from: BOB, chat: GROUP, text: "hey @postern_bot" });
    fake.userSends(TOKEN, { from: BOB, chat: GROUP, text: "/help@postern_bot" });
    const mine = await api.sendMessage({ chat_id: GROUP, text: "bot here" });
    fake.userSends(TOKEN, { from: BOB, chat: GROUP, text: "answer", reply_to_message_id: mine.message_id });
    const seen = (await getUpdates({})).map((u) => u.message?.text);
    expect(seen).toEqual(["hey @postern_bot", "/help@postern_bot", "answer"]);
    fake.bot(TOKEN).setPrivacy(false);
    fake.userSends(TOKEN, { from: BOB, chat: GROUP, text: "now visible" });
    expect(fake.bot(TOKEN).pendingUpdates().at(-1)?.message?.text).toBe("now visible");
  });

  it("upgrades a group to a supergroup and refuses the old id with migrate_to_chat_id", async () => {
    const supergroup = -1001234567890;
    fake.groupEvent({ chat: GROUP, from: ALICE, migrate_to_chat_id: supergroup });
    const updates = await getUpdates({});
    expect(updates.map((u) => u.message)).toMatchObject([
      { chat: { id: GROUP, type: "group" }, migrate_to_chat_id: supergroup },
      { chat: { id: supergroup, type: "supergroup" }, migrate_from_chat_id: GROUP },
    ]);
    const raw = await call("sendMessage", { chat_id: GROUP, text: "hello?" });
    expect(raw.status).toBe(400);
    expect(raw.body).toEqual({
      ok: false,
      error_code: 400,
      description: "Bad Request: group chat was upgraded to a supergroup chat",
      parameters: { migrate_to_chat_id: supergroup },
    });
    const viaClient = await apiError(api.sendMessage({ chat_id: GROUP, text: "hello?" }));
    expect(viaClient.migrateToChatId).toBe(supergroup);
    await expect(api.sendMessage({ chat_id: supergroup, text: "hello!" })).resolves.toMatchObject({
      message_id: 2,
    });
  });

  it("reports members and administrators", async () => {
    const admins = await api.getChatAdministrators({ chat_id: GROUP });
    expect(admins).toMatchObject([{ status: "creator", user: { id: ALICE } }]);
    await expect(api.getChatMember({ chat_id: GROUP, user_id: BOB })).resolves.toMatchObject({
      status: "member",
    });
    await expect(api.getChat({ chat_id: GROUP })).resolves.toMatchObject({
      id: GROUP,
      type: "group",
      title: "Lounge",
    });
  });
});

describe("business accounts", () => {
  it("round-trips a business message and the bot's answer through the connection", async () => {
    const connection = fake.connectBusiness(TOKEN, { userId: ALICE, can_reply: true, is_enabled: true });
    fake.businessUserSends(TOKEN, {
      connection_id: connection,
      from: BOB,
      chat: BOB,
      text: "is the shop open?",
    });
    const updates = await getUpdates({});
    expect(updates[0]?.business_connection).toMatchObject({
      id: connection,
      user: { id: ALICE },
      is_enabled: true,
    });
    expect(updates[1]?.business_message).toMatchObject({
      business_connection_id: connection,
      from: { id: BOB },
      chat: { id: BOB, type: "private" },
      text: "is the shop open?",
    });
    const answer = await api.sendMessage({
      business_connection_id: connection,
      chat_id: BOB,
      text: "yes",
      reply_parameters: { message_id: updates[1]!.business_message!.message_id },
    });
    expect(answer).toMatchObject({
      business_connection_id: connection,
      from: { id: ALICE },
      sender_business_bot: { id: 111111 },
      chat: { id: BOB },
      reply_to_message: { text: "is the shop open?" },
    });
    await expect(api.getBusinessConnection({ business_connection_id: connection })).resolves.toMatchObject({
      id: connection,
      user_chat_id: ALICE,
    });
    fake.businessEdits(TOKEN, {
      connection_id: connection,
      chat: BOB,
      message_id: 1,
      text: "is it open today?",
    });
    fake.businessDeletes(TOKEN, { connection_id: connection, chat: BOB, message_ids: [1] });
    const later = await getUpdates({ offset: updates[1]!.update_id + 1 });
    expect(later[0]?.edited_business_message).toMatchObject({ text: "is it open today?" });
    expect(later[1]?.deleted_business_messages).toEqual({
      business_connection_id: connection,
      chat: { id: BOB, type: "private", first_name: "Bob" },
      message_ids: [1],
    });
    const unknown = await apiError(
      api.sendMessage({ business_connection_id: "nope", chat_id: BOB, text: "x" }),
    );
    expect(unknown.description).toBe("Bad Request: business connection not found");
  });
});

describe("faults and flood limits", () => {
  beforeEach(() => {
    fake.addChat({ id: ALICE, type: "private" });
  });

  it("injects 429 with retry_after in the text and in parameters", async () => {
    fake.injectFault({ method: "sendMessage", kind: { status: 429, retry_after: 7 } });
    const { status, body } = await call("sendMessage", { chat_id: ALICE, text: "x" });
    expect(status).toBe(429);
    expect(body).toEqual({
      ok: false,
      error_code: 429,
      description: "Too Many Requests: retry after 7",
      parameters: { retry_after: 7 },
    });
    expect(fake.bot(TOKEN).sent()).toEqual([]);
    const next = await call("sendMessage", { chat_id: ALICE, text: "x" });
    expect(next.status).toBe(200);
  });

  it("shows that the client retries a 429 on its own after retry_after", async () => {
    const retrying = new Api(TOKEN, { apiRoot: fake.apiRoot });
    fake.injectFault({ method: "sendMessage", kind: { status: 429, retry_after: 1 } });
    await retrying.sendMessage({ chat_id: ALICE, text: "eventually" });
    const attempts = fake.requests().filter((r) => r.method === "sendMessage");
    expect(attempts.map((r) => r.status)).toEqual([429, 200]);
    expect(fake.bot(TOKEN).sent()).toHaveLength(1);
  });

  it("performs the call before a reset-after, so the client's own retry duplicates the message", async () => {
    const retrying = new Api(TOKEN, { apiRoot: fake.apiRoot, retryBackoffMs: 1 });
    fake.injectFault({ method: "sendMessage", kind: { kind: "reset-after" } });
    await retrying.sendMessage({ chat_id: ALICE, text: "once?" });
    expect(
      fake
        .bot(TOKEN)
        .sent()
        .map((s) => s.message?.text),
    ).toEqual(["once?", "once?"]);
  });

  it("cuts the connection before acting on reset-before; the client error hides the token", async () => {
    fake.injectFault({ method: "sendMessage", kind: { kind: "reset-before" } });
    const error = await api.sendMessage({ chat_id: ALICE, text: "lost" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect(inspect(error, { depth: 10 })).not.toContain(SECRET);
    expect(fake.bot(TOKEN).sent()).toEqual([]);
  });

  it("answers 502 with nginx's HTML page, which the client reports as a server error", async () => {
    fake.injectFault({ kind: { status: 502 } });
    const raw = await fetch(`${fake.apiRoot}/bot${TOKEN}/getMe`);
    expect(raw.status).toBe(502);
    expect(raw.headers.get("content-type")).toBe("text/html");
    fake.injectFault({ method: "getMe", kind: { status: 503, description: "Service Unavailable" } });
    const error = await api.getMe().catch((e: unknown) => e);
    expect(error).toMatchObject({ errorCode: 503, description: "Service Unavailable" });
  });

  it("delays an answer without changing it", async () => {
    fake.injectFault({ method: "getMe", kind: { kind: "delay", ms: 50 } });
    await expect(api.getMe()).resolves.toMatchObject({ id: 111111 });
  });

  it("refuses a flood in a private chat with 429 when rate limits are enforced", async () => {
    const strict = await startFakeTelegram({ enforceRateLimits: true });
    try {
      strict.addBot({ token: TOKEN, username: "postern_bot", first_name: "Postern" });
      strict.addUser({ id: ALICE, first_name: "Alice" });
      strict.addChat({ id: ALICE, type: "private" });
      const client = new Api(TOKEN, { apiRoot: strict.apiRoot, maxRetries: 0 });
      for (let i = 0; i < 5; i++) await client.sendMessage({ chat_id: ALICE, text: `burst ${i}` });
      const flood = await apiError(client.sendMessage({ chat_id: ALICE, text: "one too many" }));
      expect(flood.errorCode).toBe(429);
      expect(flood.retryAfter).toBeGreaterThanOrEqual(1);
      expect(flood.description).toBe(`Too Many Requests: retry after ${flood.retryAfter}`);
      expect(strict.bot(TOKEN).sent()).toHaveLength(5);
    } finally {
      await strict.close();
    }
  });
});

describe("waitForSent", () => {
  it("resolves on a matching send and fails naming what it waited for", async () => {
    fake.addChat({ id: ALICE, type: "private" });
    const waiting = fake
      .bot(TOKEN)
      .waitForSent((s) => s.message?.text === "done", "the 'done' message", 2000);
    await api.sendMessage({ chat_id: ALICE, text: "done" });
    await expect(waiting).resolves.toMatchObject({ method: "sendMessage", chat_id: ALICE });
    await expect(fake.waitForSent(() => false, "a message that never comes", 50)).rejects.toThrow(
      /waiting for a message that never comes/,
    );
  });
});
