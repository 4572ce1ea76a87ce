/**
 * The Telegram HTTP link going bad (RELIABILITY.md R8 for Telegram, and the send expiry R9 asks
 * for): the fault proxy (test/support/fault-proxy.ts) sits between Postern and the fake Bot API
 * and turns the connections open at that moment into dead ends (`blackholeOpen`: no answer, no
 * FIN, no RST), while new connections work.
 *
 * - A long poll on a dead connection is given up after its HTTP timeout (the poll's seconds + 10 s,
 *   node-telegram-bot-api's rule: 35 s over the default 25 s) and polled again on a new
 *   connection; a Telegram message sent meanwhile still arrives, once.
 * - A send whose answer is cut is given up after `requestTimeoutMs` and retried on a new
 *   connection: nothing is lost; a message Telegram had already accepted goes twice (the Bot API
 *   takes no idempotency key), so duplicates ≤ accepted answers the dead link swallowed.
 * - A message that waits for its turn longer than `sendExpiryMs` (here: behind a long
 *   retry_after) is answered resource-constraint/wait and never sent late.
 *
 * PR scale: a 1 s long poll and 1.5 s request timeout. `npm run test:faults` (scripts/faults/
 * r8-telegram-link.ts) runs it with Postern's defaults (25 s, 30 s) and reads the figures back.
 */
import { writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FakeBot } from "../fakes/telegram/server.ts";
import type { FaultTapEvent } from "../support/fault-proxy.ts";
import { registerWithForm } from "../support/registration-form.ts";
import {
  startTelegramHarness,
  type TelegramHarness,
  TG_GATEWAY,
} from "../support/telegram-gateway-harness.ts";
import { waitUntil } from "../support/wait.ts";
import { type Element, type XmppTestClient, xml } from "../support/xmpp-client.ts";

const TOKEN = "7200001:AAlink-faults-token-0123456789ab";
const ADA = 41_001;
const GRACE = 41_002;
const POLL_S = Number(process.env.POSTERN_R8_TG_POLL_S ?? 1);
const TIMEOUT_MS = Number(process.env.POSTERN_R8_TG_TIMEOUT_MS ?? 1_500);
/** Counted from arrival at the gateway: long enough for the messages queued behind a send that times out once and is retried (and for the pacing), short enough to wait for in a test. */
const EXPIRY_MS = 2 * TIMEOUT_MS + 6_000;
/** node-telegram-bot-api gives a long poll its seconds plus 10 s before it gives up. */
const POLL_HTTP_TIMEOUT_MS = POLL_S * 1000 + 10_000;
/** Bound on each wait below: the timeout that must fire, then a retry with backoff, then slack. */
const DETECT_BOUND_MS = 2 * Math.max(POLL_HTTP_TIMEOUT_MS, TIMEOUT_MS) + 20_000;

/** A sendMessage answer (not a getUpdates one) in bytes the proxy read from the fake. */
const SEND_ANSWER = '"result":{"message_id"';

let h: TelegramHarness;
let alice: XmppTestClient;
let bot: FakeBot;
/** Every chunk the proxy read from the fake, with its connection and time. */
const answers: { link: number; at: number; text: string }[] = [];
/** Connections the proxy accepted, with their time. */
const connects: { link: number; at: number }[] = [];
const figures: Record<string, unknown> = { pollS: POLL_S, timeoutMs: TIMEOUT_MS, expiryMs: EXPIRY_MS };

function tap(event: FaultTapEvent): void {
  if (event.kind === "connect") connects.push({ link: event.link, at: event.at });
  else if (event.direction === "toClient")
    answers.push({ link: event.link, at: event.at, text: event.chunk.toString("latin1") });
}

/** Connections open (accepted, not yet known closed) at `at`: those a blackholeOpen then kills. */
function linksBefore(at: number): Set<number> {
  return new Set(connects.filter((c) => c.at <= at).map((c) => c.link));
}

/** sendMessage answers the fake wrote after `at` into connections that were dead by then. */
function swallowedSendAnswers(at: number, dead: Set<number>): number {
  return answers
    .filter((a) => a.at >= at && dead.has(a.link))
    .reduce((n, a) => n + a.text.split(SEND_ANSWER).length - 1, 0);
}

const sendTo = (chat: number, id: string, body: string) =>
  alice.send(xml("message", { to: `${chat}@${TG_GATEWAY}`, type: "chat", id }, xml("body", {}, body)));

const errorOf = (id: string) => (s: Element) =>
  s.name === "message" && s.attrs.type === "error" && s.attrs.id === id;

beforeAll(async () => {
  h = await startTelegramHarness({
    faultProxy: { tap },
    settings: `pollTimeoutSeconds: ${POLL_S}, requestTimeoutMs: ${TIMEOUT_MS}, sendExpiryMs: ${EXPIRY_MS}`,
  });
  bot = h.telegram.addBot({ token: TOKEN, username: "link_bot", first_name: "Link" });
  h.telegram.addUser({ id: ADA, first_name: "Ada" });
  h.telegram.addUser({ id: GRACE, first_name: "Grace" });
  alice = await h.login("alice");
  await registerWithForm(alice, TG_GATEWAY, { token: TOKEN });
  await alice.sendPresence({ to: TG_GATEWAY });
  await waitUntil(() => bot.isLongPolling(), "the bot long-polling", 20_000);
  const since = alice.mark();
  for (const id of [ADA, GRACE]) h.telegram.userSends(TOKEN, { from: id, text: `hello from ${id}` });
  await alice.waitForAll(
    (s) => s.name === "message" && s.getChildText("body")?.startsWith("hello from ") === true,
    2,
    "both Telegram users' first messages",
    { since, timeoutMs: 20_000 },
  );
}, 90_000);

afterAll(async () => {
  const report = process.env.POSTERN_FAULTS_REPORT;
  if (report) await writeFile(report, JSON.stringify(figures));
  await h?.stop();
});

describe("Telegram HTTP link half-open", () => {
  it("a long poll on a dead connection is given up after its HTTP timeout; a message sent meanwhile arrives once", {
    timeout: 2 * DETECT_BOUND_MS,
  }, async () => {
    const rssBefore = process.memoryUsage().rss;
    await waitUntil(() => bot.isLongPolling(), "the bot long-polling", 20_000);
    const connectionsBefore = h.proxy!.stats.connections;
    const since = alice.mark();
    const t0 = Date.now();
    h.proxy!.blackholeOpen();
    // The fake answers the waiting poll with this message at once, into the dead connection.
    h.telegram.userSends(TOKEN, { from: ADA, text: "sent while the poll was dead" });
    await waitUntil(
      () => h.telegram.requests().some((r) => r.method === "getUpdates" && r.at > t0),
      "a getUpdates on a new connection after the long poll's timeout",
      DETECT_BOUND_MS,
    );
    const detectedMs =
      (h.telegram.requests().find((r) => r.method === "getUpdates" && r.at > t0)?.at ?? 0) - t0;
    await alice.waitFor(
      (s) => s.name === "message" && s.getChildText("body") === "sent while the poll was dead",
      "the message sent while the poll was dead",
      { since, timeoutMs: DETECT_BOUND_MS },
    );
    const deliveredMs = Date.now() - t0;
    // The next poll confirms the update (its offset is past it); a duplicate would have come by then.
    await waitUntil(
      () => h.telegram.requests().filter((r) => r.method === "getUpdates" && r.at > t0).length >= 2,
      "the poll after the one that brought the message",
      DETECT_BOUND_MS,
    );
    const copies = alice.stanzas
      .slice(since)
      .filter(
        (s) => s.name === "message" && s.getChildText("body") === "sent while the poll was dead",
      ).length;
    Object.assign(figures, {
      pollDetectedMs: detectedMs,
      pollDeliveredMs: deliveredMs,
      pollCopies: copies,
      pollNewConnections: h.proxy!.stats.connections - connectionsBefore,
      pollRssGrowthMb: Math.round((process.memoryUsage().rss - rssBefore) / 2 ** 20),
    });
    expect(copies).toBe(1);
  });

  it("sends whose answers are cut are retried on a new connection after requestTimeoutMs: lost 0, dup ≤ accepted answers cut", {
    timeout: 4 * DETECT_BOUND_MS,
  }, async () => {
    const connectionsBefore = h.proxy!.stats.connections;
    // The first send is held at the fake for a moment, so it is surely in flight at the fault.
    const hold = h.telegram.injectFault({
      method: "sendMessage",
      token: TOKEN,
      kind: { kind: "delay", ms: 500 },
    });
    const since = alice.mark();
    const messages: { id: string; chat: number; text: string }[] = [];
    for (let n = 1; n <= 5; n++)
      for (const chat of [ADA, GRACE])
        messages.push({ id: `link-${chat}-${n}`, chat, text: `link ${chat} #${n}` });
    const first = messages[0]!;
    await sendTo(first.chat, first.id, first.text);
    await waitUntil(
      () => h.telegram.requests().some((r) => r.method === "sendMessage" && r.status === undefined),
      "the first send in flight at the fake",
      10_000,
    );
    const t0 = Date.now();
    const dead = linksBefore(t0);
    h.proxy!.blackholeOpen();
    // The rest are said while the link is dead; they queue behind the first.
    for (const m of messages.slice(1)) await sendTo(m.chat, m.id, m.text);
    const settled = () => {
      const texts = new Set(bot.sent().map((s) => s.message?.text));
      const errors = new Set(
        alice.stanzas
          .slice(since)
          .filter((s) => s.attrs.type === "error")
          .map((s) => s.attrs.id),
      );
      return messages.every((m) => texts.has(m.text) || errors.has(m.id));
    };
    await waitUntil(
      settled,
      "every message sent during the dead link delivered or answered",
      3 * DETECT_BOUND_MS,
    );
    const settledMs = Date.now() - t0;
    hold.remove();
    // The held message's second request: Postern gave up on the dead connection and sent it again.
    const retry = h.telegram
      .requests()
      .find((r) => r.method === "sendMessage" && r.at > t0 && r.params.text === first.text);
    const counts = new Map<string, number>();
    for (const s of bot.sent())
      if (s.message?.text) counts.set(s.message.text, (counts.get(s.message.text) ?? 0) + 1);
    const errors = alice.stanzas.slice(since).filter((s) => s.attrs.type === "error");
    const delivered = messages.filter((m) => counts.has(m.text)).length;
    const answered = messages.filter((m) => !counts.has(m.text) && errors.some(errorOf(m.id))).length;
    const lost = messages.length - delivered - answered;
    const duplicates = messages.reduce((n, m) => n + Math.max(0, (counts.get(m.text) ?? 0) - 1), 0);
    const swallowed = swallowedSendAnswers(t0, dead);
    // Order per chat: what Telegram got for each chat, first copies only.
    const inOrder = [ADA, GRACE].every((chat) => {
      const got = [
        ...new Set(
          bot
            .sent()
            .filter((s) => s.chat_id === chat && s.message?.text?.startsWith("link "))
            .map((s) => s.message?.text),
        ),
      ];
      const want = messages.filter((m) => m.chat === chat && counts.has(m.text)).map((m) => m.text);
      return JSON.stringify(got) === JSON.stringify(want);
    });
    Object.assign(figures, {
      sends: messages.length,
      sendDetectedMs: retry ? retry.at - t0 : null,
      sendSettledMs: settledMs,
      sendDelivered: delivered,
      sendAnswered: answered,
      sendLost: lost,
      sendDuplicates: duplicates,
      sendAnswersSwallowed: swallowed,
      sendInOrder: inOrder,
      sendNewConnections: h.proxy!.stats.connections - connectionsBefore,
    });
    expect(lost).toBe(0);
    expect(delivered).toBe(messages.length);
    expect(duplicates).toBeLessThanOrEqual(swallowed);
    expect(inOrder).toBe(true);
  });

  it("a message that waits for its turn longer than sendExpiryMs is answered resource-constraint/wait, never sent late", {
    timeout: EXPIRY_MS + 60_000,
  }, async () => {
    // Telegram asks for a pause longer than the expiry: the message cannot go out in time.
    const retryAfterS = Math.ceil(EXPIRY_MS / 1000) + 3;
    const flood = h.telegram.injectFault({
      method: "sendMessage",
      token: TOKEN,
      kind: { status: 429, retry_after: retryAfterS },
    });
    const since = alice.mark();
    await sendTo(ADA, "expire-1", "held up by a long retry_after");
    const error = await alice.waitFor(errorOf("expire-1"), "the expired message's error", {
      since,
      timeoutMs: EXPIRY_MS + 20_000,
    });
    expect(flood.fired()).toBe(1);
    const condition = error.getChild("error");
    expect(condition?.attrs.type).toBe("wait");
    expect(condition?.getChild("resource-constraint")).toBeDefined();
    expect(condition?.getChildText("text", "urn:ietf:params:xml:ns:xmpp-stanzas")).toMatch(/waited too long/);
    figures.expiryAnsweredWith = "resource-constraint/wait";
    // Once Telegram's pause is over (server time of its 429), the next message goes out; the
    // expired one never went before it.
    const refusedAt =
      h.telegram.requests().find((r) => r.method === "sendMessage" && r.status === 429)?.at ?? 0;
    await waitUntil(
      () => Date.now() > refusedAt + retryAfterS * 1000 + 500,
      "Telegram's pause to end",
      60_000,
    );
    await sendTo(ADA, "expire-2", "after the pause");
    await bot.waitForSent(
      (s) => s.message?.text === "after the pause",
      "the message after the pause",
      retryAfterS * 1000 + 20_000,
    );
    const texts = bot.sent().map((s) => s.message?.text);
    expect(texts).not.toContain("held up by a long retry_after");
    expect(alice.stanzas.slice(since).some(errorOf("expire-2"))).toBe(false);
  });
});
