/**
 * A 3-master Redis Cluster on loopback for tests: three `redis-server --cluster-enabled yes` in
 * their own temp folders, joined by `redis-cli --cluster create`. No replicas: the point is to
 * spread keys over slots held by different processes, so a command touching keys of two slots
 * fails with CROSSSLOT as it would in production.
 */
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./ports.ts";
import { type RunningProcess, removeDir, startProcess, tempDir, waitForPort } from "./service.ts";

const run = promisify(execFile);

export interface RedisClusterNode {
  host: string;
  port: number;
}

export interface RedisCluster {
  /** The masters, each holding a third of the slots. */
  nodes: RedisClusterNode[];
  /** Stops every node and removes their folders. */
  stop(): Promise<void>;
}

/** Starts three masters on free loopback ports and waits until the cluster says `cluster_state:ok`. */
export async function startRedisCluster(): Promise<RedisCluster> {
  const started: { process: RunningProcess; dir: string; port: number }[] = [];
  const stop = async () => {
    await Promise.all(started.map((n) => n.process.stop()));
    await Promise.all(started.map((n) => removeDir(n.dir)));
  };
  try {
    for (let i = 0; i < 3; i += 1) {
      const port = await freePort();
      // The cluster bus port is port + 10 000 by default, which may be taken (or past 65535).
      const busPort = await freePort();
      const dir = await tempDir(`redis-cluster-${i}`);
      const configFile = join(dir, "redis.conf");
      await writeFile(configFile, configText(port, busPort, dir));
      const proc = startProcess("redis-server", [configFile], { cwd: dir });
      started.push({ process: proc, dir, port });
      await waitForPort(port, `cluster node ${i} (redis-server)`, 15_000, "127.0.0.1", proc);
    }
    const addresses = started.map((n) => `127.0.0.1:${n.port}`);
    await run(
      "redis-cli",
      ["--cluster", "create", ...addresses, "--cluster-replicas", "0", "--cluster-yes"],
      {
        timeout: 30_000,
      },
    ).catch((error: unknown) => {
      throw new Error(`redis-cli --cluster create failed: ${describe(error)}`);
    });
    await waitUntilOk(started.map((n) => n.port));
  } catch (error) {
    const output = started.map((n, i) => `--- node ${i} ---\n${n.process.output()}`).join("\n");
    await stop();
    throw new Error(`${describe(error)}\n${output}`);
  }
  return { nodes: started.map((n) => ({ host: "127.0.0.1", port: n.port })), stop };
}

/** Every node must agree that all slots are covered before a client can rely on the slot map. */
async function waitUntilOk(ports: number[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    const states = await Promise.all(
      ports.map(async (port) => {
        const { stdout } = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "cluster", "info"]);
        return /cluster_state:(\w+)/.exec(stdout)?.[1] ?? "unknown";
      }),
    );
    if (states.every((s) => s === "ok")) return;
    last = states.join(", ");
    if (Date.now() > deadline) throw new Error(`timed out waiting for cluster_state:ok (last: ${last})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function configText(port: number, busPort: number, dir: string): string {
  return `${[
    `port ${port}`,
    `cluster-port ${busPort}`,
    "bind 127.0.0.1",
    "protected-mode yes",
    `dir ${dir}`,
    "daemonize no",
    "loglevel warning",
    'logfile ""',
    "cluster-enabled yes",
    "cluster-config-file nodes.conf",
    "cluster-node-timeout 5000",
    "appendonly no",
    'save ""',
  ].join("\n")}\n`;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const { stdout, stderr } = error as Error & { stdout?: string; stderr?: string };
    return [error.message, stdout, stderr].filter(Boolean).join("\n");
  }
  return String(error);
}
