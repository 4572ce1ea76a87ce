import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { type CliIO, main } from "../../src/cli.ts";
import { freePort } from "../support/ports.ts";
import { type ProsodyServer, startProsody } from "../support/prosody.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";

const KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const REDIS_PASSWORD = "redis-password-for-doctor";
const IRC_SECRET = "irc-component-secret";

let prosody: ProsodyServer;
let redis: RedisServer;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "postern-doctor-"));
  [prosody, redis] = await Promise.all([
    startProsody({ components: [{ domain: "irc.localhost", secret: IRC_SECRET }] }),
    startRedis({ password: REDIS_PASSWORD }),
  ]);
});

afterAll(async () => {
  await Promise.all([prosody?.stop(), redis?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

interface Gateway {
  domain: string;
  port: number;
  secret: string;
}

/** Writes a configuration file and runs `postern doctor` on it in this process. */
async function doctor(redisPassword: string, gateways: Gateway[]) {
  const file = join(dir, `doctor-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(
    file,
    stringify({
      redis: { url: redis.url, password: redisPassword },
      secrets: { encryptionKey: KEY },
      gateways: gateways.map((g) => ({
        domain: g.domain,
        adapter: "irc",
        xmpp: { host: "127.0.0.1", port: g.port, secret: g.secret },
        users: { allowedDomains: ["localhost"] },
        settings: { servers: { localhost: { host: "127.0.0.1" } } },
      })),
    }),
  );
  let stdout = "";
  let stderr = "";
  const io: CliIO = {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env: {},
  };
  const code = await main(["doctor", "--config", file], io);
  // Timings vary; the rest of each line is what the operator reads.
  return { code, stdout: stdout.replace(/in \d+ ms/g, "in N ms"), stderr };
}

describe("postern doctor", () => {
  it("reports ok for a reachable Redis and a component the XMPP server accepts", async () => {
    const result = await doctor(REDIS_PASSWORD, [
      { domain: "irc.localhost", port: prosody.componentPort, secret: IRC_SECRET },
    ]);
    expect(result).toEqual({
      code: 0,
      stdout: [
        "config OK: 1 gateway(s): irc.localhost (irc)",
        `ok   redis ${redis.url}: answered PING in N ms`,
        `ok   xmpp irc.localhost → 127.0.0.1:${prosody.componentPort}: logged in as irc.localhost`,
        "",
      ].join("\n"),
      stderr: "",
    });
  });

  it("explains each failure on its own line and exits with 1", async () => {
    const closedPort = await freePort();
    const result = await doctor("wrong-redis-password", [
      { domain: "irc.localhost", port: prosody.componentPort, secret: "wrong-secret" },
      { domain: "unknown.localhost", port: prosody.componentPort, secret: IRC_SECRET },
      { domain: "closed.localhost", port: closedPort, secret: IRC_SECRET },
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout.split("\n")).toEqual([
      "config OK: 3 gateway(s): irc.localhost (irc), unknown.localhost (irc), closed.localhost (irc)",
      `FAIL redis ${redis.url}: WRONGPASS invalid username-password pair or user is disabled.`,
      `FAIL xmpp irc.localhost → 127.0.0.1:${prosody.componentPort}: the server rejected the secret (not-authorized): xmpp.secret differs from the server's component secret`,
      `FAIL xmpp unknown.localhost → 127.0.0.1:${prosody.componentPort}: the server has no component "unknown.localhost" (host-unknown): declare it in the XMPP server's configuration`,
      `FAIL xmpp closed.localhost → 127.0.0.1:${closedPort}: connection refused`,
      "",
    ]);
    expect(result.stdout).not.toContain("wrong-redis-password");
    expect(result.stdout).not.toContain("wrong-secret");
  });

  it("checks nothing when the configuration is invalid", async () => {
    const result = await doctor(REDIS_PASSWORD, [{ domain: "irc.localhost", port: 0, secret: IRC_SECRET }]);
    expect(result).toEqual({
      code: 2,
      stdout: "",
      stderr: expect.stringContaining("gateways[0].xmpp.port: expected a number from 1 to 65535, got 0\n"),
    });
  });
});
