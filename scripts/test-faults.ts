/**
 * `npm run test:faults`: runs the N-tier fault rows of RELIABILITY.md, prints each row's figures
 * against its target, and writes docs/reliability-n-tier.md (dated) with the same table, rows not
 * implemented yet included and marked as such.
 *
 *   npm run test:faults                     every implemented row
 *   npm run test:faults -- --only R8,R11    some rows, by id or key ("R8 irc"), comma-separated; prints only
 *   npm run test:faults -- --no-write       print only; leave docs/reliability-n-tier.md alone
 *
 * Each row lives in its own file in scripts/faults/ and exports `rows`; this runner finds them.
 * Rows run one after another (2-core machine).
 */
import { spawn } from "node:child_process";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type FaultRow, type Figure, ROOT, type RowOutcome, runVitest } from "./faults/row.ts";

/** The N-tier rows of the plan, in its order; a key no file in scripts/faults/ implements is reported as such. */
const PLAN: { key: string; title: string }[] = [
  { key: "R1", title: "Crash (kill -9) mid-stream, 3 kills × 5 seeds" },
  { key: "R3", title: "Redis down 60 s under 10 msg/s" },
  { key: "R4", title: "Redis lost last writes" },
  { key: "R5", title: "IRC server restart" },
  { key: "R7", title: "XMPP server restart" },
  { key: "R8 xmpp", title: "Half-open TCP: XMPP component link" },
  { key: "R8 irc", title: "Half-open TCP: IRC link" },
  { key: "R8 redis", title: "Half-open TCP: Redis link" },
  { key: "R8 telegram", title: "Half-open TCP: Telegram HTTP link" },
  { key: "R9", title: "Telegram faults, 2 000 sends" },
  { key: "R11", title: "Ordering under 0–500 ms jitter" },
  { key: "R12", title: "Soak" },
  { key: "R13", title: "Keepalive under load" },
  { key: "S12", title: "Loops / echo between two instances" },
  { key: "S13", title: "Fuzzing, long runs" },
];

interface RowResult extends RowOutcome {
  key: string;
  title: string;
}

const rowId = (key: string) => key.split(" ")[0] ?? key;

/** Every row exported by a file of scripts/faults/, in plan order, then any the plan does not list. */
async function loadRows(): Promise<Map<string, FaultRow>> {
  const dir = join(ROOT, "scripts", "faults");
  const found = new Map<string, FaultRow>();
  for (const file of (await readdir(dir)).sort()) {
    if (!file.endsWith(".ts") || file === "row.ts") continue;
    const module = (await import(join(dir, file))) as { rows?: FaultRow[] };
    for (const row of module.rows ?? []) found.set(row.key, row);
  }
  return found;
}

// --- report ------------------------------------------------------------------------------------

function verdict(f: Figure): string {
  if (f.pass === null) return "";
  return f.pass ? "pass" : "**FAIL**";
}

function markdownTable(results: RowResult[]): string {
  const lines = ["| Row | Figure | Measured | Target | Result |", "|---|---|---|---|---|"];
  for (const r of results) {
    const id = rowId(r.key);
    if (r.status !== "measured") {
      lines.push(`| ${id} | ${r.title} | ${r.status} | | |`);
      continue;
    }
    for (const f of r.figures) lines.push(`| ${id} | ${f.name} | ${f.value} | ${f.target} | ${verdict(f)} |`);
  }
  return lines.join("\n");
}

function consoleTable(results: RowResult[]): string {
  const rows = [["row", "figure", "measured", "target", "result"]];
  for (const r of results) {
    const id = rowId(r.key);
    if (r.status !== "measured") rows.push([id, r.title, r.status, "", ""]);
    else
      for (const f of r.figures)
        rows.push([id, f.name, f.value, f.target, f.pass === null ? "" : f.pass ? "pass" : "FAIL"]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ")).join("\n");
}

/** The PR-tier tests of the reliability plan, run once more here to report their state. */
const PR_ROWS: { row: string; files: string[] }[] = [
  { row: "R1 (1 kill)", files: ["test/integration/reliability-r1-kill.test.ts"] },
  { row: "R2", files: ["test/integration/reliability-r2-graceful.test.ts"] },
  { row: "R3 (10 s)", files: ["test/integration/reliability-redis-down.test.ts"] },
  { row: "R9 (scaled)", files: ["test/integration/reliability-r9-telegram.test.ts"] },
  { row: "R10", files: ["test/integration/reliability-r10-telegram.test.ts"] },
  {
    row: "S1 (corpus A)",
    files: ["test/integration/malformed-stanzas.test.ts", "test/integration/reliability-corpus-a.test.ts"],
  },
  { row: "Redis Cluster (hash-tag key design)", files: ["test/integration/redis-cluster.test.ts"] },
];

interface PrState {
  row: string;
  files: string[];
  state: string;
}

async function runPrTier(): Promise<PrState[]> {
  const states: PrState[] = [];
  for (const { row, files } of PR_ROWS) {
    console.log(`running the PR-tier test of ${row} …`);
    const outcomes = [];
    for (const file of files) outcomes.push((await runVitest(file, {})).code === 0);
    states.push({ row, files, state: outcomes.every(Boolean) ? "passes" : "**FAILS**" });
  }
  return states;
}

function document(results: RowResult[], pr: PrState[], date: string, commit: string): string {
  const notes = results
    .filter((r) => r.notes.length > 0)
    .map((r) => `### ${rowId(r.key)} — ${r.title}\n\n${r.notes.map((n) => `- ${n}`).join("\n")}`)
    .join("\n\n");
  return `# Reliability figures (N tier, generated)

Measured on ${date} at commit \`${commit}\` by \`npm run test:faults\` (scripts/test-faults.ts) on
this 2-core machine. Targets are those of RELIABILITY.md (the plan in the shared design notes);
rows nobody has built yet are listed as _not implemented_, so this page shows the gaps too.
docs/reliability.md is the curated page (causes, fixes, PR-tier figures).

## N-tier rows

${markdownTable(results)}

${notes}

## PR-tier rows (run in every \`npm test\`; state as of this run)

| Row | Test | State |
|---|---|---|
${pr.map((p) => `| ${p.row} | ${p.files.join(", ")} | ${p.state} |`).join("\n")}
`;
}

async function gitCommit(): Promise<string> {
  return new Promise((resolvePromise) => {
    const child = spawn("git", ["rev-parse", "--short", "HEAD"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "ignore"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.on("close", () => resolvePromise(out.trim() || "unknown"));
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const onlyIndex = args.indexOf("--only");
  const only = onlyIndex === -1 ? null : new Set((args[onlyIndex + 1] ?? "").split(",").filter(Boolean));
  // A partial run would leave rows out of the document: only a full run writes it.
  const write = only === null && !args.includes("--no-write");

  const implemented = await loadRows();
  const keys = [
    ...PLAN.map((p) => p.key),
    ...[...implemented.keys()].filter((k) => !PLAN.some((p) => p.key === k)),
  ];
  const results: RowResult[] = [];
  for (const key of keys) {
    const row = implemented.get(key);
    const title = row?.title ?? PLAN.find((p) => p.key === key)?.title ?? key;
    if (only && !only.has(rowId(key)) && !only.has(key)) continue;
    if (!row) {
      results.push({ key, title, status: "not implemented", figures: [], notes: [] });
      continue;
    }
    console.log(`running ${rowId(key)}: ${title} …`);
    try {
      results.push({ key, title, ...(await row.run()) });
    } catch (err) {
      results.push({
        key,
        title,
        status: "error",
        figures: [],
        notes: [err instanceof Error ? (err.stack ?? err.message) : String(err)],
      });
    }
  }

  for (const r of results.filter((x) => x.status === "error"))
    console.log(`\n${rowId(r.key)} failed to run:\n${r.notes.join("\n")}`);
  console.log(`\n${consoleTable(results)}\n`);
  if (write) {
    // A file of its own: docs/reliability.md is curated by hand (PR-tier rows, causes, fixes) and
    // must not be overwritten by a run.
    const file = join(ROOT, "docs", "reliability-n-tier.md");
    const pr = await runPrTier();
    await writeFile(file, document(results, pr, new Date().toISOString().slice(0, 10), await gitCommit()));
    // The project formats Markdown with Biome; keep the generated file as it would leave it.
    await new Promise<void>((done) => {
      const fmt = spawn("npx", ["biome", "format", "--write", file], { cwd: ROOT, stdio: "ignore" });
      fmt.on("close", () => done());
    });
    console.log(`wrote ${file}`);
  }
  const failed = results.some((r) => r.status === "error" || r.figures.some((f) => f.pass === false));
  process.exitCode = failed ? 1 : 0;
}

await main();
