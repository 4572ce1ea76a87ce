// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are configuration text with ${NAME} references.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { z } from "zod";
import { ConfigError, type LoadOptions, loadConfig, parseConfigText } from "../../src/config/load.ts";

const KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const FIXTURES = resolve(import.meta.dirname, "../fixtures/config");

const permissive = z.object({}).passthrough();
const options: LoadOptions = { env: {}, adapterSchemas: { irc: permissive, telegram: permissive } };

interface GatewayDocument {
  [key: string]: unknown;
  xmpp: Record<string, unknown>;
  users: Record<string, unknown>;
}

/** A configuration document as a test builds it: loosely typed, so it can hold mistakes. */
interface ConfigDocument {
  [key: string]: unknown;
  redis: Record<string, unknown>;
  secrets: Record<string, unknown>;
  gateways: GatewayDocument[];
}

function remove(object: Record<string, unknown>, key: string): void {
  delete object[key];
}

/** The smallest valid configuration, as a fresh object a test may change. */
function minimal(): ConfigDocument {
  return {
    redis: { url: "redis://127.0.0.1:6379/0" },
    secrets: { encryptionKey: KEY },
    gateways: [
      {
        domain: "irc.localhost",
        adapter: "irc",
        xmpp: { secret: "component-secret" },
        users: { allowedDomains: ["localhost"] },
      },
    ],
  };
}

/** The lines an operator reads for this document, or [] if it is valid. */
function problemsOf(document: unknown, opts: LoadOptions = options): string[] {
  const text = typeof document === "string" ? document : stringify(document);
  try {
    parseConfigText(text, "test.yaml", opts);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

function messageOf(document: unknown, opts: LoadOptions = options): string {
  try {
    parseConfigText(stringify(document), "test.yaml", opts);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("a valid configuration", () => {
  it("loads the full example with every section, reading env and files", async () => {
    const config = await loadConfig(join(FIXTURES, "full.yaml"), {
      env: { REDIS_PASSWORD: "redis-pw", IRC_COMPONENT_SECRET: "irc-secret" },
      adapterSchemas: { irc: permissive, telegram: permissive },
    });
    expect(config).toEqual({
      mode: "production",
      log: { level: "debug" },
      redis: {
        url: "redis://127.0.0.1:6379/0",
        username: "postern",
        password: "redis-pw",
        keyPrefix: "postern:",
      },
      secrets: { encryptionKey: KEY },
      fetch: { maxBytes: 20971520, timeoutMs: 30000, allowOrigins: [] },
      http: {
        host: "127.0.0.1",
        port: 8089,
        publicUrl: "https://files.example.org/postern",
        fileTtlHours: 168,
        maxFileBytes: 20971520,
      },
      gateways: [
        {
          domain: "irc.localhost",
          adapter: "irc",
          name: "IRC",
          xmpp: {
            host: "127.0.0.1",
            port: 5347,
            secret: "irc-secret",
            keepaliveMs: 30000,
            deadAfterMs: 85000,
          },
          users: { allowedDomains: ["localhost", "example.org"], admins: ["admin@localhost"] },
          limits: {
            maxStanzaBytes: 262144,
            maxBodyBytes: 65536,
            registrationsPerHourPerDomain: 20,
            registrationsPerHourPerJid: 3,
            roomJoinsPer10sPerJid: 20,
            outboxMaxStanzas: 50000,
          },
          settings: { servers: { libera: { host: "irc.libera.chat", port: 6697 } } },
        },
        {
          domain: "telegram.localhost",
          adapter: "telegram",
          xmpp: {
            host: "127.0.0.1",
            port: 5347,
            secret: "telegram-secret",
            keepaliveMs: 30000,
            deadAfterMs: 85000,
          },
          users: { allowedDomains: ["localhost"], admins: [] },
          limits: {
            maxStanzaBytes: 262144,
            maxBodyBytes: 65536,
            registrationsPerHourPerDomain: 20,
            registrationsPerHourPerJid: 3,
            roomJoinsPer10sPerJid: 20,
            outboxMaxStanzas: 50000,
          },
          settings: {},
        },
      ],
    });
  });

  it("fills in defaults", () => {
    const config = parseConfigText(stringify(minimal()), "test.yaml", options);
    expect(config.log).toEqual({ level: "info" });
    expect(config.redis.keyPrefix).toBe("postern:");
    expect(config.http).toBeUndefined();
    expect(config.gateways[0]).toEqual({
      domain: "irc.localhost",
      adapter: "irc",
      xmpp: {
        host: "127.0.0.1",
        port: 5347,
        secret: "component-secret",
        keepaliveMs: 30000,
        deadAfterMs: 85000,
      },
      users: { allowedDomains: ["localhost"], admins: [] },
      limits: {
        maxStanzaBytes: 262144,
        maxBodyBytes: 65536,
        registrationsPerHourPerDomain: 20,
        registrationsPerHourPerJid: 3,
        roomJoinsPer10sPerJid: 20,
        outboxMaxStanzas: 50000,
      },
      settings: {},
    });
  });

  it("accepts a port given as text by an environment variable", () => {
    const document = minimal();
    document.gateways[0]!.xmpp.port = "${XMPP_PORT}";
    const config = parseConfigText(stringify(document), "test.yaml", {
      ...options,
      env: { XMPP_PORT: "15347" },
    });
    expect(config.gateways[0]!.xmpp.port).toBe(15347);
  });

  it("lower-cases domains and admin JIDs", () => {
    const document = minimal();
    document.gateways[0]!.domain = "IRC.Example.ORG";
    document.gateways[0]!.users = { allowedDomains: ["Example.ORG"], admins: ["Admin@Example.org"] };
    const config = parseConfigText(stringify(document), "test.yaml", options);
    expect(config.gateways[0]!.domain).toBe("irc.example.org");
    expect(config.gateways[0]!.users).toEqual({
      allowedDomains: ["example.org"],
      admins: ["admin@example.org"],
    });
  });

  it("accepts a base64 encryption key, a Sentinel or a Cluster", () => {
    const document = minimal();
    document.secrets.encryptionKey = Buffer.alloc(32, 7).toString("base64");
    document.redis = { sentinel: { name: "mymaster", sentinels: [{ host: "127.0.0.1", port: 26379 }] } };
    expect(problemsOf(document)).toEqual([]);
    document.redis = { cluster: { nodes: [{ host: "127.0.0.1", port: 7000 }] } };
    expect(problemsOf(document)).toEqual([]);
  });

  it("stores the output of the adapter's schema as the gateway's settings", () => {
    const ircSettings = z.strictObject({ nick: z.string().default("postern") });
    const config = parseConfigText(stringify(minimal()), "test.yaml", {
      env: {},
      adapterSchemas: { irc: ircSettings },
    });
    expect(config.gateways[0]!.settings).toEqual({ nick: "postern" });
  });
});

describe("problems an operator reads", () => {
  it("names a wrong type with its path, what was expected and what was found", () => {
    const document = minimal();
    document.gateways.push({
      ...document.gateways[0]!,
      domain: "irc2.localhost",
      xmpp: { port: "abc", secret: "x" },
    });
    expect(problemsOf(document)).toEqual([
      'gateways[1].xmpp.port: expected a number from 1 to 65535, got "abc"',
    ]);
  });

  it("says a port out of range is out of range", () => {
    const document = minimal();
    document.gateways[0]!.xmpp.port = 70000;
    expect(problemsOf(document)).toEqual([
      "gateways[0].xmpp.port: expected a number from 1 to 65535, got 70000",
    ]);
  });

  it("says what a missing key should hold", () => {
    const document = minimal();
    remove(document.gateways[0]!, "domain");
    expect(problemsOf(document)).toEqual(["gateways[0].domain: required, expected a domain name"]);
  });

  it("names a missing section", () => {
    const document = minimal();
    remove(document, "secrets");
    expect(problemsOf(document)).toEqual([
      "secrets: required, expected a mapping with encryptionKey or encryptionKey_file",
    ]);
  });

  it("names an unknown key and suggests the key it resembles", () => {
    const document = minimal();
    document.gateways[0]!.xmpp = { sercet: "x" };
    expect(problemsOf(document)).toEqual([
      "gateways[0].xmpp.secret: required, expected the component secret shared with the XMPP server",
      'gateways[0].xmpp.sercet: unknown key (did you mean "secret"?)',
    ]);
  });

  it("suggests nothing when no known key is close", () => {
    const document = minimal();
    document.gateways[0]!.colour = "blue";
    document.logging = { level: "info" };
    expect(problemsOf(document)).toEqual(["gateways[0].colour: unknown key", "logging: unknown key"]);
  });

  it("names a misspelt *_file key as written", () => {
    const document = minimal();
    remove(document.secrets, "encryptionKey");
    document.secrets.encryptionkey_file = join(FIXTURES, "encryption.key");
    expect(problemsOf(document)).toEqual([
      "secrets.encryptionKey: required, expected 64 hex characters or the base64 of 32 bytes (make one with: openssl rand -hex 32)",
      'secrets.encryptionkey_file: unknown key (did you mean "encryptionKey_file"?)',
    ]);
  });

  it("lists the allowed values of an enumeration", () => {
    const document = minimal();
    document.log = { level: "loud" };
    expect(problemsOf(document)).toEqual([
      'log.level: expected one of trace, debug, info, warn, error, got "loud"',
    ]);
  });

  it("names an unknown adapter and the known ones", () => {
    const document = minimal();
    document.gateways[0]!.adapter = "foo";
    expect(problemsOf(document)).toEqual([
      'gateways[0].adapter: unknown adapter "foo", expected one of irc, telegram',
    ]);
  });

  it("reports every problem at once, not just the first", () => {
    const document = minimal();
    document.log = { level: "loud" };
    document.redis = {};
    document.gateways[0]!.domain = "not a domain";
    document.gateways[0]!.adapter = "foo";
    document.gateways[0]!.users.allowedDomains = [];
    document.gateways[0]!.limits = { maxBodyBytes: 0 };
    expect(problemsOf(document)).toEqual([
      'log.level: expected one of trace, debug, info, warn, error, got "loud"',
      "redis: expected exactly one of url, sentinel, cluster, got none",
      'gateways[0].domain: expected a domain name, got "not a domain"',
      'gateways[0].adapter: unknown adapter "foo", expected one of irc, telegram',
      "gateways[0].users.allowedDomains: expected a non-empty list of domain names, got an empty list",
      "gateways[0].limits.maxBodyBytes: expected a whole number greater than 0, got 0",
    ]);
  });

  it("lists the problems one per line under a heading in the error message", () => {
    const document = minimal();
    document.log = { level: "loud" };
    remove(document.gateways[0]!, "domain");
    expect(messageOf(document)).toBe(
      [
        "invalid configuration test.yaml (2 problems):",
        'log.level: expected one of trace, debug, info, warn, error, got "loud"',
        "gateways[0].domain: required, expected a domain name",
      ].join("\n"),
    );
  });

  it("reports duplicated gateway domains, whatever their case", () => {
    const document = minimal();
    document.gateways.push({ ...document.gateways[0]!, domain: "IRC.localhost", adapter: "telegram" });
    expect(problemsOf(document)).toEqual([
      'gateways[1].domain: duplicate domain "irc.localhost", already used by gateways[0]',
    ]);
  });

  it("checks user domains and admin JIDs", () => {
    const document = minimal();
    document.gateways[0]!.users = {
      allowedDomains: ["localhost", "exa mple.org"],
      admins: ["admin@localhost/phone", "boss@elsewhere.org", "localhost"],
    };
    expect(problemsOf(document)).toEqual([
      'gateways[0].users.allowedDomains[1]: expected a domain name, got "exa mple.org"',
      'gateways[0].users.admins[0]: expected a bare JID such as admin@example.org, got "admin@localhost/phone"',
      'gateways[0].users.admins[2]: expected a bare JID such as admin@example.org, got "localhost"',
      "gateways[0].users.admins[1]: boss@elsewhere.org is not in an allowed domain (users.allowedDomains), so it could never use the gateway",
    ]);
  });

  it("requires exactly one way to reach Redis", () => {
    const document = minimal();
    document.redis = { url: "redis://127.0.0.1", cluster: { nodes: [{ host: "127.0.0.1", port: 7000 }] } };
    expect(problemsOf(document)).toEqual([
      "redis: expected exactly one of url, sentinel, cluster, got url and cluster",
    ]);
    document.redis = { url: "http://127.0.0.1" };
    expect(problemsOf(document)).toEqual([
      'redis.url: expected a redis:// or rediss:// URL, got "http://127.0.0.1"',
    ]);
  });

  it("checks the HTTP section and the limits", () => {
    const document = minimal();
    document.http = { port: 0, publicUrl: "files.example.org" };
    document.gateways[0]!.limits = { maxStanzaBytes: 1000, maxBodyBytes: 2000 };
    expect(problemsOf(document)).toEqual([
      "http.port: expected a number from 1 to 65535, got 0",
      'http.publicUrl: expected an http:// or https:// URL, got "files.example.org"',
      "gateways[0].limits.maxBodyBytes: expected at most maxStanzaBytes (1000), got 2000",
    ]);
  });

  it("requires at least one gateway", () => {
    const document = minimal();
    document.gateways = [];
    expect(problemsOf(document)).toEqual([
      "gateways: expected a non-empty list of gateways, got an empty list",
    ]);
  });

  it("reports the adapter's settings problems with their full path", () => {
    const ircSettings = z.strictObject({
      servers: z.record(
        z.string(),
        z.strictObject({ host: z.string(), port: z.number().int().min(1).max(65535) }),
      ),
    });
    const document = minimal();
    document.gateways[0]!.settings = {
      servers: {
        libera: { host: "irc.libera.chat", port: "x" },
        "irc.oftc.net": { host: 5, prot: 6697, tls: true },
      },
    };
    expect(problemsOf(document, { env: {}, adapterSchemas: { irc: ircSettings } })).toEqual([
      'gateways[0].settings.servers.libera.port: expected a number, got "x"',
      'gateways[0].settings.servers["irc.oftc.net"].host: expected text, got 5',
      'gateways[0].settings.servers["irc.oftc.net"].port: required, expected a number',
      'gateways[0].settings.servers["irc.oftc.net"].prot: unknown key (did you mean "port"?)',
      'gateways[0].settings.servers["irc.oftc.net"].tls: unknown key',
    ]);
  });

  it("reports core and settings problems together", () => {
    const document = minimal();
    document.gateways[0]!.xmpp.port = "abc";
    document.gateways[0]!.settings = { nick: "" };
    const ircSettings = z.strictObject({ nick: z.string().min(1) });
    expect(problemsOf(document, { env: {}, adapterSchemas: { irc: ircSettings } })).toEqual([
      'gateways[0].xmpp.port: expected a number from 1 to 65535, got "abc"',
      'gateways[0].settings.nick: expected non-empty text, got ""',
    ]);
  });

  it("says which environment variable a bad value came from", () => {
    const document = minimal();
    document.gateways[0]!.xmpp.port = "${XMPP_PORT}";
    expect(problemsOf(document, { ...options, env: { XMPP_PORT: "fifty" } })).toEqual([
      'gateways[0].xmpp.port: expected a number from 1 to 65535, got "fifty" (from environment variable XMPP_PORT)',
    ]);
  });

  it("reports a missing environment variable once, not again as a bad value", () => {
    const document = minimal();
    document.gateways[0]!.xmpp = { port: "${XMPP_PORT}", secret: "${IRC_SECRET}" };
    expect(problemsOf(document)).toEqual([
      "gateways[0].xmpp.port: environment variable XMPP_PORT is not set",
      "gateways[0].xmpp.secret: environment variable IRC_SECRET is not set",
    ]);
  });

  it("reports an unreadable secret file once, naming the file", () => {
    const document = minimal();
    remove(document.gateways[0]!.xmpp, "secret");
    document.gateways[0]!.xmpp.secret_file = "/nonexistent/postern-secret";
    expect(problemsOf(document)).toEqual([
      "gateways[0].xmpp.secret_file: cannot read file /nonexistent/postern-secret: no such file",
    ]);
  });
});

describe("secrets in messages", () => {
  const SECRET = "hunter2-very-secret";

  it("shows secret values as *** in what was found", () => {
    const document = minimal();
    document.secrets.encryptionKey = SECRET;
    document.gateways[0]!.xmpp.secret = 12345;
    document.redis = { url: `redis://:${SECRET}@localhost:6379`, password: 42 };
    const ircSettings = z.strictObject({
      botToken: z.string(),
      saslPassword: z.string(),
      nickServSecret: z.string(),
    });
    document.gateways[0]!.settings = { botToken: 1, saslPassword: 2, nickServSecret: 3 };
    const problems = problemsOf(document, { env: {}, adapterSchemas: { irc: ircSettings } });
    expect(problems).toEqual([
      'redis.password: expected a password, got "***"',
      'secrets.encryptionKey: expected 64 hex characters or the base64 of 32 bytes (make one with: openssl rand -hex 32), got "***"',
      'gateways[0].xmpp.secret: expected the component secret shared with the XMPP server, got "***"',
      'gateways[0].settings.botToken: expected text, got "***"',
      'gateways[0].settings.saslPassword: expected text, got "***"',
      'gateways[0].settings.nickServSecret: expected text, got "***"',
    ]);
  });

  it("masks a password inside a URL that is shown", () => {
    const document = minimal();
    document.http = { publicUrl: `ftp://user:${SECRET}@files.example.org` };
    const message = messageOf(document);
    expect(message).toContain(
      'http.publicUrl: expected an http:// or https:// URL, got "ftp://user:***@files.example.org"',
    );
    expect(message).not.toContain(SECRET);
  });

  it("never shows the line of a YAML syntax error, which may hold a secret", () => {
    expect(problemsOf(`redis:\n  password: "${SECRET}\n`)).toEqual([
      'test.yaml:3:1: YAML syntax error: Missing closing "quote',
    ]);
  });
});

describe("the file itself", () => {
  it("reports YAML syntax errors with line and column", () => {
    expect(problemsOf("log:\n  level: info\n redis: x\n")).toEqual([
      "test.yaml:3:1: YAML syntax error: All mapping items must start at the same column",
    ]);
    expect(problemsOf("log: 1\nlog: 2\n")).toEqual([
      "test.yaml:2:1: YAML syntax error: Map keys must be unique",
    ]);
  });

  it("says an empty file is empty", () => {
    expect(problemsOf("# nothing here\n")).toEqual([
      "test.yaml: the file is empty; expected the sections redis, secrets and gateways",
    ]);
  });

  it("says what the top level must be", () => {
    expect(problemsOf("- redis\n")).toEqual([
      "(top level): expected a mapping with the sections redis, secrets and gateways, got a list",
    ]);
  });

  describe("on disk", () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), "postern-config-"));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it("says a missing file is missing", async () => {
      const path = join(dir, "absent.yaml");
      await expect(loadConfig(path, options)).rejects.toThrow(
        `invalid configuration ${path} (1 problem):\n${path}: cannot read the configuration file: no such file`,
      );
    });

    it("reads *_file paths relative to the configuration file's folder", async () => {
      await writeFile(join(dir, "component.secret"), "from-a-file\n");
      const document = minimal();
      remove(document.gateways[0]!.xmpp, "secret");
      document.gateways[0]!.xmpp.secret_file = "component.secret";
      await writeFile(join(dir, "postern.yaml"), stringify(document));
      const config = await loadConfig(join(dir, "postern.yaml"), options);
      expect(config.gateways[0]!.xmpp.secret).toBe("from-a-file");
    });
  });
});
