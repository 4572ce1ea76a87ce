/**
 * R9 of RELIABILITY.md, PR tier (scaled to 200 sends): XMPP → Telegram through a Bot API that
 * fails a share of sendMessage calls — 10% 429 with retry_after 1–2 s, 5% 502/503 (nginx HTML
 * pages), 2% connection reset after the message was accepted, 1% slow answers.
 *
 * Promised: every message reaches Telegram or its XMPP sender gets an error (lost = 0); no request
 * to a chat before its retry_after has passed (server timestamps); at most 1 message per second to a
 * private chat, sustained; duplicates only from resets after accept (Telegram takes no
 * idempotency key), so at most as many as such resets.
 */
import { writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FakeBot, FaultHandle } from "../fakes/telegram/server.ts";
import { registerWithForm } from "../support/registration-form.ts";
import {
  startTelegramHarness,
  type TelegramHarness,
  TG_GATEWAY,
} from "../support/telegram-gateway-harness.ts";
import { waitUntil } from "../support/wait.ts";
import { type XmppTestClient, xml } from "../support/xmpp-client.ts";

const TOKEN = "7100001:AAr9-reliability-token-0123456789";
const CHATS = Array.from({ length: 10 }, (_, i) => 31_001 + i);
// `npm run test:faults` runs this file at N scale (2 000 sends, 30 s hangs) through these.
const PER_CHAT = Number(process.env.POSTERN_R9_PER_CHAT ?? 20);
const SLOW_MS = Number(process.env.POSTERN_R9_SLOW_MS ?? 3_000);
/** Time to settle: 1 message a second per chat, plus room for 429 waits, retries and hangs. */
const SETTLE_MS = PER_CHAT * 1_500 + 55_000 + 2 * SLOW_MS;

let h: TelegramHarness;
let alice: XmppTestClient;
let bot: FakeBot;

beforeAll(async () => {
  h = await startTelegramHarness({ fake: { seed: 9 } });
  bot = h.telegram.addBot({ token: TOKEN, username: "r9_bot", first_name: "R9" });
  for (const id of CHATS) h.telegram.addUser({ id, first_name: `User${id}` });
  alice = await h.login("alice");
  await registerWithForm(alice, TG_GATEWAY, { token: TOKEN });
  await alice.sendPresence({ to: TG_GATEWAY });
  await waitUntil(() => bot.isLongPolling(), "the bot long-polling", 20_000);
  // Each Telegram user opens the private chat, as Telegram requires before a bot may write.
  const since = alice.mark();
  for (const id of CHATS) h.telegram.userSends(TOKEN, { from: id, text: `hello from ${id}` });
  await alice.waitForAll(
    (s) => s.name === "message" && s.getChildText("body")?.startsWith("hello from ") === true,
    CHATS.length,
    "every Telegram user's first message",
    { since, timeoutMs: 20_000 },
  );
}, 90_000);

afterAll(async () => {
  await h?.stop();
});

describe("R9: XMPP → Telegram with injected Bot API faults", () => {
  it("delivers or answers every message, honours retry_after, paces ≤ 1/s per chat sustained, dup ≤ resets after accept", {
    timeout: SETTLE_MS + 30_000,
  }, async () => {
    const method = "sendMessage";
    const common = { method, token: TOKEN, times: Number.POSITIVE_INFINITY };
    // The first matching fault wins, so each probability is of what the faults before it left.
    const faults: Record<string, FaultHandle> = {
      "429 retry_after 1": h.telegram.injectFault({
        ...common,
        probability: 0.05,
        kind: { status: 429, retry_after: 1 },
      }),
      "429 retry_after 2": h.telegram.injectFault({
        ...common,
        probability: 0.053,
        kind: { status: 429, retry_after: 2 },
      }),
      "502": h.telegram.injectFault({ ...common, probability: 0.028, kind: { status: 502 } }),
      "503": h.telegram.injectFault({ ...common, probability: 0.029, kind: { status: 503 } }),
      "reset after accept": h.telegram.injectFault({
        ...common,
        probability: 0.024,
        kind: { kind: "reset-after" },
      }),
      [`slow (${SLOW_MS / 1000} s)`]: h.telegram.injectFault({
        ...common,
        probability: 0.012,
        kind: { kind: "delay", ms: SLOW_MS },
      }),
    };
    const since = alice.mark();
    const startedAt = Date.now();
    const ids: { id: string; chat: number; text: string }[] = [];
    for (let n = 0; n < PER_CHAT; n++)
      for (const chat of CHATS) {
        const id = `r9-${chat}-${n}`;
        ids.push({ id, chat, text: `r9 ${chat} #${n}` });
        await alice.send(
          xml(
            "message",
            { to: `${chat}@${TG_GATEWAY}`, type: "chat", id },
            xml("body", {}, `r9 ${chat} #${n}`),
          ),
        );
      }
    const delivered = () => {
      const counts = new Map<string, number>();
      for (const s of bot.sent())
        if (s.method === method && s.message?.text !== undefined)
          counts.set(s.message.text, (counts.get(s.message.text) ?? 0) + 1);
      return counts;
    };
    const errored = () =>
      new Set(
        alice.stanzas
          .slice(since)
          .filter((s) => s.name === "message" && s.attrs.type === "error")
          .map((s) => s.attrs.id),
      );
    const settled = () => {
      const d = delivered();
      const e = errored();
      return ids.every((m) => d.has(m.text) || e.has(m.id));
    };
    await waitUntil(settled, "every message delivered or answered with an error", SETTLE_MS).catch(
      () => undefined,
    );
    const elapsedMs = Date.now() - startedAt;
    for (const f of Object.values(faults)) f.remove();

    const d = delivered();
    const e = errored();
    const lost = ids.filter((m) => !d.has(m.text) && !e.has(m.id));
    const erroredOnly = ids.filter((m) => !d.has(m.text) && e.has(m.id)).length;
    const deliveredAndErrored = ids.filter((m) => d.has(m.text) && e.has(m.id)).length;
    const duplicates = [...d.values()].reduce((n, c) => n + c - 1, 0);
    const fired = Object.fromEntries(Object.entries(faults).map(([k, f]) => [k, f.fired()]));

    // Requests as the server saw them, with its own timestamps.
    const requests = h.telegram
      .requests()
      .filter((r) => r.method === method && r.at >= startedAt)
      .map((r) => ({ at: r.at, chat: Number(r.params.chat_id), status: r.status }));
    // A 429 fault does not say which retry_after it answered (1 or 2 s), so the strict check is
    // the 1 s bound; a request 1–2 s after a 2 s answer would slip through it.
    let earlyWithin1s = 0;
    const byChat = new Map<number, typeof requests>();
    for (const r of requests) byChat.set(r.chat, [...(byChat.get(r.chat) ?? []), r]);
    for (const list of byChat.values())
      for (const l of list.filter((r) => r.status === 429))
        earlyWithin1s += list.filter((r) => r.at > l.at && r.at < l.at + 1_000).length;
    // Sustained rate: the most messages Telegram accepted for one chat in any 10 s window. 1/s
    // sustained, with the short burst Telegram tolerates (the pacer's window is 3 per 3 s), allows
    // 10 + 2. A reset after accept counts (it was sent); requests answered with an error were not
    // messages, but are reported too.
    const maxIn10s = (times: number[]) =>
      Math.max(0, ...times.map((t0) => times.filter((t) => t >= t0 && t < t0 + 10_000).length));
    let maxSentPer10s = 0;
    let maxRequestsPer10s = 0;
    for (const list of byChat.values()) {
      maxRequestsPer10s = Math.max(maxRequestsPer10s, maxIn10s(list.map((r) => r.at)));
      maxSentPer10s = Math.max(
        maxSentPer10s,
        maxIn10s(list.filter((r) => r.status === 200 || r.status === undefined).map((r) => r.at)),
      );
    }

    // Global pace: the most requests the server saw in any one second (target ≤ 25/s).
    const maxGlobalPerSecond = Math.max(
      0,
      ...requests.map((r0) => requests.filter((r) => r.at >= r0.at && r.at < r0.at + 1_000).length),
    );
    const report = process.env.POSTERN_FAULTS_REPORT;
    if (report) {
      await writeFile(
        report,
        JSON.stringify({
          sends: ids.length,
          requests: requests.length,
          fired,
          delivered: ids.length - lost.length - erroredOnly,
          erroredOnly,
          deliveredAndErrored,
          lost: lost.length,
          duplicates,
          earlyWithin1s,
          maxSentPer10s,
          maxRequestsPer10s,
          maxGlobalPerSecond,
          elapsedMs,
        }),
      );
    }
    console.log(
      `R9: ${ids.length} sends in ${elapsedMs} ms; requests ${requests.length}; faults fired ${JSON.stringify(fired)}\n` +
        `delivered ${ids.length - lost.length - erroredOnly}, errored (not delivered) ${erroredOnly}, delivered and errored ${deliveredAndErrored}, ` +
        `lost ${lost.length}, duplicates ${duplicates}, requests < 1 s after a 429 to the same chat ${earlyWithin1s}, ` +
        `max messages accepted for one chat in 10 s ${maxSentPer10s} (requests incl. failed ones ${maxRequestsPer10s})` +
        (lost.length > 0 ? `\nlost: ${lost.map((m) => m.id).join(", ")}` : ""),
    );
    expect(lost.map((m) => m.id)).toEqual([]);
    expect(earlyWithin1s).toBe(0);
    expect(maxSentPer10s).toBeLessThanOrEqual(12);
    expect(maxGlobalPerSecond).toBeLessThanOrEqual(25);
    expect(duplicates).toBeLessThanOrEqual(fired["reset after accept"]!);
  });
});
