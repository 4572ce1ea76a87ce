import { execFile } from "node:child_process";
import { cp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
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

/** A copy of a test Redis server's data at one moment (see `RedisServer.snapshot`). */
export interface RedisSnapshot {
  /** The copied AOF folder or RDB file, inside the server's data folder. */
  path: string;
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
  /**
   * Copies the data as it is now, for `restoreSnapshot` later (then a stale backup). With AOF,
   * the AOF folder (it holds every acknowledged write); without, an RDB file written by SAVE.
   */
  snapshot(): Promise<RedisSnapshot>;
  /**
   * SIGKILL, put `snapshot` in place of the data, start again on the same port: Redis restored
   * from an old backup, every write since the snapshot lost (RELIABILITY.md R4).
   */
  restoreSnapshot(snapshot: RedisSnapshot): Promise<void>;
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
  const aof = opts.aof ?? true;
  let snapshots = 0;
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
    async snapshot() {
      snapshots += 1;
      const path = join(dir, `snapshot-${snapshots}`);
      if (aof) {
        await cp(join(dir, AOF_DIR), path, { recursive: true });
      } else {
        await promisify(execFile)("redis-cli", ["-p", String(port), "SAVE"], {
          timeout: 30_000,
          env: { ...process.env, ...(opts.password === undefined ? {} : { REDISCLI_AUTH: opts.password }) },
        });
        await cp(join(dir, "dump.rdb"), path);
      }
      return { path };
    },
    async restoreSnapshot(snapshot) {
      await halt("kill");
      const target = join(dir, aof ? AOF_DIR : "dump.rdb");
      await rm(target, { recursive: true, force: true });
      await cp(snapshot.path, target, { recursive: true });
      await launch();
    },
  };
}

/** Where Redis 7 keeps its AOF files (`appenddirname`). */
const AOF_DIR = "appendonlydir";

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
