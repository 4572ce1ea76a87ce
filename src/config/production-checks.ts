/**
 * What production mode refuses: settings that are fine for a local try-out and unsafe anywhere
 * else. The one place that decides it, used by the process start (refuse in production, warn in
 * development), by `postern check-config`, `doctor` and `run` (exit 2 in production) and by the
 * doctor's warnings in development mode.
 *
 * Refused:
 * - Redis reached without a password (neither `redis.password` nor one in the URL), whichever the
 *   form (URL, Sentinel, Cluster): anyone who reaches Redis could read and change every
 *   registration, or flush it;
 * - the public demo encryption key of config.example.yaml: the stored credentials would be
 *   readable by anyone with a Redis dump;
 * - the public demo component secret of config.example.yaml: anyone who reaches the component
 *   port could log in as the gateway.
 */
import { type ConfigProblem, formatPath, formatProblem } from "./errors.ts";
import type { PosternConfig, RedisConfig } from "./schema.ts";

/** The key config.example.yaml falls back to for local try-outs ("demo" × 8): public, so never safe. */
export const PUBLIC_DEMO_ENCRYPTION_KEY = "64656d6f".repeat(8);
/** The component secret config.example.yaml falls back to: public, so never safe. */
export const PUBLIC_DEMO_COMPONENT_SECRET = "demo-component-secret";

const DEMO_KEY_BYTES = Buffer.from(PUBLIC_DEMO_ENCRYPTION_KEY, "hex");

/** The parts of the configuration these checks read. */
export type CheckedConfig = Pick<PosternConfig, "redis" | "secrets" | "gateways">;

/**
 * The settings production mode refuses, located by their path; empty when there are none.
 * Messages say what to do and never contain a secret.
 */
export function findInsecureSettings(config: CheckedConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (!redisAuthenticates(config.redis)) {
    problems.push({ path: "redis", message: redisAdvice(config.redis) });
  }
  if (isDemoKey(config.secrets.encryptionKey)) {
    problems.push({
      path: "secrets.encryptionKey",
      message:
        "is the public demo key of config.example.yaml, so anyone with a copy of Redis could read the stored credentials: make your own with `openssl rand -hex 32` (and keep it safe)",
    });
  }
  config.gateways.forEach((gateway, index) => {
    if (gateway.xmpp.secret !== PUBLIC_DEMO_COMPONENT_SECRET) return;
    problems.push({
      path: formatPath(["gateways", index, "xmpp", "secret"]),
      message:
        "is the public demo secret of config.example.yaml, so anyone who reaches the component port could log in as this gateway: use a long random one (`openssl rand -hex 24`), the same in the XMPP server's configuration",
    });
  });
  return problems;
}

/** True when Postern sends a password to Redis: `redis.password`, or one in the URL. */
export function redisAuthenticates(redis: RedisConfig): boolean {
  if (redis.password !== undefined && redis.password !== "") return true;
  if (redis.url === undefined || !URL.canParse(redis.url)) return false;
  const url = new URL(redis.url);
  // ioredis also takes options from the query string (`?password=…`).
  return url.password !== "" || (url.searchParams.get("password") ?? "") !== "";
}

function redisAdvice(redis: RedisConfig): string {
  const acl = "set redis.password, with redis.username for an ACL user (docs/operators.md, Redis)";
  if (redis.sentinel !== undefined) {
    return `the Redis servers behind Sentinel are reached without a password (sentinel.password is the sentinels' own): ${acl}`;
  }
  if (redis.cluster !== undefined) return `the cluster nodes are reached without a password: ${acl}`;
  return `Redis is reached without a password: ${acl}, or give them in the URL (redis://USER:PASSWORD@host:port)`;
}

/** The demo key in any form the schema accepts: hex in either case, or base64 of the same bytes. */
function isDemoKey(key: string): boolean {
  const text = key.trim();
  const bytes = /^[0-9a-f]{64}$/i.test(text)
    ? Buffer.from(text, "hex")
    : Buffer.from(text.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  return bytes.equals(DEMO_KEY_BYTES);
}

/** What production mode says when it refuses: every problem, then the two ways out. */
export function describeRefusal(source: string, problems: readonly ConfigProblem[]): string {
  const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
  return [
    `unsafe for production: ${source} (${count}; mode: production is the default):`,
    ...problems.map(formatProblem),
    'Postern refuses to start with these. Fix them, or for a local try-out set "mode: development" at the top of the file (Postern then starts and logs a warning).',
  ].join("\n");
}

/** The one warning development mode logs at start. */
export function describeDevelopmentWarning(problems: readonly ConfigProblem[]): string {
  return `mode: development — production mode would refuse to start with: ${problems.map(formatProblem).join("; ")}`;
}

/** Thrown by the process start in production mode when `findInsecureSettings` found something. */
export class InsecureConfigError extends Error {
  readonly problems: readonly ConfigProblem[];

  constructor(source: string, problems: readonly ConfigProblem[]) {
    super(describeRefusal(source, problems));
    this.name = "InsecureConfigError";
    this.problems = problems;
  }
}
