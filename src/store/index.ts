/**
 * The store: everything Postern keeps in Redis, as typed repositories over one connection.
 * The core holds a Store; adapters only ever get StateNamespace handles from it.
 */
import { Cluster, type Redis } from "ioredis";
import { Archive, type ArchiveLimits } from "./archive.ts";
import { SecretBox } from "./crypto.ts";
import { Dedupe } from "./dedupe.ts";
import { DEFAULT_ID_MAP_TTL_SECONDS, IdMap } from "./id-map.ts";
import { Keys } from "./keys.ts";
import { StateNamespace } from "./kv.ts";
import { Locks } from "./lock.ts";
import { OnlineResources } from "./online.ts";
import { Outbox } from "./outbox.ts";
import { RateLimiter } from "./rate-limit.ts";
import type { RedisClient } from "./redis.ts";
import { RegistrationStore } from "./registrations.ts";

export type { ArchivedMessage, ArchiveEntry, ArchiveLimits, ArchivePage, ArchiveQuery } from "./archive.ts";
export { Archive, InvalidArchiveIdError } from "./archive.ts";
export { SecretBox } from "./crypto.ts";
export { Dedupe } from "./dedupe.ts";
export { IdMap } from "./id-map.ts";
export { type DedupeScope, Keys } from "./keys.ts";
export { StateNamespace, StateValidationError } from "./kv.ts";
export { Locks } from "./lock.ts";
export { OnlineResources } from "./online.ts";
export { Outbox, type OutboxEntry, OutboxFullError } from "./outbox.ts";
export { RateLimiter, type RateLimitResult } from "./rate-limit.ts";
export { createRedis, isRedisUnavailable, type RedisClient, type RedisConnectionOptions } from "./redis.ts";
export { type Registration, RegistrationStore } from "./registrations.ts";

/** Archive caps used when `Store.open` is given none: 1 000 entries, 30 days. */
export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = {
  maxEntries: 1_000,
  maxAgeMs: 30 * 24 * 60 * 60 * 1000,
};

/** Options of `Store.open`. */
export interface StoreOptions {
  /** The connection; the Store owns it from now on and closes it in `close()`. */
  redis: RedisClient;
  /** Key prefix, e.g. `postern:` (see keys.ts). */
  prefix: string;
  /** AES-256 key for secrets at rest: 64 hex characters or base64 of 32 bytes. */
  encryptionKey: string;
  /** Lifetime of id map entries; default 30 days. */
  idMapTtlSeconds?: number;
  /** Caps of every archive; default DEFAULT_ARCHIVE_LIMITS. */
  archiveLimits?: ArchiveLimits;
}

/** Every repository, wired to one connection and one key scheme. */
export class Store {
  readonly registrations: RegistrationStore;
  readonly online: OnlineResources;
  readonly idMap: IdMap;
  readonly dedupe: Dedupe;
  readonly rateLimit: RateLimiter;
  readonly lock: Locks;

  private constructor(
    private readonly redis: RedisClient,
    readonly keys: Keys,
    private readonly box: SecretBox,
    idMapTtlSeconds: number,
    private readonly archiveLimits: ArchiveLimits,
  ) {
    this.registrations = new RegistrationStore(redis, keys, box);
    this.online = new OnlineResources(redis, keys);
    this.idMap = new IdMap(redis, keys, idMapTtlSeconds);
    this.dedupe = new Dedupe(redis, keys);
    this.rateLimit = new RateLimiter(redis, keys);
    this.lock = new Locks(redis, keys);
  }

  /**
   * Checks the options (a bad prefix or encryption key throws before anything is written) and
   * that Redis answers (within the command timeout), then returns the store.
   */
  static async open(opts: StoreOptions): Promise<Store> {
    const keys = new Keys(opts.prefix);
    const box = SecretBox.fromKey(opts.encryptionKey);
    await opts.redis.ping();
    return new Store(
      opts.redis,
      keys,
      box,
      opts.idMapTtlSeconds ?? DEFAULT_ID_MAP_TTL_SECONDS,
      opts.archiveLimits ?? DEFAULT_ARCHIVE_LIMITS,
    );
  }

  /** The adapter's private state for one user at a gateway. */
  userState(gateway: string, bareJid: string): StateNamespace {
    return new StateNamespace(this.redis, this.keys.userState(gateway, bareJid), this.box);
  }

  /** The core's own state for one user at a gateway (rooms joined, persistence). */
  coreState(gateway: string, bareJid: string): StateNamespace {
    return new StateNamespace(this.redis, this.keys.coreState(gateway, bareJid), this.box);
  }

  /** The adapter's gateway-wide state (e.g. delivery cursors). */
  gatewayState(gateway: string): StateNamespace {
    return new StateNamespace(this.redis, this.keys.gatewayState(gateway), this.box);
  }

  /** Stanzas waiting for the gateway's XMPP link, at most `maxEntries`. */
  xmppOutbox(gateway: string, maxEntries: number): Outbox {
    return new Outbox(this.redis, this.keys.xmppOutbox(gateway), maxEntries);
  }

  /** Stanzas from the XMPP server not handled yet (see src/core/xmpp-inbox.ts). */
  xmppInbox(gateway: string, maxEntries: number): Outbox {
    return new Outbox(this.redis, this.keys.xmppInbox(gateway), maxEntries);
  }

  /** The core's gateway-wide state (portal room occupants). */
  coreGatewayState(gateway: string): StateNamespace {
    return new StateNamespace(this.redis, this.keys.coreGatewayState(gateway), this.box);
  }

  /** A user's own archive of a conversation (direct chats; rooms only that user sees). */
  userArchive(gateway: string, bareJid: string, conversation: string): Archive {
    return new Archive(this.redis, this.keys.userArchive(gateway, bareJid, conversation), this.archiveLimits);
  }

  /** The shared archive of a public room, the same for all users. */
  sharedArchive(gateway: string, conversation: string): Archive {
    return new Archive(this.redis, this.keys.sharedArchive(gateway, conversation), this.archiveLimits);
  }

  /**
   * Calls `listener` each time the connection to Redis becomes ready again after having been
   * ready before: a Redis restart, a failover to another server (Sentinel), a dropped link. The
   * caller cannot tell these apart, and any of them may mean the data lost recent writes (a
   * restart from a stale AOF/RDB file, a replica that lagged), so each one is worth a check.
   * On a Cluster, a reconnect of any one node counts too (its slots may have been restored).
   * Returns a function that stops the calls.
   */
  onReconnect(listener: () => void): () => void {
    const stops: (() => void)[] = [];
    const watch = (emitter: RedisClient, readyBefore: boolean) => {
      // A connection's first "ready" is its start, unless it replaces one that was ready before.
      let wasReady = readyBefore || emitter.status === "ready";
      const onReady = () => {
        if (wasReady) listener();
        wasReady = true;
      };
      emitter.on("ready", onReady);
      stops.push(() => emitter.off("ready", onReady));
    };
    watch(this.redis, false);
    const cluster = this.redis;
    if (cluster instanceof Cluster) {
      // A Cluster drops the connection to a node that goes away and makes a new one when the
      // node is back: a new connection to a node seen before is a reconnect.
      const seen = new Set<string>();
      const keyOf = (node: Redis) => `${node.options.host}:${node.options.port}`;
      for (const node of cluster.nodes()) {
        seen.add(keyOf(node));
        watch(node, false);
      }
      const onNode = (node: Redis) => {
        const key = keyOf(node);
        watch(node, seen.has(key));
        seen.add(key);
      };
      cluster.on("+node", onNode);
      stops.push(() => cluster.off("+node", onNode));
    }
    return () => {
      for (const stop of stops) stop();
    };
  }

  /** Whether Redis answers right now (for /health). */
  async ping(): Promise<boolean> {
    try {
      return (await this.redis.ping()) === "PONG";
    } catch {
      return false;
    }
  }

  /** Closes the connection after pending commands finish (QUIT). */
  async close(): Promise<void> {
    await this.redis.quit();
  }
}
