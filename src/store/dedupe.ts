/**
 * "Have we handled this inbound event before?" — for sources that may deliver an event twice
 * (Telegram updates after a crash, IRCv3 msgids on reconnect, XMPP stanzas resent by a server).
 * One key per event id with a TTL, so the memory is bounded by the event rate times the TTL.
 */
import type { DedupeScope, Keys } from "./keys.ts";
import type { RedisClient } from "./redis.ts";

/** Per-user or per-gateway sets of seen event ids, each id expiring on its own. */
export class Dedupe {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  /**
   * Atomically records `eventId` in `scope` and tells whether it was there already.
   * False the first time (handle the event), true for every repeat within `ttlSeconds`.
   */
  async seenBefore(scope: DedupeScope, eventId: string, ttlSeconds: number): Promise<boolean> {
    const created = await this.redis.set(this.keys.dedupe(scope, eventId), "1", "EX", ttlSeconds, "NX");
    return created === null;
  }

  /** Forgets `eventId`, e.g. when handling it failed and a redelivery must not be skipped. */
  async forget(scope: DedupeScope, eventId: string): Promise<void> {
    await this.redis.del(this.keys.dedupe(scope, eventId));
  }
}
