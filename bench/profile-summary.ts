/**
 * `node --import tsx bench/profile-summary.ts FILE.cpuprofile [TOP]`: where a V8 CPU profile
 * (from `npm run bench -- --cpu-prof DIR`) spent its time — self time per function, and total
 * (inclusive) time per function of this repository — so a slow path can be named by file and
 * function.
 */
import { readFile } from "node:fs/promises";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url
    .replace(/^file:\/\//, "")
    .replace(/^.*\/(node_modules\/)/, "$1")
    .replace(/^.*\/work\/main\//, "");
  return `${functionName || "(anonymous)"} ${file ? `${file}:${lineNumber + 1}` : ""}`.trim();
}

export async function summarizeProfile(file: string, top = 25): Promise<string> {
  const profile = JSON.parse(await readFile(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    self.set(label(node), (self.get(label(node)) ?? 0) + us);
    // Inclusive time: credit every distinct repository function on the stack once.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur)!;
      const name = label(frame);
      if (
        seen.has(name) ||
        !/(src|adapters)\//.test(frame.callFrame.url) ||
        frame.callFrame.url.includes("node_modules")
      )
        continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + us);
    }
  }
  const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const rows = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => `${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${name}`);
  return [
    `${file}: ${(total / 1e6).toFixed(1)} s sampled`,
    "",
    "Self time:",
    ...rows(self),
    "",
    "Inclusive time, repository functions (src/, adapters/):",
    ...rows(inclusive),
  ].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    process.stderr.write("usage: node --import tsx bench/profile-summary.ts FILE.cpuprofile [TOP]\n");
    process.exit(2);
  }
  process.stdout.write(`${await summarizeProfile(file, top ? Number(top) : 25)}\n`);
}
