/**
 * R3 at N scale: Redis killed for 60 s under 10 msg/s. Runs the PR-tier test file with a longer
 * outage and reads back the figures it writes.
 */
import { type FaultRow, noFigures, type RowOutcome, runReportingTest } from "./row.ts";

export const rows: FaultRow[] = [
  { key: "R3", title: "Redis down 60 s under 10 msg/s", tier: "N", run: () => runR3(60) },
];

/** What reliability-redis-down.test.ts writes to POSTERN_FAULTS_REPORT. */
interface R3Figures {
  sent: number;
  delivered: number;
  errorWait: number;
  errorOther: Record<string, number>;
  conditions: Record<string, number>;
  deliveredAndError: number;
  silent: number;
  resumedMs: number | null;
  unhandledRejections: number;
  rssGrowthMb: number;
}

async function runR3(outageS: number): Promise<RowOutcome> {
  const run = await runReportingTest<R3Figures>("test/integration/reliability-redis-down.test.ts", {
    POSTERN_R3_OUTAGE_S: String(outageS),
  });
  if (run.figures === null) return noFigures(run.tail);
  const r = run.figures;
  const list = (counts: Record<string, number>) =>
    Object.entries(counts)
      .map(([k, n]) => `${n}× ${k}`)
      .join(", ");
  const other = list(r.errorOther);
  return {
    status: "measured",
    figures: [
      { name: "messages sent during the outage", value: String(r.sent), target: "—", pass: null },
      { name: "delivered", value: String(r.delivered), target: "—", pass: null },
      {
        name: "answered with type wait (not delivered)",
        value: String(r.errorWait),
        target: "—",
        pass: null,
      },
      { name: "silent drops", value: String(r.silent), target: "0", pass: r.silent === 0 },
      { name: "errors of another type", value: other || "0", target: "0", pass: other === "" },
      {
        name: "delivered and also answered with an error",
        value: String(r.deliveredAndError),
        target: "0",
        pass: r.deliveredAndError === 0,
      },
      {
        name: "first delivery after Redis returns",
        value: r.resumedMs === null ? "none within 5 s" : `${(r.resumedMs / 1000).toFixed(1)} s`,
        target: "≤ 5 s",
        pass: r.resumedMs !== null && r.resumedMs <= 5_000,
      },
      {
        name: "unhandled rejections",
        value: String(r.unhandledRejections),
        target: "0",
        pass: r.unhandledRejections === 0,
      },
      { name: "gateway exits", value: "0", target: "0", pass: true },
      { name: "RSS growth", value: `${r.rssGrowthMb} MB`, target: "< 150 MB", pass: r.rssGrowthMb < 150 },
    ],
    notes: [
      "Runs test/integration/reliability-redis-down.test.ts with POSTERN_R3_OUTAGE_S=60; Postern runs in the test process, so RSS includes the test client.",
      `Error answers by condition/type: ${list(r.conditions) || "none"}.`,
      "Not measured: the buffer cap (target 5 000 msgs / 50 MB). During an outage stanzas wait in the gateway's per-conversation inbound queue (200 stanzas, src/core/gateway.ts); beyond it they are answered resource-constraint/wait.",
      'A message counted as "delivered and also answered with an error" reached the network, yet its sender was told to try again (a resend would duplicate it).',
      `The test itself ${run.code === 0 ? "passed" : "failed"} (exit code ${run.code}).`,
    ],
  };
}
