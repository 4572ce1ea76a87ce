import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Temp folders not yet removed; see the exit handler below. */
const liveDirs = new Set<string>();

/** A temp folder for one service instance; remove it with {@link removeDir} (or it goes when the process exits). */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `postern-${prefix}-`));
  liveDirs.add(dir);
  return dir;
}

/** Removes a folder made by {@link tempDir}, with everything in it. */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

/**
 * Resolves once something accepts TCP connections on host:port; rejects after timeoutMs, naming what it
 * waited for. Given the process that should open the port, it fails at once if that process exits.
 */
export async function waitForPort(
  port: number,
  what: string,
  timeoutMs = 15_000,
  host = "127.0.0.1",
  owner?: RunningProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const exit = owner?.exitStatus();
    if (exit !== undefined)
      throw new Error(`${what}: the process ${exit} before ${host}:${port} accepted connections`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} on ${host}:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface RunningProcess {
  child: ChildProcess;
  /** How the process ended ("exited with code 1", "was killed by SIGKILL"), or undefined while it runs. */
  exitStatus(): string | undefined;
  /** Everything the process wrote so far (stdout and stderr), for error messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once; resolves when the process is gone. */
  kill(): Promise<void>;
}

/** Services still running; see the exit handler below. */
const liveChildren = new Set<ChildProcess>();

// If a test process ends without stopping its services (a crash, a failed beforeAll), kill them
// and remove their folders, so they do not outlive the run holding ports and disk.
process.once("exit", () => {
  for (const child of liveChildren) child.kill("SIGKILL");
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
});

/** Spawns a service in the foreground and keeps its output for diagnostics. */
export function startProcess(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): RunningProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  liveChildren.add(child);
  child.once("exit", () => liveChildren.delete(child));
  let log = "";
  const keep = (chunk: Buffer) => {
    log += chunk.toString("utf8");
    if (log.length > 200_000) log = log.slice(-100_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  // A missing binary surfaces as an "error" event; without a listener it would crash the test run.
  let spawnError: Error | undefined;
  const gone = () => spawnError !== undefined || child.exitCode !== null || child.signalCode !== null;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.once("error", (error) => {
      spawnError = error;
      liveChildren.delete(child);
      keep(Buffer.from(`\n[${command} could not be started: ${error.message}]\n`));
      resolve();
    });
  });
  const signal = async (sig: NodeJS.Signals, graceMs: number) => {
    if (gone()) return;
    child.kill(sig);
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return {
    child,
    output: () => log,
    exitStatus: () => {
      if (spawnError !== undefined) return `could not be started (${spawnError.message})`;
      if (child.signalCode !== null) return `was killed by ${child.signalCode}`;
      if (child.exitCode !== null) return `exited with code ${child.exitCode}`;
      return undefined;
    },
    stop: (graceMs = 5_000) => signal("SIGTERM", graceMs),
    kill: () => signal("SIGKILL", 0),
  };
}

/** The last `maxChars` characters of a log file, headed by its name; "" if it cannot be read. For error messages. */
export async function readLogTail(file: string, maxChars = 5_000): Promise<string> {
  try {
    const text = await readFile(file, "utf8");
    return `\n--- ${file} (last ${maxChars} characters) ---\n${text.slice(-maxChars)}`;
  } catch {
    return "";
  }
}
