/**
 * Leader locks with a TTL, e.g. "one Telegram getUpdates poller per bot token" (the Bot API
 * answers 409 to a second poller). The lock's value is the holder's token: only the holder can
 * renew or release it (compare-and-set in a script), so a process that paused past its TTL cannot
 * delete the lock a successor now holds. The holder must renew well before the TTL runs out and
 * stop acting as leader as soon as a renewal returns false.
 */
import type { Keys } from "./keys.ts";
import type { RedisClient } from "./redis.ts";

// KEYS[1] lock; ARGV[1] holder; ARGV[2] ttl ms. Taking a lock one already holds succeeds (and
// extends it), so a retried acquire after a timeout does not lock its own caller out.
const ACQUIRE = `
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`;

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

/** Named locks held by a token. */
export class Locks {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  /** Takes the lock for `ttlMs` if it is free or already `holder`'s; true if `holder` now holds it. */
  async acquire(name: string, holder: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.eval(ACQUIRE, 1, this.keys.lock(name), holder, ttlMs)) === 1;
  }

  /** Extends the lock to `ttlMs` from now if `holder` still holds it; false means leadership is lost. */
  async renew(name: string, holder: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.eval(RENEW, 1, this.keys.lock(name), holder, ttlMs)) === 1;
  }

  /** Frees the lock if `holder` holds it; true if it did. Releasing someone else's lock does nothing. */
  async release(name: string, holder: string): Promise<boolean> {
    return (await this.redis.eval(RELEASE, 1, this.keys.lock(name), holder)) === 1;
  }

  /** The current holder's token, or null if the lock is free. */
  async holder(name: string): Promise<string | null> {
    return this.redis.get(this.keys.lock(name));
  }
}
