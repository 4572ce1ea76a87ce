/**
 * Postern as a real operating-system process (`node --import tsx src/cli.ts run --config FILE`),
 * for the crash and restart rows of RELIABILITY.md: `kill9()` is a real SIGKILL (nothing is
 * flushed, no goodbye), `sigterm()` a real graceful stop whose drain time is measured, and
 * `restart()` starts a fresh process on the same config (so the same Redis).
 */
import { type RunningProcess, startProcess } from "./service.ts";

export interface PosternProcess {
  /** The process now running (or the last one, once it is gone). */
  readonly current: RunningProcess;
  /** Everything every process started by this handle wrote, oldest first, each headed by its number. */
  output(): string;
  /** Waits until the current process has written `text` (since it started); names `what` on timeout. */
  waitForOutput(text: string, what: string, timeoutMs?: number): Promise<void>;
  /** True while the current process runs. */
  running(): boolean;
  /** SIGKILL; resolves once the process is gone. */
  kill9(): Promise<void>;
  /** When each `kill9()` was sent (ms since the epoch). */
  readonly killTimes: readonly number[];
  /**
   * SIGTERM; resolves once the process exits, with the time from the signal to the exit and how it
   * ended. A process still running after `graceMs` is killed and reported as such.
   */
  sigterm(graceMs?: number): Promise<{ drainMs: number; exit: string }>;
  /** Starts a new process on the same config (the old one must be gone). */
  restart(): RunningProcess;
  /** Stops whatever still runs (SIGKILL). */
  stop(): Promise<void>;
}

/** Starts `postern run --config configFile` in the repository root. */
export function startPosternProcess(configFile: string): PosternProcess {
  const runs: RunningProcess[] = [];
  const killTimes: number[] = [];
  const spawn = () => {
    const run = startProcess(
      process.execPath,
      ["--import", "tsx", "src/cli.ts", "run", "--config", configFile],
      {
        cwd: process.cwd(),
      },
    );
    runs.push(run);
    return run;
  };
  spawn();
  const current = () => runs[runs.length - 1]!;
  const gone = (run: RunningProcess) =>
    new Promise<void>((resolve) => {
      if (run.exitStatus() !== undefined) return resolve();
      run.child.once("exit", () => resolve());
    });
  return {
    get current() {
      return current();
    },
    output: () =>
      runs
        .map((r, i) => `--- postern process ${i + 1} (${r.exitStatus() ?? "running"}) ---\n${r.output()}`)
        .join("\n"),
    async waitForOutput(text, what, timeoutMs = 30_000) {
      const run = current();
      const deadline = Date.now() + timeoutMs;
      while (!run.output().includes(text)) {
        const exit = run.exitStatus();
        if (exit !== undefined)
          throw new Error(`${what}: postern ${exit} first; output:\n${run.output().slice(-3000)}`);
        if (Date.now() > deadline)
          throw new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; output:\n${run.output().slice(-3000)}`,
          );
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    running: () => current().exitStatus() === undefined,
    killTimes,
    kill9: () => {
      killTimes.push(Date.now());
      return current().kill();
    },
    async sigterm(graceMs = 30_000) {
      const run = current();
      const started = Date.now();
      const exited = gone(run);
      run.child.kill("SIGTERM");
      const timer = setTimeout(() => run.child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
      return { drainMs: Date.now() - started, exit: run.exitStatus() ?? "unknown" };
    },
    restart() {
      if (current().exitStatus() === undefined)
        throw new Error("restart: the previous Postern process still runs");
      return spawn();
    },
    stop: () => current().kill(),
  };
}
