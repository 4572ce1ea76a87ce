/**
 * S10 (RELIABILITY.md), "refuses to start without auth": the real `postern` command in production
 * mode (the default) against real Redis servers and a real Prosody. A Redis without a password, or
 * the public demo secrets of config.example.yaml, stop `run`, `check-config` and `doctor` with exit
 * code 2 and a message naming each setting, before anything is contacted; with `requirepass` and
 * the password in the URL Postern starts. In development mode it starts anyway and logs one
 * warning listing what production would refuse.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ProsodyServer, startProsody } from "../support/prosody.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";
import { type RunningProcess, removeDir, startProcess, tempDir } from "../support/service.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const GW = "irc.localhost";
const SECRET = randomBytes(12).toString("hex");
const REDIS_PASSWORD = `canary-redis-${randomBytes(6).toString("hex")}`;
const WARNING = "production mode would refuse to start with";
const REFUSAL_TAIL =
  'Postern refuses to start with these. Fix them, or for a local try-out set "mode: development" at the top of the file (Postern then starts and logs a warning).';

let open: RedisServer;
let locked: RedisServer;
let prosody: ProsodyServer;
let dir: string;

beforeAll(async () => {
  [open, locked, prosody] = await Promise.all([
    startRedis(),
    startRedis({ password: REDIS_PASSWORD }),
    startProsody({ components: [{ domain: GW, secret: SECRET }] }),
  ]);
  dir = await tempDir("production-mode");
}, 60_000);

afterAll(async () => {
  await Promise.all([open?.stop(), locked?.stop(), prosody?.stop()]);
  if (dir) await removeDir(dir);
});

/** Writes a configuration of one IRC gateway logging in to the test Prosody; returns its path. */
async function writeConfig(name: string, opts: { redisUrl: string; mode?: string; key?: string }) {
  const file = join(dir, `${name}.yaml`);
  await writeFile(
    file,
    `${opts.mode === undefined ? "" : `mode: ${opts.mode}\n`}log: { level: info }
redis: { url: "${opts.redisUrl}" }
secrets: { encryptionKey: "${opts.key ?? randomBytes(32).toString("hex")}" }
gateways:
  - domain: ${GW}
    adapter: irc
    xmpp: { host: 127.0.0.1, port: ${prosody.componentPort}, secret: "${SECRET}" }
    users: { allowedDomains: [localhost] }
    settings:
      servers: { localhost: { host: 127.0.0.1, port: 6667 } }
`,
  );
  return file;
}

/** Runs `postern ARGS` to its end, as an operator would, with nothing of this test's environment. */
function postern(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli.ts", ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
        done({ code, stdout, stderr });
      },
    );
  });
}

/** Starts `postern run` and resolves once its component is logged in to Prosody. */
async function runUntilOnline(configFile: string): Promise<RunningProcess> {
  const run = startProcess(
    process.execPath,
    ["--import", "tsx", "src/cli.ts", "run", "--config", configFile],
    {
      cwd: ROOT,
    },
  );
  const deadline = Date.now() + 30_000;
  while (!run.output().includes('"msg":"component online"')) {
    const exit = run.exitStatus();
    if (exit !== undefined || Date.now() > deadline) {
      await run.kill();
      throw new Error(
        `waiting for Postern's component to come online: postern ${exit ?? "timed out after 30 s"}; output:\n${run.output().slice(-3000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return run;
}

/** Connections the server has accepted since it started (INFO stats), read on one kept connection. */
async function connectionsReceived(client: Redis): Promise<number> {
  const stats = await client.info("stats");
  return Number(/total_connections_received:(\d+)/.exec(stats)?.[1]);
}

describe("production mode (the default)", () => {
  it("`postern run` refuses a Redis without a password: exit 2, the setting named, Redis never contacted", {
    timeout: 40_000,
  }, async () => {
    const file = await writeConfig("open-redis", { redisUrl: open.url });
    const observer = new Redis(open.url);
    try {
      const before = await connectionsReceived(observer);
      const result = await postern(["run", "--config", file]);
      expect(result).toEqual({
        code: 2,
        stdout: "",
        stderr: [
          `unsafe for production: ${file} (1 problem; mode: production is the default):`,
          "redis: Redis is reached without a password: set redis.password, with redis.username for an ACL user (docs/operators.md, Redis), or give them in the URL (redis://USER:PASSWORD@host:port)",
          REFUSAL_TAIL,
          "",
        ].join("\n"),
      });
      expect(await connectionsReceived(observer)).toBe(before);
    } finally {
      observer.disconnect();
    }
  });

  it("check-config and doctor refuse config.example.yaml without its mode line, naming the demo values", {
    timeout: 60_000,
  }, async () => {
    const example = await readFile(join(ROOT, "config.example.yaml"), "utf8");
    expect(example.split("\n")).toContain("mode: development");
    const file = join(dir, "example-without-mode.yaml");
    await writeFile(file, example.replace("\nmode: development\n", "\n"));
    const expected = {
      code: 2,
      stdout: "",
      stderr: [
        `unsafe for production: ${file} (3 problems; mode: production is the default):`,
        expect.stringMatching(/^redis: Redis is reached without a password: /),
        expect.stringMatching(/^secrets\.encryptionKey: is the public demo key of config\.example\.yaml, /),
        expect.stringMatching(
          /^gateways\[0\]\.xmpp\.secret: is the public demo secret of config\.example\.yaml, /,
        ),
        REFUSAL_TAIL,
        "",
      ],
    };
    const [checked, doctored] = await Promise.all([
      postern(["check-config", "--config", file]),
      postern(["doctor", "--config", file]),
    ]);
    for (const result of [checked, doctored]) {
      expect({ ...result, stderr: result.stderr.split("\n") }).toEqual(expected);
    }
  });

  it("starts with requirepass set and the password in the URL, never logging it", {
    timeout: 60_000,
  }, async () => {
    const url = locked.url.replace("redis://", `redis://:${REDIS_PASSWORD}@`);
    const run = await runUntilOnline(await writeConfig("locked-redis", { redisUrl: url }));
    await run.stop(20_000);
    expect(run.exitStatus()).toBe("exited with code 0");
    expect(run.output()).toContain('"msg":"redis ready"');
    expect(run.output()).not.toContain(WARNING);
    expect(run.output()).not.toContain(REDIS_PASSWORD);
  });
});

describe("development mode", () => {
  it("starts against a Redis without a password and logs one warning listing what production refuses", {
    timeout: 60_000,
  }, async () => {
    const demoKey = "64656d6f".repeat(8);
    const file = await writeConfig("development", { redisUrl: open.url, mode: "development", key: demoKey });
    const run = await runUntilOnline(file);
    await run.stop(20_000);
    expect(run.exitStatus()).toBe("exited with code 0");
    const warnings = run
      .output()
      .split("\n")
      .filter((line) => line.includes(WARNING));
    expect(warnings).toHaveLength(1);
    const warning = JSON.parse(warnings[0]!) as { level: number; msg: string };
    expect(warning.level).toBe(40); // pino's "warn"
    expect(warning.msg).toMatch(
      /^mode: development — production mode would refuse to start with: redis: Redis is reached without a password: .*; secrets\.encryptionKey: is the public demo key /,
    );
    expect(warning.msg).not.toContain(demoKey);
  });

  it("doctor lists what production would refuse, then runs its checks", { timeout: 60_000 }, async () => {
    const file = await writeConfig("development-doctor", { redisUrl: open.url, mode: "development" });
    const result = await postern(["doctor", "--config", file]);
    expect({ ...result, stdout: result.stdout.replace(/in \d+ ms/g, "in N ms") }).toEqual({
      code: 0,
      stdout: [
        `config OK: 1 gateway(s): ${GW} (irc)`,
        "warn refused in production: redis: Redis is reached without a password: set redis.password, with redis.username for an ACL user (docs/operators.md, Redis), or give them in the URL (redis://USER:PASSWORD@host:port)",
        `ok   redis ${open.url}: answered PING in N ms`,
        `ok   xmpp ${GW} → 127.0.0.1:${prosody.componentPort}: logged in as ${GW}`,
        "",
      ].join("\n"),
      stderr: "",
    });
  });
});
