/**
 * R8 for the IRC link: the TCP fault proxy between Postern and ngIRCd blackholes the link after
 * the user joined a channel. Runs the PR-tier test file (short keepalive timings there) with the
 * production defaults (PING after 60 s of silence, dead after 90 s) and reads back its figures.
 */
import { type FaultRow, noFigures, type RowOutcome, runReportingTest, seconds } from "./row.ts";

export const rows: FaultRow[] = [
  { key: "R8 irc", title: "Half-open TCP: IRC link blackholed", tier: "N", run: () => runR8Irc() },
];

/** What irc-keepalive.test.ts writes to POSTERN_FAULTS_REPORT. */
interface R8IrcFigures {
  keepaliveMs: number;
  deadAfterMs: number;
  detectedMs: number;
  reason: string;
  reconnectAttempts: number;
  rejoinedMs: number;
  queuedSent: number;
  queuedDeliveredInOrder: boolean;
  inFlightSent: number;
  inFlightLost: number;
  /** Every message (written into the dead link, then queued) seen on IRC in the order sent. */
  allInOrder: boolean;
  /** Lines the channel saw twice. */
  duplicates: number;
  bounced: string[];
}

async function runR8Irc(): Promise<RowOutcome> {
  const run = await runReportingTest<R8IrcFigures>("test/integration/irc-keepalive.test.ts", {
    POSTERN_R8_IRC_DEFAULTS: "1",
  });
  if (run.figures === null) return noFigures(run.tail);
  const r = run.figures;
  return {
    status: "measured",
    figures: [
      {
        name: "dead link detected after (user told, socket dropped)",
        value: seconds(r.detectedMs, "never"),
        target: "≤ 90 s",
        pass: r.detectedMs <= 90_000,
      },
      {
        name: "reconnect attempts while still blackholed",
        value: String(r.reconnectAttempts),
        target: "≥ 1 (reconnect)",
        pass: r.reconnectAttempts >= 1,
      },
      {
        name: "channel rejoined after the blackhole lifts",
        value: seconds(r.rejoinedMs, "never"),
        target: "—",
        pass: null,
      },
      {
        name: "messages sent after detection: delivered in order",
        value: r.queuedDeliveredInOrder ? `${r.queuedSent} of ${r.queuedSent}` : "no",
        target: "all, in order",
        pass: r.queuedDeliveredInOrder,
      },
      {
        name: "messages written into the dead link before detection: lost",
        value: `${r.inFlightLost} of ${r.inFlightSent}`,
        target: "0 (no silent loss)",
        pass: r.inFlightLost === 0,
      },
      {
        name: "all messages on IRC in the order sent / lines seen twice",
        value: `${r.allInOrder ? "yes" : "no"} / ${r.duplicates}`,
        target: "yes / ≤ 1",
        pass: r.allInOrder && r.duplicates <= 1,
      },
    ],
    notes: [
      "Runs test/integration/irc-keepalive.test.ts with POSTERN_R8_IRC_DEFAULTS=1: settings keepaliveMs 60 s and deadAfterMs 90 s (the PR-tier run uses 1 s / 4 s). The fault proxy sits between Postern's IRC sockets and ngIRCd and blackholes both directions (no data, no FIN, no RST); raw IRC test clients reach ngIRCd directly.",
      "Before the fault the link stays quiet for deadAfterMs + 1 s: the keepalive PING keeps a healthy idle link up (0 reconnects).",
      `The user was told: "${r.reason}" (gateway presence, show xa).`,
      "Bug found and fixed: Postern had no keepalive of its own on IRC links; only irc-framework's ping timeout (120 s, and it closes by writing a QUIT first) would have noticed, missing the 90 s target. adapters/irc/transport.ts now PINGs after keepaliveMs of silence and drops the socket after deadAfterMs without a byte (settings keepaliveMs/deadAfterMs).",
      "Before: lines written into the half-open link before it was detected were lost without a word (2 of 2): plain IRC has no delivery receipts. Now (adapters/irc/unconfirmed.ts, connection.ts, server-link.ts) a PING follows each burst of message lines and only the server's PONG to it confirms them (bytes merely heard may have crossed ours); the unconfirmed lines (≤ 100 lines / 64 KiB per connection; older ones are forgotten and the user is told they were not checked), and those still in the flood queue, go back to the front of the outbox when the link is lost other than by our own QUIT, and are sent again, in order, after the reconnect and rejoin (test/integration/irc-keepalive.test.ts, irc-keepalive-echo.test.ts, irc-unconfirmed.test.ts). The user's own copy is not repeated. A line the server did read but whose PONG the fault cut off is sent twice (about one round trip of lines; the plan allows ≤ 1 duplicate per conversation per fault).",
      "Queues stay bounded: while the link is down the user's messages wait in the per-user outbox (≤ 100 per conversation, 10 min TTL, adapters/irc/outbox.ts), beyond which they are refused recipient-unavailable/wait (shown by irc-gateway-recovery.test.ts); dead-end reconnects through the blackhole end by the 30 s registration timeout.",
      `Error replies during the run (message ids): ${r.bounced.join(", ") || "none"}. The test itself ${run.code === 0 ? "passed" : "failed"} (exit code ${run.code}).`,
    ],
  };
}
