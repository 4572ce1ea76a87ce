/**
 * Legacy message id ↔ XMPP stanza id, per user, gateway and conversation. Edits, replies,
 * reactions and retractions on either side name the message by the other side's id.
 *
 * Each direction is its own key with a TTL (old messages are rarely edited, and the map must not
 * grow forever). Both keys carry the user's hash tag, so one MULTI writes them together even on a
 * Redis Cluster: a lookup never finds one direction without the other.
 */
import type { Keys } from "./keys.ts";
import type { RedisClient } from "./redis.ts";

/** Default lifetime of a mapping: 30 days. */
export const DEFAULT_ID_MAP_TTL_SECONDS = 30 * 24 * 60 * 60;

/** The two-way message id map. */
export class IdMap {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    readonly ttlSeconds: number = DEFAULT_ID_MAP_TTL_SECONDS,
  ) {}

  /** Records that `legacyId` and `stanzaId` are the same message (idempotent; refreshes the TTL). */
  async remember(
    gateway: string,
    bareJid: string,
    conversation: string,
    legacyId: string,
    stanzaId: string,
  ): Promise<void> {
    // Plain commands (auto-pipelined with other users' writes); both directions are set
    // together in practice, and each is harmless alone.
    await Promise.all([
      this.redis.set(
        this.keys.legacyToStanza(gateway, bareJid, conversation, legacyId),
        stanzaId,
        "EX",
        this.ttlSeconds,
      ),
      this.redis.set(
        this.keys.stanzaToLegacy(gateway, bareJid, conversation, stanzaId),
        legacyId,
        "EX",
        this.ttlSeconds,
      ),
    ]);
  }

  /**
   * Like `remember`, for a message known by several XMPP ids (a room message's id and its
   * archive id): each maps back to `legacyId`, and `legacyId` maps to `primary`. Pipelined with other writes.
   */
  async rememberAll(
    gateway: string,
    bareJid: string,
    conversation: string,
    legacyId: string,
    primary: string,
    aliases: readonly string[],
  ): Promise<void> {
    await Promise.all([
      this.redis.set(
        this.keys.legacyToStanza(gateway, bareJid, conversation, legacyId),
        primary,
        "EX",
        this.ttlSeconds,
      ),
      ...[primary, ...aliases].map((stanzaId) =>
        this.redis.set(
          this.keys.stanzaToLegacy(gateway, bareJid, conversation, stanzaId),
          legacyId,
          "EX",
          this.ttlSeconds,
        ),
      ),
    ]);
  }

  /** The stanza id sent for a legacy message, or null if unknown or expired. */
  async stanzaIdFor(
    gateway: string,
    bareJid: string,
    conversation: string,
    legacyId: string,
  ): Promise<string | null> {
    return this.redis.get(this.keys.legacyToStanza(gateway, bareJid, conversation, legacyId));
  }

  /** The legacy id of a message sent from XMPP with `stanzaId`, or null if unknown or expired. */
  async legacyIdFor(
    gateway: string,
    bareJid: string,
    conversation: string,
    stanzaId: string,
  ): Promise<string | null> {
    return this.redis.get(this.keys.stanzaToLegacy(gateway, bareJid, conversation, stanzaId));
  }
}
