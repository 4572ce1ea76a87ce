/**
 * Scenario 5: Telegram → XMPP through Postern's Telegram gateway, against the fake Bot API
 * (test/fakes/telegram, in this process). There is no Biboumi counterpart.
 *
 * One run = a fresh fake Bot API and a fresh Postern process (Telegram adapter, `apiRoot` on the
 * fake, its own Redis key prefix), and `users.length` XMPP users who each register their own bot
 * (as the gateway's users do: a token from @BotFather) and go online to the gateway, so each bot
 * long-polls. For every bot one Telegram user writes numbered messages in their private chat
 * with it; the bot's XMPP user receives them as chat messages from `<telegram id>@gateway`.
 * - warm-up: one message per bot, not counted (the first message from a person also makes the
 *   gateway look up their name and photo for the contact);
 * - throughput: `updates` messages spread round-robin over the bots, at most `window`
 *   not yet received per bot (the same rule as the relay scenarios);
 * - latency: `pacedUpdates` at `pacedRate` per second in all, round-robin over the bots.
 * Latency = the update's creation in the fake (`userSends`) → arrival at the XMPP client, both in
 * this process (one clock). It includes the long poll: the fake answers a waiting getUpdates about
 * 1 ms after an update arrives, as the real server does.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { startFakeTelegram } from "../test/fakes/telegram/server.ts";
import { type XmppTestClient, xml } from "../test/support/xmpp-client.ts";
import { inBatches } from "./accounts.ts";
import { onCleanup } from "./cleanup.ts";
import { DeliveryTracker, type PhaseFigures, seqOf, tapXmpp } from "./delivery.ts";
import { startPosternProcess } from "./gateways.ts";
import { type Lab, TELEGRAM_DOMAIN } from "./lab.ts";
import { sampleProcess } from "./proc.ts";

const REGISTER_NS = "jabber:iq:register";
const DATA_NS = "jabber:x:data";

export interface TelegramOptions {
  updates: number;
  window: number;
  pacedUpdates: number;
  pacedRate: number;
  /** A phase ends when nothing arrived for this long; what is missing is lost. */
  stallMs: number;
  cpuProfileDir?: string;
}

/** One phase over all bots: each bot's figures, and their combination. */
export interface TelegramPhase {
  perBot: PhaseFigures[];
  sent: number;
  delivered: number;
  lost: number;
  duplicates: number;
  orderViolations: number;
  /** Updates received, per second, from the first update created to the last arrival. */
  updatesPerSecond: number;
  latenciesMs: number[];
  stalled: boolean;
}

export interface TelegramRunResult {
  bots: number;
  round: number;
  /** Spawn → component online, and registration of all users up to every bot long-polling. */
  onlineSeconds: number;
  readySeconds: number;
  throughput: TelegramPhase;
  paced: TelegramPhase;
  /** Postern's CPU seconds during the throughput phase, and its RSS at the end (KiB). */
  cpuSeconds: number;
  rssKiB: number;
}

let runCounter = 0;

export async function telegramRun(
  lab: Lab,
  users: XmppTestClient[],
  round: number,
  options: TelegramOptions,
): Promise<TelegramRunResult> {
  runCounter += 1;
  const runId = `tg${runCounter}`;
  const fake = await startFakeTelegram();
  const closeFake = onCleanup("fake Bot API", () => fake.close());
  // Bot ids and Telegram user ids unique per run, so no state of an earlier run can match.
  const bots = users.map((client, index) => {
    const botId = 8_000_000 + runCounter * 1000 + index;
    const senderId = 50_000_000 + runCounter * 1000 + index;
    const token = `${botId}:AAbench-${runId}-${index}-secret-token`;
    const bot = fake.addBot({ token, username: `bench_${runId}_${index}_bot`, first_name: `Bench ${index}` });
    fake.addUser({ id: senderId, first_name: "Sender", last_name: String(index) });
    return { client, bot, token, senderId, from: `${senderId}@${TELEGRAM_DOMAIN}` };
  });

  const spawnedAt = performance.now();
  const postern = await startPosternProcess(
    lab.servers,
    {
      domain: TELEGRAM_DOMAIN,
      secret: lab.secrets.telegram,
      cpuProfileDir: options.cpuProfileDir,
      keyPrefix: `bench-${runId}:`,
      adapter: { name: "telegram", settings: { apiRoot: fake.apiRoot } },
    },
    users[0]!,
  );
  const onlineAt = performance.now();
  try {
    await inBatches(bots, 16, async (b) => {
      // Available, so the server routes chat messages to the user's bare JID to this client.
      await b.client.sendPresence();
      await registerBot(b.client, b.token);
      // Online towards the gateway: the session opens and the bot starts long-polling.
      await b.client.sendPresence({ to: TELEGRAM_DOMAIN });
      await waitUntil(() => b.bot.isLongPolling(), `bot ${b.bot.id} long-polling`, 30_000);
    });
    const readyAt = performance.now();

    const phase = async (label: string, total: number, pace?: number): Promise<TelegramPhase> => {
      const prefix = `${runId}-${label}-`;
      const share = (i: number) => Math.floor(total / bots.length) + (i < total % bots.length ? 1 : 0);
      const trackers = bots.map((b, i) => {
        const tracker = new DeliveryTracker(share(i), 1);
        tapXmpp(
          b.client,
          tracker,
          (stanza, at) => {
            if (stanza.name !== "message" || stanza.attrs.from !== b.from) return;
            const seq = seqOf(stanza.getChildText("body"), prefix);
            if (seq !== undefined) tracker.arrived(0, seq, at);
          },
          `${label} updates of ${runId} (bot ${i})`,
          options.stallMs + total * 200 + 60_000,
        );
        return tracker;
      });
      const send = (i: number, seq: number) => {
        trackers[i]!.markSent(seq);
        fake.userSends(bots[i]!.token, { from: bots[i]!.senderId, text: `${prefix}${seq}` });
      };
      if (pace === undefined) {
        // Each bot's sender keeps at most `window` of its messages unreceived.
        await Promise.all(
          bots.map(async (_, i) => {
            const tracker = trackers[i]!;
            for (let seq = 0; seq < tracker.total; seq++) {
              if (!(await tracker.roomInWindow(options.window, options.stallMs))) break;
              send(i, seq);
            }
          }),
        );
      } else {
        const startedAt = performance.now();
        for (let k = 0; k < total; k++) {
          const wait = startedAt + (k * 1000) / pace - performance.now();
          if (wait > 0) await sleep(wait);
          send(k % bots.length, Math.floor(k / bots.length));
        }
      }
      const outcomes = await Promise.all(trackers.map((t) => t.allComplete(options.stallMs)));
      return combine(
        trackers.map((t) => t.figures()),
        outcomes.includes(false),
      );
    };

    await phase("w", bots.length);
    const before = await sampleProcess(postern.pid());
    const throughput = await phase("t", options.updates);
    const after = await sampleProcess(postern.pid());
    const paced = await phase("p", options.pacedUpdates, options.pacedRate);
    return {
      bots: bots.length,
      round,
      onlineSeconds: (onlineAt - spawnedAt) / 1000,
      readySeconds: (readyAt - onlineAt) / 1000,
      throughput,
      paced,
      cpuSeconds: after.cpuSeconds - before.cpuSeconds,
      rssKiB: after.rssKiB,
    };
  } finally {
    // Offline towards the gateway again, so the next run's gateway starts from a quiet roster.
    await Promise.all(bots.map((b) => b.client.sendPresence({ to: TELEGRAM_DOMAIN, type: "unavailable" })));
    await postern.stop();
    await closeFake();
  }
}

/** In-band registration with the gateway (XEP-0077 with a data form), as a user would. */
async function registerBot(client: XmppTestClient, token: string): Promise<void> {
  await client.iq(
    xml(
      "iq",
      { type: "set", to: TELEGRAM_DOMAIN },
      xml(
        "query",
        { xmlns: REGISTER_NS },
        xml("x", { xmlns: DATA_NS, type: "submit" }, xml("field", { var: "token" }, xml("value", {}, token))),
      ),
    ),
    30_000,
  );
}

async function waitUntil(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

function combine(perBot: PhaseFigures[], stalled: boolean): TelegramPhase {
  const sum = (f: (p: PhaseFigures) => number) => perBot.reduce((a, p) => a + f(p), 0);
  const first = Math.min(...perBot.map((p) => p.firstSendAt));
  const last = Math.max(...perBot.map((p) => p.lastArrivalAt).filter((t) => Number.isFinite(t)));
  const delivered = sum((p) => p.delivered);
  const span = (last - first) / 1000;
  return {
    perBot,
    sent: sum((p) => p.sent),
    delivered,
    lost: sum((p) => p.lost),
    duplicates: sum((p) => p.duplicates),
    orderViolations: sum((p) => p.orderViolations),
    updatesPerSecond: span > 0 ? delivered / span : Number.NaN,
    latenciesMs: perBot.flatMap((p) => p.latenciesMs),
    stalled,
  };
}
