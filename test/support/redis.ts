import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { freePort } from "./ports.ts";
import { type RunningProcess, removeDir, startProcess, tempDir, waitForPort } from "./service.ts";

/** Options of a test Redis server. */
export interface RedisServerOptions {
  /** Sets `requirepass`; clients must then authenticate. */
  password?: string;
  /**
   * AOF persistence (`appendfsync everysec`, as in production), with RDB snapshots off. Default
   * true. With false, Redis keeps its default snapshot points, so a graceful restart keeps data.
   */
  aof?: boolean;
}

/** A redis-server started by a test on a free loopback port, in its own temp folder. */
export interface RedisServer {
  /** `redis://127.0.0.1:PORT` (without the password, which tests pass separately). */
  url: string;
  port: number;
  /** The data folder (AOF and RDB files live here and survive `restart`). */
  dir: string;
  /** SIGTERM (Redis flushes its AOF), then removes the data folder. Final: call it once, in cleanup. */
  stop(): Promise<void>;
  /** SIGKILL, like a crash: writes not yet fsynced by AOF may be lost. The data folder is kept. */
  kill(): Promise<void>;
  /**
   * Stops the server (SIGTERM, or SIGKILL with `kill: true`) if it is running, stays down for
   * `downMs`, then starts it again on the same port with the same data folder. Also starts a
   * server that `kill()` took down.
   */
  restart(opts?: { downMs?: number; kill?: boolean }): Promise<void>;
  /** Everything the current and earlier processes wrote, for error messages. */
  output(): string;
}

/** Starts redis-server in the foreground with a generated config; resolves once it accepts connections. */
export async function startRedis(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = await tempDir("redis");
  const configFile = join(dir, "redis.conf");
  await writeFile(configFile, configText(port, dir, opts));

  let earlierOutput = "";
  let current: RunningProcess | undefined;
  const launch = async () => {
    current = startProcess("redis-server", [configFile], { cwd: dir });
    const started = current;
    await waitForPort(port, "redis-server").catch((error: unknown) => {
      throw new Error(`${String(error)}\nredis-server output:\n${started.output()}`);
    });
  };
  // Keeps the output of stopped processes so a failure after a restart still shows why.
  const halt = async (how: "stop" | "kill") => {
    if (current === undefined) return;
    const running = current;
    current = undefined;
    await (how === "stop" ? running.stop() : running.kill());
    earlierOutput += running.output();
  };

  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    async stop() {
      await halt("stop");
      await removeDir(dir);
    },
    kill: () => halt("kill"),
    async restart({ downMs = 0, kill = false } = {}) {
      await halt(kill ? "kill" : "stop");
      if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
      await launch();
    },
    output: () => earlierOutput + (current?.output() ?? ""),
  };
}

function configText(port: number, dir: string, opts: RedisServerOptions): string {
  const lines = [
    `port ${port}`,
    "bind 127.0.0.1",
    "protected-mode yes",
    `dir ${dir}`,
    "daemonize no",
    "loglevel warning",
    'logfile ""',
  ];
  // With AOF on, RDB snapshots are off so that AOF alone is what a test exercises (a snapshot
  // would hide its gaps). Without AOF, Redis's default snapshot points stay, so a graceful
  // restart still keeps the data (in dump.rdb).
  if (opts.aof ?? true) lines.push("appendonly yes", "appendfsync everysec", 'save ""');
  else lines.push("appendonly no", "save 3600 1 300 100 60 10000");
  if (opts.password !== undefined) lines.push(`requirepass ${opts.password}`);
  return `${lines.join("\n")}\n`;
}
