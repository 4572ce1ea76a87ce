/**
 * The Telegram adapter driven directly (no XMPP), against the fake Bot API: the details of
 * replies, reactions and retractions (the end-to-end view is in telegram-features.test.ts), the
 * formatting property (S4), group upgrades, pacing under Telegram's flood check, and the
 * one-poller lease (the core's leases; MemoryLeases sharing a map stand in for two processes).
 */
import fc from "fast-check";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { telegramAdapter } from "../../adapters/telegram/index.ts";
import { telegramSettingsSchema } from "../../adapters/telegram/settings.ts";
import type { Adapter, MessageEvent, Session, StyledText } from "../../src/adapter/index.ts";
import { xmppToStyled } from "../../src/xmpp/styling.ts";
import { type FakeTelegram, startFakeTelegram } from "../fakes/telegram/server.ts";
import {
  type HarnessSession,
  harnessSession,
  MemoryLeases,
  MemoryState,
  testFetcher,
} from "../support/adapter-harness.ts";

const TOKEN = "8000001:AAadapter-test-token-0123456789";
const ADA = 12345;
const GROUP = -4001;

let tg: FakeTelegram;

/** Adapters given the same `leases` map compete for their bots' poll leases like two processes. */
function makeAdapter(
  settings: Record<string, unknown> = {},
  leases = new Map<string, { holder: MemoryLeases; expires: number }>(),
): Adapter {
  return telegramAdapter.create({
    gateway: { domain: "telegram.localhost", name: "Telegram" },
    settings: telegramSettingsSchema.parse({
      apiRoot: tg.apiRoot,
      pollLeaseMs: 1500,
      retry: { baseMs: 20, maxMs: 200 },
      ...settings,
    }),
    log: pino({ level: process.env.LOG_LEVEL ?? "silent" }),
    state: new MemoryState(),
    files: undefined,
    leases: new MemoryLeases(leases),
    fetcher: testFetcher(),
  });
}

async function open(adapter: Adapter, h: HarnessSession): Promise<Session> {
  return adapter.openSession(h.context);
}

const direct = { kind: "direct" as const, id: String(ADA) };

beforeAll(async () => {
  tg = await startFakeTelegram();
  tg.addBot({ token: TOKEN, username: "adapter_test_bot", first_name: "Test Bot" });
  tg.addUser({ id: ADA, first_name: "Ada" });
  tg.addChat({
    id: GROUP,
    type: "group",
    title: "Small group",
    creator: ADA,
    admins: [ADA, 8000001],
    members: [],
  });
  tg.userSends(TOKEN, { from: ADA, text: "hi bot" });
});

afterAll(async () => {
  await tg?.close();
});

describe("telegram adapter, direct", () => {
  let adapter: Adapter;
  let h: HarnessSession;
  let session: Session;

  beforeAll(async () => {
    adapter = makeAdapter({
      pacing: { privateChat: { max: 1000, windowMs: 1000 }, global: { max: 1000, windowMs: 1000 } },
    });
    h = harnessSession("alice@localhost", { token: TOKEN });
    session = await open(adapter, h);
    await h.waitForEvent((e) => e.type === "message" && e.text.text === "hi bot", "the first message");
  });

  afterAll(async () => {
    await adapter.stop();
  });

  it("replies both ways: inbound replyTo, outbound reply_parameters", async () => {
    const receipt = await session.sendMessage({
      conversation: direct,
      kind: "normal",
      text: { text: "question?", spans: [] },
      clientId: "c1",
    });
    const since = h.mark();
    tg.userSends(TOKEN, { from: ADA, text: "answer!", reply_to_message_id: Number(receipt.id) });
    const answer = await h.waitForEvent<MessageEvent>(
      (e) => e.type === "message" && e.text.text === "answer!",
      "the reply",
      { since },
    );
    expect(answer.replyTo).toBe(receipt.id);
    const back = await session.sendMessage({
      conversation: direct,
      kind: "normal",
      text: { text: "thanks", spans: [] },
      clientId: "c2",
      replyTo: answer.id,
    });
    const sent = tg
      .bot(TOKEN)
      .sent()
      .find((s) => s.message?.message_id === Number(back.id));
    expect(sent?.message?.reply_to_message?.message_id).toBe(Number(answer.id));
  });

  it("reactions and retractions from XMPP, with Telegram's emoji and the user's words for refusals", async () => {
    const receipt = await session.sendMessage({
      conversation: direct,
      kind: "normal",
      text: { text: "react to me", spans: [] },
      clientId: "c3",
    });
    await session.react?.(direct, receipt.id ?? "", ["❤️"]);
    const reaction = tg
      .bot(TOKEN)
      .sent()
      .find((s) => s.method === "setMessageReaction");
    expect(JSON.parse(String(reaction?.params.reaction))).toEqual([{ type: "emoji", emoji: "❤" }]);
    await expect(session.react?.(direct, receipt.id ?? "", ["🦖"])).rejects.toThrow(
      /standard reaction emoji/,
    );
    await session.retractMessage?.(direct, receipt.id ?? "");
    expect(
      tg
        .bot(TOKEN)
        .sent()
        .some((s) => s.method === "deleteMessage"),
    ).toBe(true);
    await expect(session.retractMessage?.(direct, receipt.id ?? "")).rejects.toThrow(
      /cannot delete that message/,
    );
  });

  it("without a file proxy, a photo is announced with its caption, not dropped", async () => {
    const since = h.mark();
    tg.userSends(TOKEN, { from: ADA, photo: Buffer.from("jpeg"), caption: "look" });
    const shown = await h.waitForEvent<MessageEvent>(
      (e) => e.type === "message" && e.text.text.endsWith("look"),
      "the photo's message",
      { since },
    );
    expect(shown.text.text).toBe(
      "[photo] (this gateway does not relay files: its operator has not set up the file proxy)\nlook",
    );
    expect(shown.attachments).toBeUndefined();
  });

  it("S4: bodies full of HTML and Markdown metacharacters always go through, text unchanged", async () => {
    const meta = fc.constantFrom(
      "*",
      "_",
      "~",
      "`",
      "<",
      ">",
      "&",
      "[",
      "]",
      "(",
      ")",
      "\\",
      "#",
      "|",
      "\n",
      " ",
      "a",
      "é",
      "😀",
      "<b>",
      "</i>",
      "&amp;",
      "```",
      "http://x.y/",
    );
    const body = fc.array(meta, { minLength: 1, maxLength: 40 }).map((parts) => parts.join(""));
    await fc.assert(
      fc.asyncProperty(body, async (raw) => {
        const text: StyledText = xmppToStyled(raw);
        if (text.text.trim() === "") return;
        const receipt = await session.sendMessage({
          conversation: direct,
          kind: "normal",
          text,
          clientId: "p",
        });
        const sent = tg
          .bot(TOKEN)
          .sent()
          .find((s) => s.message?.message_id === Number(receipt.id));
        expect(sent?.message?.text).toBe(text.text.trim());
        // Nothing was synthesized: no mention or link we did not ask for.
        expect(
          sent?.message?.entities?.some((e) => e.type === "text_mention" || e.type === "text_link"),
        ).not.toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it("a group upgraded to a supergroup keeps its room, both ways", async () => {
    let since = h.mark();
    tg.userSends(TOKEN, { from: ADA, chat: GROUP, text: "in the small group" });
    await h.waitForEvent(
      (e) => e.type === "message" && e.conversation.id === String(GROUP),
      "the group message",
      { since },
    );
    since = h.mark();
    tg.groupEvent({ chat: GROUP, from: ADA, migrate_to_chat_id: -1004001 });
    await h.waitForEvent(
      (e) => e.type === "notice" && e.conversation?.id === String(GROUP),
      "the upgrade notice",
      { since },
    );
    since = h.mark();
    tg.userSends(TOKEN, { from: ADA, chat: -1004001, text: "now a supergroup" });
    const moved = await h.waitForEvent<MessageEvent>(
      (e) => e.type === "message" && e.text.text === "now a supergroup",
      "the supergroup message",
      { since },
    );
    expect(moved.conversation).toEqual({ kind: "room", id: String(GROUP) });
    await session.sendMessage({
      conversation: { kind: "room", id: String(GROUP) },
      kind: "normal",
      text: { text: "still here", spans: [] },
      clientId: "g1",
    });
    expect(
      tg
        .bot(TOKEN)
        .sent()
        .find((s) => s.message?.text === "still here")?.chat_id,
    ).toBe(-1004001);
  });
});

describe("telegram adapter, limits", () => {
  it("R9 (scaled): under Telegram's flood check, 12 sends to one chat all arrive, none refused", async () => {
    // The server's window scaled down to 5 per second so the test is quick; ours stays under it.
    const flood = await startFakeTelegram({ enforceRateLimits: { private: { max: 5, windowMs: 1000 } } });
    try {
      flood.addBot({ token: TOKEN, username: "adapter_test_bot", first_name: "Test Bot" });
      flood.addUser({ id: ADA, first_name: "Ada" });
      flood.addChat({ id: ADA, type: "private" });
      const saved = tg;
      tg = flood;
      const adapter = makeAdapter({ pacing: { privateChat: { max: 4, windowMs: 1000 }, marginMs: 100 } });
      tg = saved;
      const h = harnessSession("alice@localhost", { token: TOKEN });
      const session = await open(adapter, h);
      for (let i = 1; i <= 12; i++) {
        await session.sendMessage({
          conversation: direct,
          kind: "normal",
          text: { text: `n${i}`, spans: [] },
          clientId: `f${i}`,
        });
      }
      await adapter.stop();
      const texts = flood
        .bot(TOKEN)
        .sent()
        .filter((s) => s.method === "sendMessage")
        .map((s) => s.message?.text);
      expect(texts).toEqual(Array.from({ length: 12 }, (_, i) => `n${i + 1}`));
      expect(flood.requests().filter((r) => r.method === "sendMessage" && r.status === 429)).toEqual([]);
    } finally {
      await flood.close();
    }
  });

  it("only one process polls a bot: a second holder waits for the lease", async () => {
    const shared = new Map<string, { holder: MemoryLeases; expires: number }>();
    const first = makeAdapter({}, shared);
    const second = makeAdapter({}, shared);
    const h1 = harnessSession("alice@localhost", { token: TOKEN });
    const h2 = harnessSession("alice@localhost", { token: TOKEN });
    await open(first, h1);
    await h1.waitForEvent(
      (e) => e.type === "session.state" && e.state === "online",
      "the first poller online",
    );
    await open(second, h2);
    await new Promise((r) => setTimeout(r, 1500));
    expect(h2.events.some((e) => e.type === "session.state" && e.state === "online")).toBe(false);
    await first.stop();
    await h2.waitForEvent(
      (e) => e.type === "session.state" && e.state === "online",
      "the second poller taking over",
    );
    await second.stop();
  });
});
