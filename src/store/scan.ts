/**
 * SCAN over every key matching a pattern, on a single server or on each master of a Cluster
 * (a Cluster's SCAN only sees the node it is sent to). Never KEYS: it blocks Redis, and the
 * gateway's ACL user is not allowed to run it.
 */
import { Cluster, type Redis } from "ioredis";
import type { RedisClient } from "./redis.ts";

/** All keys matching `pattern`, without duplicates (SCAN may return a key twice). */
export async function scanKeys(redis: RedisClient, pattern: string): Promise<string[]> {
  const nodes: Redis[] = redis instanceof Cluster ? redis.nodes("master") : [redis];
  const found = new Set<string>();
  for (const node of nodes) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", 500);
      for (const key of keys) found.add(key);
      cursor = next;
    } while (cursor !== "0");
  }
  return [...found];
}
