/**
 * What an N-tier fault row of RELIABILITY.md is to `npm run test:faults` (scripts/test-faults.ts),
 * and the small tools the rows share. Each file in this folder (other than this one) exports
 * `rows: FaultRow[]`; the runner finds them by itself, so a new row is a new file.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "..", "..");

/** One figure of a row: what was measured, the target, and whether it met it (null: no target). */
export interface Figure {
  name: string;
  value: string;
  target: string;
  pass: boolean | null;
}

export interface RowOutcome {
  status: "measured" | "error" | "not implemented";
  figures: Figure[];
  notes: string[];
}

export interface FaultRow {
  /** Stable key of the row in the plan, e.g. "R8 xmpp"; the first word is the row's id ("R8"). */
  key: string;
  title: string;
  tier: "N" | "W";
  run(): Promise<RowOutcome>;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** "1.3 s", or what to say when it never happened. */
export function seconds(ms: number | null, never: string): string {
  return ms === null ? never : `${(ms / 1000).toFixed(1)} s`;
}

/** Polls `check` every 100 ms until it holds or `timeoutMs` passes; resolves with the elapsed ms or null. */
export async function timeUntil(check: () => boolean, timeoutMs: number): Promise<number | null> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (check()) return Date.now() - start;
    await sleep(100);
  }
  return check() ? Date.now() - start : null;
}

/** Runs vitest on some test files; resolves with its exit code and the end of its output. */
export function runVitest(
  files: string | string[],
  env: Record<string, string>,
): Promise<{ code: number; tail: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn("npx", ["vitest", "run", ...(Array.isArray(files) ? files : [files])], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString("utf8")).slice(-20_000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("close", (code) => resolvePromise({ code: code ?? 1, tail: output.slice(-3_000) }));
  });
}

/**
 * Runs a PR-tier test file at N scale: `env` sets its knobs, and the test writes its figures as
 * JSON to the file POSTERN_FAULTS_REPORT names. `figures` is null when the test wrote none;
 * {@link noFigures} turns that into the row's outcome.
 */
export async function runReportingTest<T>(
  file: string,
  env: Record<string, string>,
): Promise<{ figures: T | null; code: number; tail: string }> {
  const dir = await mkdtemp(join(tmpdir(), "postern-faults-"));
  const reportFile = join(dir, "figures.json");
  try {
    const run = await runVitest(file, { ...env, POSTERN_FAULTS_REPORT: reportFile });
    const text = await readFile(reportFile, "utf8").catch(() => null);
    return { figures: text === null ? null : (JSON.parse(text) as T), code: run.code, tail: run.tail };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The outcome of a row whose test wrote no figures: the end of its output says why. */
export function noFigures(tail: string): RowOutcome {
  return { status: "error", figures: [], notes: [`the test wrote no figures; its output ended:\n${tail}`] };
}
