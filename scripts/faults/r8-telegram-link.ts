/**
 * R8 for the Telegram HTTP link: the TCP fault proxy between Postern and the fake Bot API turns
 * the open connections into dead ends (no answer, no FIN, no RST) during a long poll and during
 * sends. Runs the PR-tier test file (1 s polls, 1.5 s request timeout there) with Postern's
 * default timings — a 25 s long poll and a 30 s request timeout — and reads back its figures.
 *
 * Knobs: POSTERN_R8_TG_POLL_S (default 25), POSTERN_R8_TG_TIMEOUT_MS (default 30 000).
 */
import { type FaultRow, noFigures, type RowOutcome, runReportingTest, seconds } from "./row.ts";

const POLL_S = Number(process.env.POSTERN_R8_TG_POLL_S ?? 25);
const TIMEOUT_MS = Number(process.env.POSTERN_R8_TG_TIMEOUT_MS ?? 30_000);
const DETECT_TARGET_MS = 90_000;

export const rows: FaultRow[] = [
  { key: "R8 telegram", title: "Half-open TCP: Telegram HTTP link", tier: "N", run: () => runR8Telegram() },
];

/** What telegram-link-faults.test.ts writes to POSTERN_FAULTS_REPORT (missing: that step failed). */
interface R8TelegramFigures {
  pollS: number;
  timeoutMs: number;
  expiryMs: number;
  pollDetectedMs?: number;
  pollDeliveredMs?: number;
  pollCopies?: number;
  pollNewConnections?: number;
  pollRssGrowthMb?: number;
  sends?: number;
  sendDetectedMs?: number | null;
  sendSettledMs?: number;
  sendDelivered?: number;
  sendAnswered?: number;
  sendLost?: number;
  sendDuplicates?: number;
  sendAnswersSwallowed?: number;
  sendInOrder?: boolean;
  sendNewConnections?: number;
  expiryAnsweredWith?: string;
}

const ms = (v: number | null | undefined, never: string) => seconds(v ?? null, never);

async function runR8Telegram(): Promise<RowOutcome> {
  const run = await runReportingTest<R8TelegramFigures>("test/integration/telegram-link-faults.test.ts", {
    POSTERN_R8_TG_POLL_S: String(POLL_S),
    POSTERN_R8_TG_TIMEOUT_MS: String(TIMEOUT_MS),
  });
  if (run.figures === null) return noFigures(run.tail);
  const r = run.figures;
  const within = (v: number | null | undefined) => v !== undefined && v !== null && v <= DETECT_TARGET_MS;
  return {
    status: "measured",
    figures: [
      {
        name: `long poll (${r.pollS} s) on a dead link: given up, polled again on a new connection after`,
        value: ms(r.pollDetectedMs, "never"),
        target: "≤ 90 s (HTTP timeout 35 s over a 25 s long poll)",
        pass: within(r.pollDetectedMs),
      },
      {
        name: "… a Telegram message sent into the dead poll: reached the XMPP user after / copies",
        value: `${ms(r.pollDeliveredMs, "never")} / ${r.pollCopies ?? "—"}`,
        target: "delivered / 1",
        pass: r.pollDeliveredMs !== undefined && r.pollCopies === 1,
      },
      {
        name: "… new connections opened / RSS change of the test process",
        value: `${r.pollNewConnections ?? "—"} / ${r.pollRssGrowthMb ?? "—"} MB`,
        target: "bounded",
        pass: r.pollNewConnections !== undefined ? r.pollNewConnections <= 5 : null,
      },
      {
        name: `sends on a dead link: retried on a new connection after (request timeout ${r.timeoutMs / 1000} s)`,
        value: ms(r.sendDetectedMs, "never"),
        target: "≤ 90 s",
        pass: within(r.sendDetectedMs),
      },
      {
        name: `… ${r.sends ?? "—"} messages sent around the fault (2 chats): delivered / answered with an error / lost`,
        value: `${r.sendDelivered ?? "—"} / ${r.sendAnswered ?? "—"} / ${r.sendLost ?? "—"}`,
        target: "lost 0",
        pass: r.sendLost === 0,
      },
      {
        name: "… duplicates on Telegram / accepted sends whose answers the dead link swallowed",
        value: `${r.sendDuplicates ?? "—"} / ${r.sendAnswersSwallowed ?? "—"}`,
        target: "dup ≤ swallowed answers",
        pass:
          r.sendDuplicates !== undefined && r.sendAnswersSwallowed !== undefined
            ? r.sendDuplicates <= r.sendAnswersSwallowed
            : null,
      },
      {
        name: "… order per chat / all settled after / new connections opened",
        value: `${r.sendInOrder === undefined ? "—" : r.sendInOrder ? "kept" : "broken"} / ${ms(r.sendSettledMs, "never")} / ${r.sendNewConnections ?? "—"}`,
        target: "kept / — / bounded",
        pass: r.sendInOrder ?? null,
      },
      {
        name: `a message held past sendExpiryMs (${r.expiryMs / 1000} s here) by a longer retry_after`,
        value: r.expiryAnsweredWith ? `answered ${r.expiryAnsweredWith}, not sent later` : "not shown",
        target: "answered with type wait, never sent late",
        pass: r.expiryAnsweredWith !== undefined,
      },
    ],
    notes: [
      `Runs test/integration/telegram-link-faults.test.ts with POSTERN_R8_TG_POLL_S=${POLL_S} and POSTERN_R8_TG_TIMEOUT_MS=${TIMEOUT_MS}. The fault proxy (test/support/fault-proxy.ts) sits between Postern and the fake Bot API; blackholeOpen turns the connections open at that moment into dead ends (no data, no FIN, no RST) while new connections pass: a half-open link beside a working network.`,
      "Postern's timeouts were already in place: node-telegram-bot-api gives getUpdates its long-poll seconds + 10 s (35 s over 25 s) and every other call requestTimeoutMs (30 s); Postern's own retries (adapters/telegram/client.ts) then open a new connection. A poll answer cut by the dead link is not lost: its updates are confirmed only by the next poll's offset, so Telegram hands them again.",
      "Sends: the first message is held 0.5 s at the fake so it is surely in flight at the fault; Telegram accepts it, its answer dies in the dead link, and the retry after the timeout sends it again (the Bot API takes no idempotency key). Swallowed answers are counted from the proxy's tap: sendMessage answers the fake wrote into connections that were dead by then. Messages said during the fault queue behind it per chat (the core handles a conversation's messages one at a time) and go out in order afterwards.",
      "Queues: each chat has one send in flight and the rest wait in the gateway's per-conversation queue (200, then resource-constraint/wait); a message waiting in the adapter longer than sendExpiryMs (10 min by default) is answered resource-constraint/wait instead of going out late.",
      `The test itself ${run.code === 0 ? "passed" : "failed"} (exit code ${run.code}).`,
    ],
  };
}
