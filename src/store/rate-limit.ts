/**
 * Fixed-window rate limits shared by every Postern process (e.g. registrations per JID per hour,
 * joins per user). A counter per scope lives for one window: the first hit creates it with the
 * window as TTL, later hits only count. Counting and setting the TTL happen in one script, so a
 * crash cannot leave a counter without expiry (which would block its scope forever).
 */
import type { Keys } from "./keys.ts";
import type { RedisClient } from "./redis.ts";

/** Outcome of one hit. */
export interface RateLimitResult {
  allowed: boolean;
  /** 0 when allowed; otherwise whole seconds until the window ends (at least 1). */
  retryAfterSeconds: number;
}

// KEYS[1] counter; ARGV[1] window in ms. Returns {count, ms left in the window}.
const HIT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
`;

/** Fixed-window counters per arbitrary scope string. */
export class RateLimiter {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  /** Counts one hit on `scope`; allowed while the window holds at most `limit` hits. */
  async hit(scope: string, limit: number, windowSeconds: number): Promise<RateLimitResult> {
    const reply = await this.redis.eval(HIT, 1, this.keys.rateLimit(scope), Math.ceil(windowSeconds * 1000));
    const [count, ttlMs] = reply as [number, number];
    if (count <= limit) return { allowed: true, retryAfterSeconds: 0 };
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(ttlMs / 1000)) };
  }
}
