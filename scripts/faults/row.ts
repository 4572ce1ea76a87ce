/**
 * What an N-tier fault row of RELIABILITY.md is to `npm run test:faults` (scripts/test-faults.ts),
 * and the small tools the rows share. Each file in this folder (other than this one) exports
 * `rows: FaultRow[]`; the runner finds them by itself, so a new row is a new file.
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";

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
