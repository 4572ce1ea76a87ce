/**
 * `node --import tsx bench/profile-summary.ts FILE.cpuprofile [TOP] [FROM_S TO_S]`: where a V8
 * CPU profile (from `npm run bench -- --cpu-prof DIR`) spent its time — self time per function,
 * and total (inclusive) time per function of this repository, also as a share of the busy (not
 * idle) time — so a slow path can be named by file and function. FROM_S TO_S keep only the
 * samples in that window (seconds from the profile's start), i.e. one scenario's phase.
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

/** V8's pseudo-frames for time the process did no JavaScript or GC work. */
const IDLE = new Set(["(idle)", "(program)"]);

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url
    .replace(/^file:\/\//, "")
    .replace(/^.*\/(node_modules\/)/, "$1")
    .replace(/^.*\/work\/main\//, "");
  return `${functionName || "(anonymous)"} ${file ? `${file}:${lineNumber + 1}` : ""}`.trim();
}

export async function summarizeProfile(
  file: string,
  top = 25,
  window: [fromS: number, toS: number] = [0, Number.POSITIVE_INFINITY],
): Promise<string> {
  const profile = JSON.parse(await readFile(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  let elapsedUs = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    elapsedUs += delta;
    if (elapsedUs < window[0] * 1e6 || elapsedUs > window[1] * 1e6) return;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  });
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  let busy = 0;
  for (const [id, us] of selfUs) {
    if (!IDLE.has(byId.get(id)!.callFrame.functionName)) busy += us;
  }

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
  const pct = (us: number, of: number) => `${((us / of) * 100).toFixed(1).padStart(5)}%`;
  const rows = (m: Map<string, number>, withBusy = false) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(
        ([name, us]) =>
          `${pct(us, total)}  ${withBusy ? `${pct(us, busy)} of busy  ` : ""}${(us / 1000).toFixed(0).padStart(7)} ms  ${name}`,
      );
  return [
    `${file}: ${(total / 1e6).toFixed(1)} s sampled${Number.isFinite(window[1]) ? ` (${window[0]}–${window[1]} s)` : ""}, ${(busy / 1e6).toFixed(1)} s busy (not idle)`,
    "",
    "Self time:",
    ...rows(self),
    "",
    "Inclusive time, repository functions (src/, adapters/):",
    ...rows(inclusive, true),
  ].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, top, from, to] = process.argv.slice(2);
  if (!file) {
    process.stderr.write(
      "usage: node --import tsx bench/profile-summary.ts FILE.cpuprofile [TOP] [FROM_S TO_S]\n",
    );
    process.exit(2);
  }
  const window: [number, number] =
    from !== undefined && to !== undefined ? [Number(from), Number(to)] : [0, Number.POSITIVE_INFINITY];
  process.stdout.write(`${await summarizeProfile(file, top ? Number(top) : 25, window)}\n`);
}
