/**
 * The bench report: Markdown tables (Postern, Biboumi, ratio) per scenario, the targets of
 * issue 5 checked against the figures, and an SVG chart of the relay latency distributions.
 */

import type { RestartResult, ScaleRunResult } from "./puppets.ts";
import type { Direction, RelayRunResult } from "./relay.ts";
import { median, quantile, summarize } from "./stats.ts";
import type { TelegramRunResult } from "./telegram.ts";

export interface BenchResults {
  startedAt: Date;
  mode: "quick" | "full";
  environment: string[];
  settings: string[];
  relay: RelayRunResult[];
  scale: ScaleRunResult[];
  restart: RestartResult[];
  telegram: TelegramRunResult[];
  notes: string[];
}

const DIRECTIONS: Array<{ direction: Direction; title: string; number: number }> = [
  { direction: "irc-to-muc", title: "IRC → MUC relay", number: 1 },
  { direction: "muc-to-irc", title: "MUC → IRC relay", number: 2 },
];

/** Figures of one relay case (direction, users) for one gateway, over its rounds. */
interface RelayAggregate {
  rounds: number;
  messagesPerSecond: number;
  deliveriesPerSecond: number;
  paced: ReturnType<typeof summarize>;
  loaded: ReturnType<typeof summarize>;
  lost: number;
  duplicates: number;
  orderViolations: number;
  errors: number;
  pacedLatencies: number[];
  /** Throughput of each round, in round order (the spread on a noisy machine). */
  roundRates: number[];
  /** CPU ms per message relayed in the throughput phase: the gateway's, and Prosody's. */
  gatewayCpuMsPerMessage: number;
  prosodyCpuMsPerMessage: number;
}

function aggregate(runs: RelayRunResult[]): RelayAggregate | undefined {
  if (runs.length === 0) return undefined;
  const pacedLatencies = runs.flatMap((r) => r.paced.latenciesMs);
  return {
    rounds: runs.length,
    messagesPerSecond: median(runs.map((r) => r.throughput.messagesPerSecond)),
    deliveriesPerSecond: median(runs.map((r) => r.throughput.deliveriesPerSecond)),
    paced: summarize(pacedLatencies),
    loaded: summarize(runs.flatMap((r) => r.throughput.latenciesMs)),
    lost: sum(runs.map((r) => r.throughput.lost + r.paced.lost)),
    duplicates: sum(runs.map((r) => r.throughput.duplicates + r.paced.duplicates)),
    orderViolations: sum(runs.map((r) => r.throughput.orderViolations + r.paced.orderViolations)),
    errors: sum(runs.map((r) => r.errors)),
    pacedLatencies,
    roundRates: [...runs].sort((a, b) => a.round - b.round).map((r) => r.throughput.messagesPerSecond),
    gatewayCpuMsPerMessage: median(
      runs.map((r) => ((r.cpu?.gatewaySeconds ?? Number.NaN) * 1000) / r.throughput.sent),
    ),
    prosodyCpuMsPerMessage: median(
      runs.map((r) => ((r.cpu?.prosodySeconds ?? Number.NaN) * 1000) / r.throughput.sent),
    ),
  };
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function fmt(value: number | undefined, digits = 1): string {
  if (value === undefined || !Number.isFinite(value)) return "—";
  return value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

function ratio(p: number | undefined, b: number | undefined): string {
  if (p === undefined || b === undefined || !Number.isFinite(p) || !Number.isFinite(b) || b === 0) return "—";
  return `${(p / b).toFixed(2)}×`;
}

/** A table row: numbers (formatted, with their ratio) or texts as they are (no ratio). */
type Row = [
  label: string,
  postern: number | string | undefined,
  biboumi: number | string | undefined,
  digits?: number,
];

function cell(value: number | string | undefined, digits?: number): string {
  return typeof value === "string" ? value : fmt(value, digits);
}

function table(rows: Row[], withRatio = true): string {
  const head = withRatio
    ? "| | Postern | Biboumi | Postern / Biboumi |\n|---|---:|---:|---:|"
    : "| | Postern |\n|---|---:|";
  const lines = rows.map(([label, p, b, digits]) =>
    withRatio
      ? `| ${label} | ${cell(p, digits)} | ${cell(b, digits)} | ${typeof p === "number" && typeof b === "number" ? ratio(p, b) : "—"} |`
      : `| ${label} | ${cell(p, digits)} |`,
  );
  return `${head}\n${lines.join("\n")}`;
}

/** "612 (580–650)": the median of rounds and their range, or the value alone for one round. */
function spread(values: number[], digits = 0): string | undefined {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return undefined;
  if (finite.length === 1) return fmt(finite[0], digits);
  return `${fmt(median(finite), digits)} (${fmt(Math.min(...finite), digits)}–${fmt(Math.max(...finite), digits)})`;
}

function relayCases(results: BenchResults): Array<{ direction: Direction; users: number }> {
  const seen = new Map<string, { direction: Direction; users: number }>();
  for (const r of results.relay)
    seen.set(`${r.direction} ${r.users}`, { direction: r.direction, users: r.users });
  const order = (d: Direction) => DIRECTIONS.findIndex((x) => x.direction === d);
  return [...seen.values()].sort((a, b) => order(a.direction) - order(b.direction) || a.users - b.users);
}

function relayPair(results: BenchResults, direction: Direction, users: number) {
  const of = (name: string) =>
    aggregate(
      results.relay.filter((r) => r.gateway === name && r.direction === direction && r.users === users),
    );
  return { postern: of("Postern"), biboumi: of("Biboumi") };
}

function scalePair(results: BenchResults, users: number) {
  const of = (name: string) => results.scale.filter((r) => r.gateway === name && r.users === users);
  const pick = (runs: ScaleRunResult[], f: (r: ScaleRunResult) => number) =>
    runs.length === 0 ? undefined : median(runs.map(f));
  const p = of("Postern");
  const b = of("Biboumi");
  const rows: Row[] = [
    ["time until all joined (s)", pick(p, (r) => r.joinSeconds), pick(b, (r) => r.joinSeconds), 2],
    ["failed joins", pick(p, (r) => r.failedJoins), pick(b, (r) => r.failedJoins), 0],
    ["RSS before (MiB)", pick(p, (r) => r.rssBeforeKiB / 1024), pick(b, (r) => r.rssBeforeKiB / 1024), 1],
    ["RSS with puppets (MiB)", pick(p, (r) => r.rssAfterKiB / 1024), pick(b, (r) => r.rssAfterKiB / 1024), 1],
    ["memory per puppet (KiB)", pick(p, (r) => r.perPuppetKiB), pick(b, (r) => r.perPuppetKiB), 1],
    ["CPU while joining (s)", pick(p, (r) => r.cpuSeconds), pick(b, (r) => r.cpuSeconds), 2],
  ];
  return { rows, postern: p, biboumi: b };
}

function spreadOrDash(a: RelayAggregate | undefined): string {
  return (a && spread(a.roundRates)) ?? "—";
}

/** The Markdown report. */
export function markdownReport(results: BenchResults): string {
  const out: string[] = [];
  const date = results.startedAt.toISOString();
  out.push(`# Postern vs Biboumi — bench of ${date.slice(0, 10)} (${results.mode})`, "");
  out.push(
    `Run started ${date}. Produced by \`npm run bench${results.mode === "quick" ? " -- --quick" : ""}\` (bench/README.md).`,
    "",
  );
  out.push("## Environment", "", ...results.environment.map((e) => `- ${e}`), "");
  out.push("## Settings", "", ...results.settings.map((s) => `- ${s}`), "");

  for (const { direction, title, number } of DIRECTIONS) {
    for (const c of relayCases(results).filter((c) => c.direction === direction)) {
      const { postern: p, biboumi: b } = relayPair(results, direction, c.users);
      out.push(`## ${number}. ${title}, ${c.users} XMPP user${c.users === 1 ? "" : "s"} in the room`, "");
      out.push(
        table([
          ["throughput (messages/s, every receiver has it)", p?.messagesPerSecond, b?.messagesPerSecond, 0],
          ["deliveries/s (message × receiver)", p?.deliveriesPerSecond, b?.deliveriesPerSecond, 0],
          ["latency p50 at a steady rate (ms)", p?.paced.p50, b?.paced.p50, 2],
          ["latency p99 at a steady rate (ms)", p?.paced.p99, b?.paced.p99, 2],
          ["latency max at a steady rate (ms)", p?.paced.max, b?.paced.max, 1],
          ["latency p99 at full throughput (ms)", p?.loaded.p99, b?.loaded.p99, 1],
          ["lost deliveries", p?.lost, b?.lost, 0],
          ["duplicates", p?.duplicates, b?.duplicates, 0],
          ["order violations", p?.orderViolations, b?.orderViolations, 0],
          ["errors returned to the sender", p?.errors, b?.errors, 0],
          ["throughput per round, median (min–max)", spreadOrDash(p), spreadOrDash(b)],
          [
            "gateway CPU per message, throughput phase (ms)",
            p?.gatewayCpuMsPerMessage,
            b?.gatewayCpuMsPerMessage,
            2,
          ],
          [
            "Prosody CPU per message, throughput phase (ms)",
            p?.prosodyCpuMsPerMessage,
            b?.prosodyCpuMsPerMessage,
            2,
          ],
          ["rounds", p?.rounds, b?.rounds, 0],
        ]),
        "",
      );
    }
  }

  const sizes = [...new Set(results.scale.map((r) => r.users))].sort((a, b) => a - b);
  if (sizes.length > 0) {
    out.push("## 3. Puppet scale (each XMPP user joins a channel through their own IRC connection)", "");
    for (const users of sizes) {
      out.push(`### ${users} puppet${users === 1 ? "" : "s"}`, "", table(scalePair(results, users).rows), "");
    }
  }

  out.push("## 4. Restart recovery (Postern only)", "");
  if (results.restart.length === 0) out.push("Not run.", "");
  else {
    const rs = results.restart;
    out.push(
      table(
        [
          ["registered users with rooms in Redis", median(rs.map((r) => r.users)), undefined, 0],
          ["rounds", rs.length, undefined, 0],
          [
            "spawn → component online (s), median (min–max)",
            spread(
              rs.map((r) => r.onlineSeconds),
              2,
            ),
            undefined,
          ],
          [
            "spawn → all puppets back in their channels (s), median (min–max)",
            spread(
              rs.map((r) => r.allBackSeconds),
              2,
            ),
            undefined,
          ],
          ["puppets back, per round", rs.map((r) => `${r.rejoined}/${r.users}`).join(", "), undefined],
        ],
        false,
      ),
      "",
    );
  }
  out.push(
    "Biboumi is not measured here: it has no equivalent start-up restore of its users' rooms to time; its users come back when their clients join again.",
    "",
  );

  out.push("## 5. Telegram → XMPP (Postern only)", "", ...telegramSection(results.telegram), "");
  const targets = targetLines(results);
  if (targets.length === 0) targets.push("none of the targets concerns the scenarios of this run");
  out.push("## Targets (issue 5)", "", ...targets.map((t) => `- ${t}`), "");
  if (results.notes.length > 0) out.push("## Notes", "", ...results.notes.map((n) => `- ${n}`), "");
  return out.join("\n");
}

function targetLines(results: BenchResults): string[] {
  const lines: string[] = [];
  const mark = (ok: boolean | undefined) => (ok === undefined ? "n/a" : ok ? "MET" : "NOT MET");
  for (const c of relayCases(results)) {
    const { postern: p, biboumi: b } = relayPair(results, c.direction, c.users);
    if (!p || !b) continue;
    lines.push(
      `${c.direction}, ${c.users} user(s): throughput ≥ Biboumi's — ${mark(p.messagesPerSecond >= b.messagesPerSecond)} (${fmt(p.messagesPerSecond, 0)} vs ${fmt(b.messagesPerSecond, 0)}/s); p99 ≤ Biboumi's — ${mark(p.paced.p99 <= b.paced.p99)} (${fmt(p.paced.p99, 2)} vs ${fmt(b.paced.p99, 2)} ms)`,
    );
  }
  const largest = Math.max(...results.scale.map((r) => r.users));
  const big = results.scale.filter((r) => r.gateway === "Postern" && r.users === largest);
  if (big.length > 0) {
    const perPuppet = median(big.map((r) => r.perPuppetKiB));
    const joined = median(big.map((r) => r.joinSeconds));
    // A negative difference means a garbage collection outweighed the puppets: no verdict.
    const verdict = perPuppet < 0 ? "n/a (RSS fell during the run)" : mark(perPuppet <= 64);
    lines.push(`memory per puppet ≤ 64 KiB (${largest} puppets) — ${verdict} (${fmt(perPuppet)} KiB)`);
    if (largest >= 1000)
      lines.push(`1000 puppets joined in < 30 s — ${mark(joined < 30)} (${fmt(joined, 2)} s)`);
    else lines.push(`1000 puppets joined in < 30 s — n/a (largest run: ${largest})`);
  }
  if (results.restart.length > 0) {
    const users = Math.max(...results.restart.map((r) => r.users));
    const back = median(results.restart.filter((r) => r.users === users).map((r) => r.allBackSeconds));
    lines.push(
      `restart recovery of ${users} users < 10 s${users < 1000 ? " (target is for 1000)" : ""} — ${mark(back < 10)} (${fmt(back, 2)} s, median of ${results.restart.length} round(s))`,
    );
  }
  return lines;
}

/** Scenario 5: one table per bot count; Biboumi has no Telegram side, so its column says so. */
function telegramSection(runs: TelegramRunResult[]): string[] {
  if (runs.length === 0) return ["Not run."];
  const out: string[] = [
    "The fake Bot API (test/fakes/telegram, in the bench process) → Postern's Telegram gateway (a subprocess, `settings.apiRoot` on the fake) → XMPP users. Each XMPP user registered their own bot; one Telegram user per bot writes numbered messages in their private chat with it. Latency = the update's creation in the fake → arrival at the XMPP client (one clock), long poll included. **Biboumi has no Telegram side: there is nothing to compare with**, so its column is empty.",
    "",
  ];
  const counts = [...new Set(runs.map((r) => r.bots))].sort((a, b) => a - b);
  const na = "n/a (IRC only)";
  for (const bots of counts) {
    const rs = runs.filter((r) => r.bots === bots);
    const paced = summarize(rs.flatMap((r) => r.paced.latenciesMs));
    const loaded = summarize(rs.flatMap((r) => r.throughput.latenciesMs));
    const total = (f: (r: TelegramRunResult) => number) => rs.reduce((a, r) => a + f(r), 0);
    const cpuPerThousand = median(rs.map((r) => (r.cpuSeconds / r.throughput.delivered) * 1000));
    out.push(
      `### ${bots} bot${bots === 1 ? "" : "s"} (${bots} XMPP user${bots === 1 ? "" : "s"}, each with their own bot)`,
      "",
      table([
        [
          "updates/s received (all bots), median (min–max)",
          spread(rs.map((r) => r.throughput.updatesPerSecond)),
          na,
        ],
        ["latency p50 at a steady rate (ms)", paced.p50, na, 2],
        ["latency p99 at a steady rate (ms)", paced.p99, na, 2],
        ["latency max at a steady rate (ms)", paced.max, na, 1],
        ["latency p50 at full throughput (ms)", loaded.p50, na, 1],
        ["latency p99 at full throughput (ms)", loaded.p99, na, 1],
        ["updates sent (throughput + steady phases)", total((r) => r.throughput.sent + r.paced.sent), na, 0],
        ["lost", total((r) => r.throughput.lost + r.paced.lost), na, 0],
        ["duplicates", total((r) => r.throughput.duplicates + r.paced.duplicates), na, 0],
        [
          "order violations (per chat)",
          total((r) => r.throughput.orderViolations + r.paced.orderViolations),
          na,
          0,
        ],
        ["Postern CPU per 1000 updates (s), median", cpuPerThousand, na, 2],
        [
          "Postern RSS after the throughput phase (MiB), median",
          median(rs.map((r) => r.rssKiB / 1024)),
          na,
          1,
        ],
        ["registration → every bot long-polling (s), median", median(rs.map((r) => r.readySeconds)), na, 2],
        ["rounds", rs.length, na, 0],
      ]),
      "",
    );
  }
  return out;
}

const COLORS = { Postern: "#1f77b4", Biboumi: "#e6550d" } as const;

type Series = { name: keyof typeof COLORS; values: number[] };

/**
 * An SVG with one panel per relay case and per Telegram bot count: the CDF of steady-rate
 * latencies, log-scaled time axis.
 */
export function latencySvg(results: BenchResults): string {
  const panels: Array<{ title: string; series: Series[] }> = relayCases(results).map((c) => {
    const { postern, biboumi } = relayPair(results, c.direction, c.users);
    return {
      title: `${c.direction === "irc-to-muc" ? "IRC → MUC" : "MUC → IRC"}, ${c.users} user${c.users === 1 ? "" : "s"}`,
      series: [
        { name: "Postern", values: postern?.pacedLatencies ?? [] },
        { name: "Biboumi", values: biboumi?.pacedLatencies ?? [] },
      ],
    };
  });
  for (const bots of [...new Set(results.telegram.map((r) => r.bots))].sort((a, b) => a - b)) {
    const values = results.telegram.filter((r) => r.bots === bots).flatMap((r) => r.paced.latenciesMs);
    panels.push({
      title: `Telegram → XMPP, ${bots} bot${bots === 1 ? "" : "s"} (no Biboumi side)`,
      series: [{ name: "Postern", values }],
    });
  }
  const panelW = 420;
  const panelH = 260;
  const cols = 2;
  const rows = Math.max(1, Math.ceil(panels.length / cols));
  const width = panelW * cols;
  const height = panelH * rows + 40;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">Latency at a steady rate: share of deliveries at or under a latency (CDF)</text>`,
  );
  panels.forEach((p, index) => {
    const x0 = (index % cols) * panelW;
    const y0 = 40 + Math.floor(index / cols) * panelH;
    parts.push(panel(p.title, p.series, x0, y0, panelW, panelH));
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

function panel(title: string, series: Series[], x0: number, y0: number, w: number, h: number): string {
  const all = series.flatMap((s) => s.values).filter((v) => v > 0);
  const left = x0 + 50;
  const right = x0 + w - 15;
  const top = y0 + 25;
  const bottom = y0 + h - 40;
  const out: string[] = [];
  out.push(
    `<text x="${(left + right) / 2}" y="${y0 + 15}" text-anchor="middle" font-weight="bold">${title}</text>`,
  );
  out.push(
    `<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#888"/>`,
  );
  if (all.length === 0) {
    out.push(`<text x="${(left + right) / 2}" y="${(top + bottom) / 2}" text-anchor="middle">no data</text>`);
    return out.join("\n");
  }
  const minExp = Math.floor(Math.log10(Math.min(...all)));
  const maxExp = Math.ceil(Math.log10(Math.max(...all)));
  const span = Math.max(1, maxExp - minExp);
  const xOf = (ms: number) =>
    left + ((Math.log10(Math.max(ms, 10 ** minExp)) - minExp) / span) * (right - left);
  const yOf = (share: number) => bottom - share * (bottom - top);
  for (let e = minExp; e <= minExp + span; e++) {
    const x = xOf(10 ** e);
    out.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${bottom}" stroke="#ddd"/>`);
    out.push(`<text x="${x}" y="${bottom + 14}" text-anchor="middle">${formatMs(10 ** e)}</text>`);
  }
  for (const share of [0, 0.5, 0.9, 0.99, 1]) {
    const y = yOf(share);
    out.push(`<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${left - 4}" y="${y + 4}" text-anchor="end">${Math.round(share * 100)}%</text>`);
  }
  out.push(
    `<text x="${(left + right) / 2}" y="${bottom + 30}" text-anchor="middle">latency (ms, log scale)</text>`,
  );
  series.forEach((s, i) => {
    if (s.values.length === 0) return;
    const sorted = [...s.values].sort((a, b) => a - b);
    const steps = Math.min(400, sorted.length);
    const points: string[] = [];
    for (let k = 1; k <= steps; k++) {
      const share = k / steps;
      points.push(`${xOf(quantile(sorted, share)).toFixed(1)},${yOf(share).toFixed(1)}`);
    }
    out.push(
      `<polyline fill="none" stroke="${COLORS[s.name]}" stroke-width="2" points="${points.join(" ")}"/>`,
    );
    const ly = top + 14 + i * 14;
    out.push(
      `<line x1="${left + 8}" y1="${ly - 4}" x2="${left + 26}" y2="${ly - 4}" stroke="${COLORS[s.name]}" stroke-width="2"/>`,
    );
    const p50 = quantile(sorted, 0.5);
    const p99 = quantile(sorted, 0.99);
    out.push(
      `<text x="${left + 30}" y="${ly}">${s.name}: p50 ${fmt(p50, 2)} ms, p99 ${fmt(p99, 2)} ms</text>`,
    );
  });
  return out.join("\n");
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${ms / 1000} s` : `${ms}`;
}

/** Plain-text tables for the terminal: the Markdown without the headings' decoration. */
export function terminalSummary(markdown: string): string {
  return markdown
    .split("\n")
    .filter((line) => !line.startsWith("|---"))
    .join("\n");
}
