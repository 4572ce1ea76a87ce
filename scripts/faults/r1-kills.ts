/**
 * R1 at N scale: the PR-tier rig of test/integration/reliability-r1-kill.test.ts (a real
 * `postern run` bridging XMPP and IRC both ways under 20 numbered messages a second), killed with
 * SIGKILL at 3 random instants and restarted within 2 s, for 5 seeds. The instants come from a
 * seeded generator, so a run can be repeated.
 *
 *   POSTERN_R1_SEEDS=5  POSTERN_R1_KILLS=3   (defaults)
 */
import {
  type ConversationFigures,
  formatFigures,
  startBridgeRig,
} from "../../test/support/irc-bridge-load.ts";
import { type FaultRow, type RowOutcome, seconds, sleep } from "./row.ts";

const SEEDS = Number(process.env.POSTERN_R1_SEEDS ?? 5);
const KILLS = Number(process.env.POSTERN_R1_KILLS ?? 3);

export const rows: FaultRow[] = [
  { key: "R1", title: `Crash (kill -9) mid-stream, ${KILLS} kills × ${SEEDS} seeds`, tier: "N", run: runR1 },
];

/** A small seeded generator (mulberry32): the same seed gives the same kill instants. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface SeedRun {
  seed: number;
  rows: ConversationFigures[];
  /** Per restart, the slower direction's first delivery (null: none within 30 s). */
  firstDeliveryMs: (number | null)[];
}

async function runSeed(seed: number): Promise<SeedRun> {
  const next = random(seed);
  const rig = await startBridgeRig();
  try {
    let stop = false;
    let loadError: unknown = null;
    const load = rig
      .load(20, () => stop)
      .catch((err: unknown) => {
        loadError = err;
      });
    const firstDeliveryMs: (number | null)[] = [];
    for (let k = 0; k < KILLS; k++) {
      await sleep(3_000 + next() * 5_000);
      await rig.postern.kill9();
      await sleep(next() * 2_000);
      const marks = { irc: rig.watcher.mark(), xmpp: rig.alice.mark() };
      const restartedAt = Date.now();
      rig.postern.restart();
      const first = await rig.firstDelivery(restartedAt, marks, 30_000);
      await rig.puppetBack(marks.irc, 30_000);
      const both = [first["xmpp→irc"], first["irc→xmpp"]];
      firstDeliveryMs.push(both.some((v) => v === undefined) ? null : Math.max(...(both as number[])));
    }
    await sleep(3_000);
    stop = true;
    await load;
    if (loadError !== null)
      throw new Error(
        `seed ${seed}: the load stopped: ${String(loadError)}\n${rig.postern.output().slice(-3000)}`,
      );
    return { seed, rows: await rig.settle(20_000), firstDeliveryMs };
  } finally {
    await rig.stop();
  }
}

async function runR1(): Promise<RowOutcome> {
  const runs: SeedRun[] = [];
  for (let seed = 1; seed <= SEEDS; seed++) {
    console.log(`  R1 seed ${seed} of ${SEEDS} …`);
    const run = await runSeed(seed);
    console.log(formatFigures(run.rows));
    runs.push(run);
  }
  const all = runs.flatMap((r) => r.rows);
  const sum = (pick: (r: ConversationFigures) => number) => all.reduce((n, r) => n + pick(r), 0);
  const toIrc = all.filter((r) => r.direction === "xmpp→irc");
  const toXmpp = all.filter((r) => r.direction === "irc→xmpp");
  const sent = sum((r) => r.sent);
  const lost = sum((r) => r.lost);
  const inFlight = toIrc.reduce((n, r) => n + r.lostInFlightAtKill, 0);
  const inFlightToXmpp = toXmpp.reduce((n, r) => n + r.lostInFlightAtKill, 0);
  const afterKill = (rows: ConversationFigures[]) => rows.reduce((n, r) => n + r.lostInFlightAfterKill, 0);
  const maxRawDupPerKill = Math.max(0, ...toIrc.map((r) => r.rawDuplicates / KILLS));
  const firsts = runs.flatMap((r) => r.firstDeliveryMs);
  const slowest = firsts.some((v) => v === null) ? null : Math.max(...(firsts as number[]));
  return {
    status: "measured",
    figures: [
      { name: "messages sent (all directions, all seeds)", value: String(sent), target: "—", pass: null },
      {
        name: "lost silently (outside the kill instants)",
        value: String(lost),
        target: "0",
        pass: lost === 0,
      },
      {
        name: "XMPP→IRC lost in flight at a kill (of which sent after the kill)",
        value: `${inFlight} (${afterKill(toIrc)}) in ${KILLS * SEEDS} kills`,
        target: "0",
        pass: inFlight === 0,
      },
      {
        name: "IRC→XMPP lost in flight at a kill (of which sent after the kill)",
        value: `${inFlightToXmpp} (${afterKill(toXmpp)}) in ${KILLS * SEEDS} kills`,
        target: "0",
        pass: inFlightToXmpp === 0,
      },
      {
        name: "answered with an error (sent while no process ran)",
        value: String(sum((r) => r.errored)),
        target: "counted",
        pass: null,
      },
      {
        name: "IRC→XMPP lost while the puppet was out of the channel",
        value: String(toXmpp.reduce((n, r) => n + r.lostWhilePuppetAway, 0)),
        target: "measured (known gap)",
        pass: null,
      },
      {
        name: "IRC egress raw duplicates, most per conversation per kill",
        value: maxRawDupPerKill.toFixed(2),
        target: "≤ 1",
        pass: maxRawDupPerKill <= 1,
      },
      {
        name: "XMPP duplicates after dedupe by stanza id",
        value: String(toXmpp.reduce((n, r) => n + r.duplicatesAfterIdDedupe, 0)),
        target: "0",
        pass: toXmpp.every((r) => r.duplicatesAfterIdDedupe === 0),
      },
      {
        name: "order inversions",
        value: String(sum((r) => r.inversions)),
        target: "0",
        pass: sum((r) => r.inversions) === 0,
      },
      {
        name: "slowest first delivery after a restart (both directions)",
        value: seconds(slowest, "none within 30 s"),
        target: "≤ 10 s",
        pass: slowest !== null && slowest <= 10_000,
      },
    ],
    notes: [
      `Rig: test/support/irc-bridge-load.ts — real \`postern run\` process, ngIRCd, Prosody, Redis; 20 messages/s over XMPP→IRC and IRC→XMPP in two channels; kill instants 3–8 s apart, restart 0–2 s after each kill (seeded, seeds 1–${SEEDS}).`,
      "In flight at a kill: XMPP→IRC messages sent within a second of a kill that neither arrived nor were answered. XEP-0114 has no acknowledgement: what Prosody wrote to the dead process is gone; RELIABILITY.md's target of 0 is not met.",
      "IRC→XMPP lines written while no Postern ran (puppet out of the channel) reach nobody: plain IRC keeps no history for a client that is not there.",
      ...runs.map((r) => `Seed ${r.seed}:\n\n\`\`\`\n${formatFigures(r.rows)}\n\`\`\``),
    ],
  };
}
