/**
 * A bounded Redis stream of serialised stanzas, taken oldest first and acknowledged by deleting
 * them. Two per gateway: the outbox (stanzas waiting for the XMPP server while the component link
 * is down, drained in order once it is back) and the inbox (stanzas from the server that are not
 * handled yet, handled again after a crash: src/core/xmpp-inbox.ts).
 */
import type { RedisClient } from "./redis.ts";

export interface OutboxEntry {
  id: string;
  stanza: string;
}

export class OutboxFullError extends Error {
  constructor(readonly max: number) {
    super(`the outbox holds ${max} stanzas already`);
    this.name = "OutboxFullError";
  }
}

// KEYS[1] stream; ARGV[1] max length; ARGV[2] stanza. Appends unless the stream is full, in one
// step, so concurrent writers cannot overshoot the bound.
const APPEND = `
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return false end
return redis.call('XADD', KEYS[1], '*', 'stanza', ARGV[2])
`;

export class Outbox {
  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
    private readonly maxEntries: number,
  ) {}

  /** Appends a stanza; throws OutboxFullError at the bound instead of growing without limit. */
  async append(stanza: string): Promise<string> {
    const id = (await this.redis.eval(APPEND, 1, this.key, this.maxEntries, stanza)) as string | null;
    if (!id) throw new OutboxFullError(this.maxEntries);
    return id;
  }

  /** The oldest `count` entries, oldest first. */
  async peek(count: number): Promise<OutboxEntry[]> {
    const replies = await this.redis.xrange(this.key, "-", "+", "COUNT", count);
    return replies.map(([id, fields]) => ({ id, stanza: fields[fields.indexOf("stanza") + 1] ?? "" }));
  }

  /** Removes delivered entries. */
  async ack(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.xdel(this.key, ...ids);
  }

  async size(): Promise<number> {
    return this.redis.xlen(this.key);
  }
}
