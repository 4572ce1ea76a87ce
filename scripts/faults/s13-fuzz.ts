/**
 * S13 at N scale: the fast-check properties of the unit suite (IRC encoder/decoder and
 * formatting, XMPP→IRC/Telegram formatters, JID ↔ nick/id mapping, XEP-0393, forms, keys,
 * display names), run again and again with fresh random seeds (`FC_SEED=random`) for a time
 * budget, instead of the one fixed seed `npm test` uses.
 *
 *   POSTERN_S13_MINUTES=30   (default 10)
 *
 * The plan asks for `@jazzer.js` (coverage-guided) as well. It cannot run on these machines: its
 * prebuilt fuzzer (`@jazzer.js/fuzzer`, v4) needs glibc 2.38 (Debian 12 has 2.36) and the npm
 * package ships no C++ sources to build it from. Found 2026-11-27; see docs/reliability.md.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { type FaultRow, ROOT, type RowOutcome, runVitest } from "./row.ts";

const MINUTES = Number(process.env.POSTERN_S13_MINUTES ?? 10);

export const rows: FaultRow[] = [
  { key: "S13", title: `Property fuzzing with fresh seeds, ${MINUTES} min`, tier: "N", run: runS13 },
];

/** Unit test files that hold fast-check properties. */
async function propertyFiles(): Promise<string[]> {
  const files: string[] = [];
  for (const dir of ["test/unit", "test/unit/irc"]) {
    for (const name of await readdir(join(ROOT, dir))) {
      if (!name.endsWith(".test.ts")) continue;
      const text = await readFile(join(ROOT, dir, name), "utf8");
      if (text.includes("fc.assert(")) files.push(`${dir}/${name}`);
    }
  }
  return files;
}

async function runS13(): Promise<RowOutcome> {
  const files = await propertyFiles();
  const deadline = Date.now() + MINUTES * 60_000;
  let rounds = 0;
  const failures: string[] = [];
  while (Date.now() < deadline) {
    rounds++;
    const run = await runVitest(files, { FC_SEED: "random" });
    if (run.code !== 0) {
      const found = run.tail.match(
        /Property failed[^\n]*\n[^\n]*seed: -?\d+[^\n]*\n[^\n]*Counterexample[^\n]*/g,
      );
      failures.push(found ? found.join("\n") : run.tail.slice(-1_500));
    }
  }
  return {
    status: "measured",
    figures: [
      { name: "rounds of every property (fresh seed each)", value: String(rounds), target: "—", pass: null },
      { name: "test files with properties", value: String(files.length), target: "—", pass: null },
      {
        name: "property violations",
        value: String(failures.length),
        target: "0",
        pass: failures.length === 0,
      },
    ],
    notes: [
      "Each round runs every property of the listed files with its own numRuns (10⁴ for the S13 targets) from a new random seed.",
      "Not measured: time per input (target: none over 100 ms); a round's wall time bounds it only on average.",
      "Jazzer (coverage-guided, 30 min per target) does not run here: @jazzer.js/fuzzer's prebuilt binary needs glibc 2.38, Debian 12 has 2.36, and the package has no sources to build from.",
      `Files: ${files.join(", ")}.`,
      ...failures.map((f) => `Violation:\n\n\`\`\`\n${f}\n\`\`\``),
    ],
  };
}
