/**
 * Production mode (RELIABILITY.md S10): which settings it refuses, how each is named, and that the
 * process start refuses them before connecting to anything. The command line's side (exit 2, the
 * development-mode warning) is in test/integration/security-production-mode.test.ts.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { z } from "zod";
import { ConfigError, type LoadOptions, parseConfigText } from "../../src/config/load.ts";
import {
  describeRefusal,
  findInsecureSettings,
  InsecureConfigError,
  PUBLIC_DEMO_ENCRYPTION_KEY,
} from "../../src/config/production-checks.ts";
import type { PosternConfig } from "../../src/config/schema.ts";
import { startPostern } from "../../src/core/app.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const KEY = randomBytes(32).toString("hex");
const PASSWORD = "canary-redis-password-91c2";
const permissive = z.object({}).passthrough();
const options: LoadOptions = { env: {}, adapterSchemas: { irc: permissive } };

/** A configuration with these `redis` and top-level entries, valid otherwise. */
function configWith(redis: Record<string, unknown>, extra: Record<string, unknown> = {}): PosternConfig {
  const document = {
    redis,
    secrets: { encryptionKey: KEY },
    gateways: [
      {
        domain: "irc.localhost",
        adapter: "irc",
        xmpp: { secret: "a-long-random-component-secret" },
        users: { allowedDomains: ["localhost"] },
      },
    ],
    ...extra,
  };
  return parseConfigText(stringify(document), "test.yaml", options);
}

/** The `path: message` lines production mode refuses this configuration with. */
function refused(config: PosternConfig): string[] {
  return findInsecureSettings(config).map((p) => `${p.path}: ${p.message}`);
}

const SENTINELS = [{ host: "127.0.0.1", port: 26379 }];
const NODES = [{ host: "127.0.0.1", port: 7000 }];

describe("the mode setting", () => {
  it("is production unless the file says otherwise", () => {
    expect(configWith({ url: "redis://127.0.0.1:6379" }).mode).toBe("production");
    expect(configWith({ url: "redis://127.0.0.1:6379" }, { mode: "development" }).mode).toBe("development");
  });

  it("names the accepted values when misspelt", () => {
    try {
      configWith({ url: "redis://127.0.0.1:6379" }, { mode: "prod" });
      expect.unreachable("a ConfigError");
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      expect(error.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
        'mode: expected one of production, development, got "prod"',
      ]);
    }
  });
});

describe("Redis authentication", () => {
  it.each([
    { form: "a password in the URL", redis: { url: `redis://:${PASSWORD}@127.0.0.1:6379` } },
    {
      form: "an ACL user and password in the URL",
      redis: { url: `redis://postern:${PASSWORD}@127.0.0.1:6379/0` },
    },
    { form: "a password as a URL option", redis: { url: `redis://127.0.0.1:6379?password=${PASSWORD}` } },
    { form: "redis.password with a URL", redis: { url: "redis://127.0.0.1:6379", password: PASSWORD } },
    {
      form: "an ACL user with Sentinel",
      redis: {
        sentinel: { name: "mymaster", sentinels: SENTINELS },
        username: "postern",
        password: PASSWORD,
      },
    },
    { form: "redis.password with a Cluster", redis: { cluster: { nodes: NODES }, password: PASSWORD } },
  ])("is accepted with $form", ({ redis }) => {
    expect(refused(configWith(redis))).toEqual([]);
  });

  const urlAdvice =
    "redis: Redis is reached without a password: set redis.password, with redis.username for an ACL user (docs/operators.md, Redis), or give them in the URL (redis://USER:PASSWORD@host:port)";

  it.each([
    { form: "a URL without credentials", redis: { url: "redis://127.0.0.1:6379/0" } },
    { form: "a user name alone", redis: { url: "redis://127.0.0.1:6379", username: "postern" } },
    { form: "a user name alone in the URL", redis: { url: "redis://postern@127.0.0.1:6379" } },
    { form: "TLS without credentials", redis: { url: "rediss://redis.example.org:6380" } },
  ])("is refused with $form, saying what to set", ({ redis }) => {
    expect(refused(configWith(redis))).toEqual([urlAdvice]);
  });

  it("is refused for Sentinel when only the sentinels have a password", () => {
    const redis = { sentinel: { name: "mymaster", sentinels: SENTINELS, password: PASSWORD } };
    expect(refused(configWith(redis))).toEqual([
      "redis: the Redis servers behind Sentinel are reached without a password (sentinel.password is the sentinels' own): set redis.password, with redis.username for an ACL user (docs/operators.md, Redis)",
    ]);
  });

  it("is refused for a Cluster without redis.password", () => {
    expect(refused(configWith({ cluster: { nodes: NODES } }))).toEqual([
      "redis: the cluster nodes are reached without a password: set redis.password, with redis.username for an ACL user (docs/operators.md, Redis)",
    ]);
  });
});

describe("demo secrets", () => {
  const demoBytes = Buffer.from(PUBLIC_DEMO_ENCRYPTION_KEY, "hex");
  const keyAdvice =
    "secrets.encryptionKey: is the public demo key of config.example.yaml, so anyone with a copy of Redis could read the stored credentials: make your own with `openssl rand -hex 32` (and keep it safe)";

  it.each([
    { form: "as in config.example.yaml", key: PUBLIC_DEMO_ENCRYPTION_KEY },
    { form: "in upper case", key: PUBLIC_DEMO_ENCRYPTION_KEY.toUpperCase() },
    { form: "as base64", key: demoBytes.toString("base64") },
    { form: "as URL-safe base64 without padding", key: demoBytes.toString("base64url") },
  ])("the demo encryption key is refused $form", ({ key }) => {
    const config = configWith(
      { url: `redis://:${PASSWORD}@127.0.0.1:6379` },
      { secrets: { encryptionKey: key } },
    );
    expect(refused(config)).toEqual([keyAdvice]);
  });

  it("the demo component secret is refused on the gateway that uses it", () => {
    const gateway = (domain: string, secret: string) => ({
      domain,
      adapter: "irc",
      xmpp: { secret },
      users: { allowedDomains: ["localhost"] },
    });
    const config = configWith(
      { url: `redis://:${PASSWORD}@127.0.0.1:6379` },
      {
        gateways: [
          gateway("irc.localhost", "own-secret"),
          gateway("irc2.localhost", "demo-component-secret"),
        ],
      },
    );
    expect(refused(config)).toEqual([
      "gateways[1].xmpp.secret: is the public demo secret of config.example.yaml, so anyone who reaches the component port could log in as this gateway: use a long random one (`openssl rand -hex 24`), the same in the XMPP server's configuration",
    ]);
  });
});

describe("config.example.yaml", () => {
  it("as shipped, without the secrets in the environment, holds exactly what production refuses", async () => {
    const text = await readFile(resolve(ROOT, "config.example.yaml"), "utf8");
    const config = parseConfigText(text, "config.example.yaml", {
      env: {},
      adapterSchemas: { irc: permissive },
    });
    expect(config.mode).toBe("development");
    expect(findInsecureSettings(config).map((p) => p.path)).toEqual([
      "redis",
      "secrets.encryptionKey",
      "gateways[0].xmpp.secret",
    ]);
  });
});

describe("the refusal", () => {
  it("lists every problem and both ways out, never a secret", () => {
    const config = configWith(
      { url: "redis://postern@127.0.0.1:6379" },
      { secrets: { encryptionKey: PUBLIC_DEMO_ENCRYPTION_KEY } },
    );
    const text = describeRefusal("/etc/postern/config.yaml", findInsecureSettings(config));
    expect(text.split("\n")).toEqual([
      "unsafe for production: /etc/postern/config.yaml (2 problems; mode: production is the default):",
      expect.stringMatching(/^redis: Redis is reached without a password: /),
      expect.stringMatching(/^secrets\.encryptionKey: is the public demo key /),
      'Postern refuses to start with these. Fix them, or for a local try-out set "mode: development" at the top of the file (Postern then starts and logs a warning).',
    ]);
    expect(text).not.toContain(PUBLIC_DEMO_ENCRYPTION_KEY);
  });

  it("stops startPostern in production mode before it connects to anything", async () => {
    // Nothing listens on port 1: had Postern tried Redis first, it would fail some other way.
    const config = configWith({ url: "redis://127.0.0.1:1" });
    const started = startPostern(config, {});
    await expect(started).rejects.toBeInstanceOf(InsecureConfigError);
    await expect(started).rejects.toThrow(/^unsafe for production: the configuration \(1 problem; /);
  });
});
