/**
 * R8 for the Redis link: the TCP fault proxy between Postern and Redis blackholes the link for
 * 20 s while a user writes to a contact at 5 msg/s. Runs the PR-tier test file (12 s there) with
 * the longer blackhole and reads back its figures.
 */
import { type FaultRow, noFigures, type RowOutcome, runReportingTest, seconds } from "./row.ts";

/** Blackhole length (env POSTERN_R8_REDIS_S, default 20 s). */
const BLACKHOLE_S = Number(process.env.POSTERN_R8_REDIS_S ?? 20);

export const rows: FaultRow[] = [
  { key: "R8 redis", title: "Half-open TCP: Redis link blackholed", tier: "N", run: () => runR8Redis() },
];

/** What redis-blackhole.test.ts writes to POSTERN_FAULTS_REPORT. */
interface R8RedisFigures {
  blackholeS: number;
  sent: number;
  delivered: number;
  errorWait: number;
  errorOther: Record<string, number>;
  deliveredAndError: number;
  silent: number;
  deliveredDuring: number;
  inOrder: boolean;
  probeFailedMs: number | null;
  probeError: string;
  firstErrorMs: number | null;
  reconnectMs: number | null;
  connections: number;
  resumedMs: number | null;
  unhandledRejections: number;
  rssGrowthMb: number;
}

async function runR8Redis(): Promise<RowOutcome> {
  const run = await runReportingTest<R8RedisFigures>("test/integration/redis-blackhole.test.ts", {
    POSTERN_R8_REDIS_S: String(BLACKHOLE_S),
  });
  if (run.figures === null) return noFigures(run.tail);
  const r = run.figures;
  const other = Object.entries(r.errorOther)
    .map(([k, n]) => `${n}× ${k}`)
    .join(", ");
  return {
    status: "measured",
    figures: [
      {
        name: "a command on the dead link fails after",
        value:
          r.probeFailedMs === null
            ? `never (${r.probeError})`
            : `${seconds(r.probeFailedMs, "")} (${r.probeError})`,
        target: "≤ 5 s (command timeout)",
        pass: r.probeFailedMs !== null && r.probeFailedMs <= 5_500,
      },
      {
        name: "dead link dropped, new connection opened after",
        value: seconds(r.reconnectMs, `not within ${r.blackholeS} s`),
        target: "≤ 90 s",
        pass: r.reconnectMs !== null && r.reconnectMs <= 90_000,
      },
      {
        name: `messages sent during the ${r.blackholeS} s blackhole (5 msg/s)`,
        value: String(r.sent),
        target: "—",
        pass: null,
      },
      {
        name: "… of them delivered while still blackholed",
        value: String(r.deliveredDuring),
        target: "—",
        pass: null,
      },
      { name: "… delivered in the end", value: String(r.delivered), target: "—", pass: null },
      { name: "… answered with type wait", value: String(r.errorWait), target: "—", pass: null },
      { name: "… lost silently", value: String(r.silent), target: "0", pass: r.silent === 0 },
      { name: "… answered with another error", value: other || "0", target: "0", pass: other === "" },
      {
        name: "… delivered and also answered with an error",
        value: String(r.deliveredAndError),
        target: "0",
        pass: r.deliveredAndError === 0,
      },
      { name: "order inversions", value: r.inOrder ? "0" : "≥ 1", target: "0", pass: r.inOrder },
      {
        name: "first delivery after the blackhole lifts",
        value: seconds(r.resumedMs, "none within 60 s"),
        target: "—",
        pass: null,
      },
      {
        name: "unhandled rejections",
        value: String(r.unhandledRejections),
        target: "0",
        pass: r.unhandledRejections === 0,
      },
      { name: "RSS growth", value: `${r.rssGrowthMb} MB`, target: "bounded", pass: r.rssGrowthMb < 150 },
    ],
    notes: [
      `Runs test/integration/redis-blackhole.test.ts with POSTERN_R8_REDIS_S=${BLACKHOLE_S}. The fault proxy sits between Postern and Redis and blackholes both directions (no data, no FIN, no RST). A second client made by createRedis (Postern's settings) behind its own blackholed proxy times one PING.`,
      "No bug: src/store/redis.ts already bounds every command (ioredis commandTimeout 5 s, also for the offline queue) and drops a link that stops answering while commands are pending (socketTimeout 10 s), then reconnects with capped backoff. Connections accepted by the blackhole are dead ends and are dropped the same way.",
      "Messages to a contact do not need Redis before they are sent; after each send the core stores the id map entry and waits for it (failure only logged). With Redis blackholed each such write takes the full 5 s command timeout and a conversation's messages are handled one after another, so the conversation advances one message per 5 s meanwhile; the rest wait in the gateway's per-conversation inbound queue (200 stanzas, src/core/gateway.ts; beyond it resource-constraint/wait) and all go out in order after the lift. Their id map entries are lost (later corrections of them will not find them).",
      `First error answer to the user: ${r.firstErrorMs === null ? "none" : seconds(r.firstErrorMs, "")}. New connections through the proxy during the run: ${r.connections}. Postern runs in the test process, so RSS includes the test client.`,
      `The test itself ${run.code === 0 ? "passed" : "failed"} (exit code ${run.code}).`,
    ],
  };
}
