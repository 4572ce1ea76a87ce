import { Cluster, Redis, type RedisOptions } from "ioredis";
import { describeNetworkError, type ProbeResult } from "./probe.ts";
import type { RedisConfig } from "./schema.ts";

/**
 * Connects to Redis as configured (server, Sentinel or Cluster), sends PING, and disconnects.
 * Unlike the production client it gives up at the first failure: the doctor wants an answer, not
 * a retry loop.
 */
export async function probeRedis(redis: RedisConfig, timeoutMs: number): Promise<ProbeResult> {
  const failFast: RedisOptions = {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    ...(redis.username === undefined ? {} : { username: redis.username }),
    ...(redis.password === undefined ? {} : { password: redis.password }),
  };
  let client: Redis | Cluster;
  if (redis.cluster !== undefined) {
    client = new Cluster(redis.cluster.nodes, {
      lazyConnect: true,
      redisOptions: failFast,
      clusterRetryStrategy: () => null,
    });
  } else if (redis.sentinel !== undefined) {
    client = new Redis({
      ...failFast,
      name: redis.sentinel.name,
      sentinels: redis.sentinel.sentinels,
      sentinelRetryStrategy: () => null,
      ...(redis.sentinel.password === undefined ? {} : { sentinelPassword: redis.sentinel.password }),
    });
  } else {
    client = new Redis(redis.url ?? "redis://127.0.0.1:6379", failFast);
  }
  // Without a listener ioredis prints connection errors itself. The first one is the real cause;
  // the promise only rejects with "Connection is closed" once ioredis gives up.
  let firstError: unknown;
  client.on("error", (error: unknown) => {
    firstError ??= error;
  });
  const started = Date.now();
  try {
    await withTimeout(client.connect(), timeoutMs);
    const answer = await withTimeout(client.ping(), timeoutMs);
    return { ok: answer === "PONG", detail: `answered PING in ${Date.now() - started} ms` };
  } catch (error) {
    const secrets = [redis.password ?? "", redis.sentinel?.password ?? ""];
    return { ok: false, detail: describeNetworkError(firstError ?? error, secrets) };
  } finally {
    client.disconnect();
  }
}

/** Where the probe connects to, for the report line; a URL is shown without its credentials. */
export function describeRedisTarget(redis: RedisConfig): string {
  if (redis.cluster !== undefined) {
    return `cluster ${redis.cluster.nodes.map((node) => `${node.host}:${node.port}`).join(", ")}`;
  }
  if (redis.sentinel !== undefined) return `sentinel master "${redis.sentinel.name}"`;
  try {
    const url = new URL(redis.url ?? "redis://127.0.0.1:6379");
    url.username = "";
    url.password = "";
    return url.toString();
  } catch {
    return "(unparsable URL)";
  }
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
