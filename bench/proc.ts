/**
 * What the kernel says about a gateway process: resident memory and CPU time, read from /proc
 * so that Postern (Node) and Biboumi (C++) are measured the same way.
 */
import { readdir, readFile } from "node:fs/promises";

/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`; 100 on Linux). */
const CLOCK_TICKS = 100;

export interface ProcessSample {
  /** Resident set size (VmRSS) in KiB. */
  rssKiB: number;
  /** User + system CPU time in seconds. */
  cpuSeconds: number;
}

/** RSS and CPU time of a running process. */
export async function sampleProcess(pid: number): Promise<ProcessSample> {
  const [status, stat] = await Promise.all([
    readFile(`/proc/${pid}/status`, "utf8"),
    readFile(`/proc/${pid}/stat`, "utf8"),
  ]);
  const rss = status.match(/^VmRSS:\s+(\d+)\s+kB/m)?.[1];
  if (rss === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  // The command name (field 2) is in parentheses and may contain spaces: count fields after it.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the name, field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssKiB: Number(rss), cpuSeconds: ticks / CLOCK_TICKS };
}

/**
 * The pid of the first process whose command line contains `needle` (e.g. a server's config
 * folder), or undefined. For servers started by test/support, which do not expose their pid.
 */
export async function findPid(needle: string): Promise<number | undefined> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, "utf8")).replaceAll("\0", " ");
      if (cmdline.includes(needle)) return Number(entry);
    } catch {
      // The process ended meanwhile.
    }
  }
  return undefined;
}
