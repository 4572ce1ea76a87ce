import { z } from "zod";

/*
 * The shape of the configuration file. Every object is strict, so a misspelt key is reported
 * (with a suggestion) instead of silently ignored. Each schema carries its own "expected …"
 * message; the loader adds the path and what was found, giving lines such as
 * `gateways[1].xmpp.port: expected a number from 1 to 65535, got "abc"`.
 */

/** Log levels an operator may choose, quietest last. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error"] as const;

/**
 * `production` (the default) refuses to start with settings only fit for a local try-out (see
 * production-checks.ts); `development` starts with them and logs a warning.
 */
export const MODES = ["production", "development"] as const;

const EXPECTED_PORT = "expected a number from 1 to 65535";
const EXPECTED_DOMAIN = "expected a domain name";
const EXPECTED_KEY =
  "expected 64 hex characters or the base64 of 32 bytes (make one with: openssl rand -hex 32)";

// Labels of letters, digits and inner hyphens, at most 63 characters each and 253 in all.
// A single label ("localhost") is allowed: test and LAN setups use one.
const DOMAIN = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
// A localpart may not hold the characters XMPP reserves (RFC 7622 §3.3.1) or white space.
const BARE_JID = /^[^\s"&'/:<>@]{1,1023}@[^@/]+$/;

/**
 * Numbers may arrive as text when they come from `${ENV}` references; accept "5347" for 5347 but
 * nothing looser ("5347abc", "", true).
 */
function numberFromText(value: unknown): unknown {
  return typeof value === "string" && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
}

function integer(min: number, max: number, expectation: string) {
  return z.preprocess(numberFromText, z.number({ error: expectation }).int().min(min).max(max));
}

function port() {
  return integer(1, 65535, EXPECTED_PORT);
}

function positiveInteger() {
  return integer(1, Number.MAX_SAFE_INTEGER, "expected a whole number greater than 0");
}

function nonEmptyText(expectation: string) {
  return z.string({ error: expectation }).min(1);
}

function host() {
  return nonEmptyText("expected a host name or IP address");
}

/** A DNS domain name, lower-cased (domains compare case-insensitively). */
function domainName() {
  return z.string({ error: EXPECTED_DOMAIN }).trim().toLowerCase().regex(DOMAIN);
}

/** True for `user@example.org`: a localpart without reserved characters and a valid domain. */
function isBareJid(text: string): boolean {
  const at = text.indexOf("@");
  return BARE_JID.test(text) && DOMAIN.test(text.slice(at + 1));
}

/** A bare JID (`user@example.org`), lower-cased. */
function bareJid() {
  return z
    .string({ error: "expected a bare JID such as admin@example.org" })
    .trim()
    .toLowerCase()
    .refine(isBareJid);
}

function httpUrl(expectation: string) {
  return z
    .string({ error: expectation })
    .refine((text) => URL.canParse(text) && /^https?:$/.test(new URL(text).protocol))
    .transform((text) => text.replace(/\/+$/, ""));
}

// The AES-256 key: 64 hex digits, or standard or URL-safe base64 of 32 bytes (43 characters and
// optional padding). The same forms SecretBox.fromKey (src/store/crypto.ts) accepts.
function isEncryptionKey(text: string): boolean {
  const trimmed = text.trim();
  return /^[0-9a-f]{64}$/i.test(trimmed) || /^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed);
}

/**
 * Cross-field checks run even when a field of the same object failed, so that all problems are
 * reported at once (zod skips them by default). They must therefore check types before use.
 */
const EVEN_IF_INVALID = { when: () => true };

const hostAndPort = z.strictObject(
  { host: host(), port: port() },
  { error: "expected a mapping with host and port" },
);

const REDIS_MODES = ["url", "sentinel", "cluster"] as const;

const redisSchema = z
  .strictObject(
    {
      /** A single server: `redis://[user:password@]host:port/db`, or `rediss://` for TLS. */
      url: z
        .string({ error: "expected a redis:// or rediss:// URL" })
        .refine((text) => URL.canParse(text) && /^rediss?:$/.test(new URL(text).protocol))
        .optional(),
      /** Servers watched by Redis Sentinel; `name` is the monitored master's name. */
      sentinel: z
        .strictObject(
          {
            name: nonEmptyText("expected the name of the master the sentinels monitor"),
            sentinels: z.array(hostAndPort, { error: "expected a non-empty list of { host, port }" }).min(1),
            /** Password of the Sentinel processes themselves (the Redis password is `redis.password`). */
            password: nonEmptyText("expected a password").optional(),
          },
          { error: "expected a mapping with name and sentinels" },
        )
        .optional(),
      /** Seed nodes of a Redis Cluster. */
      cluster: z
        .strictObject(
          { nodes: z.array(hostAndPort, { error: "expected a non-empty list of { host, port }" }).min(1) },
          { error: "expected a mapping with nodes" },
        )
        .optional(),
      username: nonEmptyText("expected a user name").optional(),
      password: nonEmptyText("expected a password").optional(),
      /** Prepended to every key, so several deployments can share one Redis. */
      keyPrefix: z.string({ error: "expected text" }).default("postern:"),
    },
    { error: "expected a mapping with url, sentinel or cluster" },
  )
  .superRefine((redis, ctx) => {
    if (typeof redis !== "object" || redis === null) return;
    const given = REDIS_MODES.filter((mode) => redis[mode] !== undefined);
    if (given.length === 1) return;
    const found = given.length === 0 ? "none" : given.join(" and ");
    ctx.addIssue({ code: "custom", message: `expected exactly one of url, sentinel, cluster, got ${found}` });
  }, EVEN_IF_INVALID);

const logSchema = z.strictObject(
  {
    level: z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(", ")}` }).default("info"),
  },
  { error: "expected a mapping with level" },
);

const secretsSchema = z.strictObject(
  {
    /** AES-256-GCM key for the credentials stored in Redis (give it to `SecretBox.fromKey`). */
    encryptionKey: z.string({ error: EXPECTED_KEY }).refine(isEncryptionKey),
  },
  { error: "expected a mapping with encryptionKey or encryptionKey_file" },
);

const httpSchema = z.strictObject(
  {
    host: host().default("127.0.0.1"),
    port: port().default(8089),
    /** The address users' clients reach the file proxy at, without a trailing slash. */
    publicUrl: httpUrl("expected an http:// or https:// URL").optional(),
    /** Where files received from networks are kept until they expire (shared storage when several processes serve one domain). */
    filesDir: nonEmptyText("expected a folder path").optional(),
    /** How long a published file stays reachable. */
    fileTtlHours: positiveInteger().default(168),
    /** Files larger than this are not published (the user gets a notice instead). */
    maxFileBytes: positiveInteger().default(20 * 1024 * 1024),
  },
  { error: "expected a mapping with host, port and publicUrl" },
);

const fetchSchema = z.strictObject(
  {
    /** Files users attach larger than this are refused. */
    maxBytes: positiveInteger().default(20 * 1024 * 1024),
    /** A fetch taking longer than this, in all, is abandoned. */
    timeoutMs: positiveInteger().default(30_000),
    /**
     * Origins (`http://10.0.0.5:5280`) that may be fetched although their address is not public,
     * e.g. the XMPP server's own upload service on a private network.
     */
    allowOrigins: z.array(httpUrl("expected an origin such as http://10.0.0.5:5280")).default([]),
  },
  { error: "expected a mapping with maxBytes, timeoutMs and allowOrigins" },
);

const xmppSchema = z.strictObject(
  {
    /** The XMPP server's component port (XEP-0114). Plain TCP: keep it on loopback or a private link. */
    host: host().default("127.0.0.1"),
    port: port().default(5347),
    /** The component secret shared with the XMPP server. */
    secret: nonEmptyText("expected the component secret shared with the XMPP server"),
    /** Ping the XMPP server after this long without hearing from it (half-open links). */
    keepaliveMs: positiveInteger().default(30_000),
    /** Drop the link and reconnect after this long without a byte from the server. */
    deadAfterMs: positiveInteger().default(85_000),
  },
  { error: "expected a mapping with host, port and secret" },
);

const usersSchema = z
  .strictObject(
    {
      /** Users of exactly these domains may register and use the gateway (no suffix matching). */
      allowedDomains: z.array(domainName(), { error: "expected a non-empty list of domain names" }).min(1),
      /** Bare JIDs allowed to run admin commands; each must belong to an allowed domain. */
      admins: z.array(bareJid(), { error: "expected a list of bare JIDs" }).default([]),
    },
    { error: "expected a mapping with allowedDomains" },
  )
  .superRefine((users, ctx) => {
    if (typeof users !== "object" || users === null) return;
    const allowed: unknown[] = Array.isArray(users.allowedDomains) ? users.allowedDomains : [];
    if (!Array.isArray(users.admins)) return;
    users.admins.forEach((admin, index) => {
      if (typeof admin !== "string" || !isBareJid(admin)) return;
      const domain = admin.slice(admin.indexOf("@") + 1);
      if (allowed.length > 0 && !allowed.includes(domain)) {
        ctx.addIssue({
          code: "custom",
          path: ["admins", index],
          message: `${admin} is not in an allowed domain (users.allowedDomains), so it could never use the gateway`,
        });
      }
    });
  }, EVEN_IF_INVALID);

const limitsSchema = z
  .strictObject(
    {
      /** Larger incoming stanzas are refused with `policy-violation`. */
      maxStanzaBytes: positiveInteger().default(262_144),
      /** Larger message bodies are refused before they reach an adapter. */
      maxBodyBytes: positiveInteger().default(65_536),
      /** New registrations accepted per user domain per hour. */
      registrationsPerHourPerDomain: positiveInteger().default(20),
      /** Registrations (new or changed; unregistering is never limited) accepted per bare JID per hour. */
      registrationsPerHourPerJid: positiveInteger().default(3),
      /** New room joins one bare JID may start per 10 s; joining a room it is already in does not count. */
      roomJoinsPer10sPerJid: positiveInteger().default(20),
      /** Stanzas kept (in Redis) while the XMPP server is unreachable; beyond this, new ones are refused. */
      outboxMaxStanzas: positiveInteger().default(50_000),
    },
    { error: "expected a mapping of limits" },
  )
  .superRefine((limits, ctx) => {
    if (typeof limits !== "object" || limits === null) return;
    const { maxBodyBytes, maxStanzaBytes } = limits;
    if (
      typeof maxBodyBytes === "number" &&
      typeof maxStanzaBytes === "number" &&
      maxBodyBytes > maxStanzaBytes
    ) {
      ctx.addIssue({
        code: "custom",
        path: ["maxBodyBytes"],
        message: `expected at most maxStanzaBytes (${maxStanzaBytes})`,
      });
    }
  }, EVEN_IF_INVALID);

/** The schema of one gateway; `adapterNames` are the adapters this build knows. */
function gatewaySchema(adapterNames: readonly string[]) {
  const expectedAdapter = `expected one of ${adapterNames.join(", ")}`;
  return z.strictObject(
    {
      /** The component's JID, routed to Postern by the XMPP server. Unique across gateways. */
      domain: domainName(),
      /** Name of a registered adapter. */
      adapter: z.string({ error: expectedAdapter }).refine((name) => adapterNames.includes(name), {
        error: (issue) => `unknown adapter ${JSON.stringify(issue.input)}, ${expectedAdapter}`,
      }),
      /** Display name (disco identity); the adapter's own name when absent. */
      name: nonEmptyText("expected a display name").optional(),
      xmpp: xmppSchema,
      users: usersSchema,
      limits: limitsSchema.prefault({}),
      /**
       * Adapter-specific settings. The core schema does not look inside; the loader validates them
       * with the adapter's own `configSchema` and stores that schema's output here.
       */
      settings: z.unknown().optional(),
    },
    { error: "expected a mapping with domain, adapter, xmpp, users" },
  );
}

/**
 * Builds the schema of the whole file. The adapter names are a parameter because adapters register
 * themselves; this module does not import them.
 */
export function createConfigSchema(adapterNames: readonly string[]) {
  return z.strictObject(
    {
      mode: z.enum(MODES, { error: `expected one of ${MODES.join(", ")}` }).default("production"),
      log: logSchema.prefault({}),
      redis: redisSchema,
      secrets: secretsSchema,
      http: httpSchema.optional(),
      fetch: fetchSchema.prefault({}),
      gateways: z
        .array(gatewaySchema(adapterNames), { error: "expected a non-empty list of gateways" })
        .min(1)
        .superRefine((gateways, ctx) => {
          if (!Array.isArray(gateways)) return;
          const firstUse = new Map<string, number>();
          gateways.forEach((gateway, index) => {
            const domain: unknown = gateway?.domain;
            if (typeof domain !== "string") return;
            const earlier = firstUse.get(domain);
            if (earlier === undefined) firstUse.set(domain, index);
            else {
              ctx.addIssue({
                code: "custom",
                path: [index, "domain"],
                message: `duplicate domain "${domain}", already used by gateways[${earlier}]`,
              });
            }
          });
        }, EVEN_IF_INVALID),
    },
    { error: "expected a mapping with the sections redis, secrets and gateways" },
  );
}

/** The validated configuration, defaults filled in. */
export type PosternConfig = z.output<ReturnType<typeof createConfigSchema>>;
/** One gateway: an adapter bound to one component domain. */
export type GatewayConfig = PosternConfig["gateways"][number];
/** How to reach Redis: exactly one of `url`, `sentinel`, `cluster` is set. */
export type RedisConfig = PosternConfig["redis"];
/** Secrets used by the process itself (not the per-user credentials). */
export type SecretsConfig = PosternConfig["secrets"];
/** The optional HTTP server: file proxy, /metrics, /health. */
export type HttpConfig = NonNullable<PosternConfig["http"]>;
/** Limits on fetching files users attach. */
export type FetchConfig = PosternConfig["fetch"];
/** Logging options. */
export type LogConfig = PosternConfig["log"];
/** Connection to the XMPP server's component port. */
export type XmppComponentConfig = GatewayConfig["xmpp"];
/** Who may use a gateway. */
export type UsersConfig = GatewayConfig["users"];
/** Per-gateway size and rate limits. */
export type LimitsConfig = GatewayConfig["limits"];
/** A log level name. */
export type LogLevel = (typeof LOG_LEVELS)[number];
/** `production` or `development`. */
export type Mode = (typeof MODES)[number];
