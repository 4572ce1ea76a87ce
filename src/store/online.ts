/**
 * Which XMPP resources of each user are online towards a gateway. After a crash or restart the
 * gateway reads this to reconnect the sessions of users who were online when it died.
 *
 * Two levels: a set of resources per user (user hash tag) and a gateway-wide index of users
 * (gateway hash tag). They live in different Cluster slots, so they cannot change in one
 * transaction; instead the index is kept a superset of the users with resources (written before
 * and after each add, removed only when the user's set is seen empty), and readers trust the
 * per-user sets.
 */
import type { Keys } from "./keys.ts";
import type { RedisClient } from "./redis.ts";

/** Online XMPP resources per user and gateway. */
export class OnlineResources {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  /** Marks `resource` of `bareJid` online (idempotent). */
  async add(gateway: string, bareJid: string, resource: string): Promise<void> {
    const index = this.keys.onlineUsers(gateway);
    // Index before the resource: a crash in between leaves only a harmless stale index entry.
    await this.redis.sadd(index, bareJid);
    await this.redis.sadd(this.keys.onlineResources(gateway, bareJid), resource);
    // And again after it: a concurrent `remove` that saw the set still empty may have unindexed
    // the user in the meantime.
    await this.redis.sadd(index, bareJid);
  }

  /** Marks `resource` offline (idempotent); drops the user from the index when none is left. */
  async remove(gateway: string, bareJid: string, resource: string): Promise<void> {
    const key = this.keys.onlineResources(gateway, bareJid);
    await this.redis.srem(key, resource);
    await this.#unindexIfEmpty(gateway, bareJid, key);
  }

  /** The user's online resources, sorted. */
  async list(gateway: string, bareJid: string): Promise<string[]> {
    const resources = await this.redis.smembers(this.keys.onlineResources(gateway, bareJid));
    return resources.sort();
  }

  /** Marks every resource of the user offline. */
  async clear(gateway: string, bareJid: string): Promise<void> {
    const key = this.keys.onlineResources(gateway, bareJid);
    await this.redis.del(key);
    await this.#unindexIfEmpty(gateway, bareJid, key);
  }

  /** Bare JIDs with at least one online resource at the gateway, sorted. */
  async usersWithResources(gateway: string): Promise<string[]> {
    const candidates = await this.redis.smembers(this.keys.onlineUsers(gateway));
    const online: string[] = [];
    for (const bareJid of candidates) {
      if ((await this.redis.scard(this.keys.onlineResources(gateway, bareJid))) > 0) online.push(bareJid);
    }
    return online.sort();
  }

  /**
   * Removes the user from the index if their set is empty. A concurrent `add` can fill the set
   * at any moment: if it does so before our SREM, the re-check below puts the user back; if
   * after, `add`'s own second index write does.
   */
  async #unindexIfEmpty(gateway: string, bareJid: string, key: string): Promise<void> {
    if ((await this.redis.scard(key)) > 0) return;
    const index = this.keys.onlineUsers(gateway);
    await this.redis.srem(index, bareJid);
    if ((await this.redis.scard(key)) > 0) await this.redis.sadd(index, bareJid);
  }
}
