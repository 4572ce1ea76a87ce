/**
 * The one place that creates Redis connections (single server, Sentinel or Cluster).
 *
 * How long a command can wait (the bound the rest of Postern relies on):
 * - Every command on a single server or Sentinel connection settles within `commandTimeout`
 *   (5 s) of being issued: resolved, or rejected with "Command timed out". That includes
 *   commands queued while Redis is unreachable (the offline queue), so a short outage (a Redis
 *   restart, a failover) is invisible except for latency, and a long one turns into errors the
 *   caller can answer (e.g. an XMPP error of type `wait`) instead of a hang.
 * - A command rejected by the timeout may still reach Redis after a reconnect (ioredis keeps it
 *   queued). Callers must treat such an error as "outcome unknown"; the repositories in this
 *   folder keep every write idempotent (SET NX, HSET, SADD, scripts) so a retry is harmless.
 * - `maxRetriesPerRequest` (10) is a second bound for commands caught in flight by a dropped
 *   connection: they are retried across reconnects and rejected once about 10 reconnect attempts
 *   have failed (in practice the 5 s timeout comes first).
 * - `socketTimeout` (10 s) drops a connection that stops answering while commands are pending
 *   (a half-open TCP link), so it reconnects instead of waiting for TCP keepalive. A blocking
 *   read (XREAD BLOCK, BLPOP) therefore needs its own connection with a shorter block time.
 * - Reconnects back off exponentially from 100 ms to at most 5 s, with jitter so that several
 *   Postern processes do not reconnect in lockstep.
 * - In Cluster mode, commands issued while no node is reachable wait in the cluster's own offline
 *   queue, which has no timeout; `clusterRetryStrategy` uses the same capped backoff.
 *
 * Passwords never reach the logs: log lines name the target without credentials, and error
 * messages are scrubbed of the password before they are logged.
 */
import { Cluster, Redis, type RedisOptions } from "ioredis";
import type { Logger } from "pino";

/** A connection to Redis: a single server (also behind Sentinel) or a Cluster. */
export type RedisClient = Redis | Cluster;

/** How to reach Redis. Exactly one of `url`, `sentinel` and `cluster` is expected; `url` is the default. */
export interface RedisConnectionOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). */
  url?: string;
  sentinel?: {
    /** The master group name. */
    name: string;
    sentinels: { host: string; port: number }[];
    /** Password of the Sentinel processes (the Redis password is `password` below). */
    password?: string;
  };
  cluster?: { nodes: { host: string; port: number }[] };
  /** Redis password; overrides one in the URL. */
  password?: string;
  /** Redis ACL user (Redis ≥ 6); overrides one in the URL. */
  username?: string;
}

/** Per-command bound, in milliseconds (see the module comment). */
export const COMMAND_TIMEOUT_MS = 5_000;
/** Upper bound of one reconnect delay, in milliseconds. */
export const MAX_RECONNECT_DELAY_MS = 2_000;

/**
 * Delay before reconnect attempt `attempt` (1, 2, …): exponential from 100 ms, capped at 2 s (so service resumes soon after Redis returns),
 * with "equal jitter" (a random value between half and all of the step).
 */
export function reconnectDelay(attempt: number): number {
  const step = Math.min(100 * 2 ** Math.min(attempt - 1, 16), MAX_RECONNECT_DELAY_MS);
  return Math.round(step / 2 + Math.random() * (step / 2));
}

/** Creates a Redis connection with production settings; connection errors are logged, never thrown. */
export function createRedis(opts: RedisConnectionOptions, log: Logger): RedisClient {
  const secrets = [opts.password, opts.sentinel?.password, passwordInUrl(opts.url)].filter(
    (s): s is string => s !== undefined && s !== "",
  );
  const common: RedisOptions = {
    commandTimeout: COMMAND_TIMEOUT_MS,
    // Commands issued in the same tick share one socket write: the gateway's many small,
    // independent writes (archives, id maps, state) would otherwise cost a syscall each.
    enableAutoPipelining: true,
    socketTimeout: 10_000,
    maxRetriesPerRequest: 10,
    enableOfflineQueue: true,
    retryStrategy: reconnectDelay,
    // After a failover the old master answers READONLY: reconnect (to the new master, via
    // Sentinel) and resend the command that failed.
    reconnectOnError: (error) => (error.message.startsWith("READONLY") ? 2 : false),
    connectionName: "postern",
    ...(opts.password === undefined ? {} : { password: opts.password }),
    ...(opts.username === undefined ? {} : { username: opts.username }),
  };

  let client: RedisClient;
  let target: string;
  if (opts.cluster !== undefined) {
    target = `cluster ${opts.cluster.nodes.map((n) => `${n.host}:${n.port}`).join(",")}`;
    const { retryStrategy: _perNode, enableOfflineQueue: _offline, ...nodeOptions } = common;
    client = new Cluster(opts.cluster.nodes, {
      redisOptions: nodeOptions,
      clusterRetryStrategy: reconnectDelay,
      enableOfflineQueue: true,
    });
  } else if (opts.sentinel !== undefined) {
    target = `sentinel master "${opts.sentinel.name}"`;
    client = new Redis({
      ...common,
      name: opts.sentinel.name,
      sentinels: opts.sentinel.sentinels,
      sentinelRetryStrategy: reconnectDelay,
      ...(opts.sentinel.password === undefined ? {} : { sentinelPassword: opts.sentinel.password }),
    });
  } else {
    const url = opts.url ?? "redis://127.0.0.1:6379";
    target = withoutCredentials(url);
    client = new Redis(url, common);
  }

  const logger = log.child({ redis: target });
  // Without an "error" listener ioredis prints errors itself (unscrubbed); with one, reconnects
  // continue and we decide what is logged.
  client.on("error", (error: unknown) => {
    logger.warn({ error: scrub(error, secrets) }, "redis connection error");
  });
  client.on("ready", () => logger.info("redis ready"));
  client.on("reconnecting", (delayMs: unknown) => logger.info({ delayMs }, "redis reconnecting"));
  return client;
}

/** `redis://user:secret@host:6379/0` → `redis://host:6379/0` (also for unparsable input: no leak). */
function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    return parsed.toString();
  } catch {
    return "(unparsable Redis URL)";
  }
}

function passwordInUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return decodeURIComponent(new URL(url).password) || undefined;
  } catch {
    return undefined;
  }
}

/** The error as a plain object for pino, with every known secret replaced. */
function scrub(error: unknown, secrets: readonly string[]): { type: string; message: string; code?: string } {
  const clean = (text: string) => secrets.reduce((acc, secret) => acc.split(secret).join("[redacted]"), text);
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { type: error.name, message: clean(error.message), ...(code === undefined ? {} : { code }) };
  }
  return { type: typeof error, message: clean(String(error)) };
}

/**
 * True for errors that mean "Redis is not reachable right now" (timeouts, closed connections,
 * exhausted retries), as opposed to a bad command: the caller should answer "try again later".
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === "MaxRetriesPerRequestError") return true;
  return /Command timed out|Connection is closed|ECONNREFUSED|ECONNRESET|Stream isn't writeable|enableOfflineQueue/.test(
    err.message,
  );
}
