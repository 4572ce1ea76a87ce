/**
 * Registrations: what an XMPP user gave a gateway to reach their legacy account (IRC nick and
 * password, Telegram bot token, …), and which legacy identities they own.
 *
 * Storage: one hash per (user, gateway). Field names say how a value is stored, so reading needs
 * no knowledge of the adapter's form: `v:<name>` plain, `s:<name>` sealed with SecretBox (bound to
 * user, gateway and field), `meta:createdAt` / `meta:updatedAt` in ms since the epoch.
 *
 * The per-gateway user list lives under the gateway's hash tag, so on a Cluster it cannot change
 * in the same transaction as the user's keys. It is kept a superset instead: a user is listed
 * before their registration is written and unlisted only after everything of theirs is deleted.
 * A crash in between leaves a listed user whose `load` is null; `remove` finishes the job.
 *
 * Identity claims ("IRC account x / Telegram user 123 at this gateway belongs to alice@…") are
 * gateway-wide keys, set only if free, so two JIDs can never be bound to one identity. The user
 * also records each claim in a set of their own, written before the claim, so `remove` can always
 * find and release every claim.
 */
import type { SecretBox } from "./crypto.ts";
import type { Keys } from "./keys.ts";
import type { RedisClient } from "./redis.ts";
import { scanKeys } from "./scan.ts";

/** A stored registration. */
export interface Registration {
  /** The adapter-declared values, secret ones already decrypted. */
  values: Record<string, string>;
  /** ms since the epoch. */
  createdAt: number;
  updatedAt: number;
}

const PLAIN = "v:";
const SEALED = "s:";
const CREATED_AT = "meta:createdAt";
const UPDATED_AT = "meta:updatedAt";

// KEYS[1] registration hash; ARGV[1] now (ms); ARGV[2..] field/value pairs. Replaces all values
// at once (a field left out of a new form must not survive) and keeps the first createdAt.
const SAVE = `
local created = redis.call('HGET', KEYS[1], '${CREATED_AT}') or ARGV[1]
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], '${CREATED_AT}', created, '${UPDATED_AT}', ARGV[1], unpack(ARGV, 2))
return 1
`;

// KEYS[1] claim; ARGV[1] bare JID. Set if free; succeeds again for the JID that holds it.
const CLAIM = `
local owner = redis.call('GET', KEYS[1])
if owner == false then
  redis.call('SET', KEYS[1], ARGV[1])
  return 1
end
if owner == ARGV[1] then return 1 end
return 0
`;

// KEYS[1] claim; ARGV[1] bare JID. Deletes the claim only if that JID holds it.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** Registrations and identity claims, per user and gateway. */
export class RegistrationStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly box: SecretBox,
  ) {}

  /**
   * Stores (or replaces) the user's registration. Fields named in `secretFields` are encrypted;
   * all others are stored as they are. Idempotent.
   */
  async save(
    gateway: string,
    bareJid: string,
    values: Record<string, string>,
    secretFields: readonly string[],
  ): Promise<void> {
    const secret = new Set(secretFields);
    const pairs: string[] = [];
    for (const [field, value] of Object.entries(values)) {
      if (secret.has(field))
        pairs.push(SEALED + field, this.box.seal(value, sealContext(gateway, bareJid, field)));
      else pairs.push(PLAIN + field, value);
    }
    await this.redis.sadd(this.keys.registeredUsers(gateway), bareJid);
    await this.redis.eval(SAVE, 1, this.keys.registration(gateway, bareJid), Date.now(), ...pairs);
  }

  /** The user's registration, or null if they are not registered. Throws if a secret cannot be opened. */
  async load(gateway: string, bareJid: string): Promise<Registration | null> {
    const hash = await this.redis.hgetall(this.keys.registration(gateway, bareJid));
    if (hash[CREATED_AT] === undefined) return null;
    const values: Record<string, string> = {};
    for (const [name, stored] of Object.entries(hash)) {
      if (name.startsWith(PLAIN)) {
        values[name.slice(PLAIN.length)] = stored;
      } else if (name.startsWith(SEALED)) {
        const field = name.slice(SEALED.length);
        values[field] = this.box.open(stored, sealContext(gateway, bareJid, field));
      }
    }
    return {
      values,
      createdAt: Number(hash[CREATED_AT]),
      updatedAt: Number(hash[UPDATED_AT] ?? hash[CREATED_AT]),
    };
  }

  /** Whether the user has a registration at the gateway. */
  async isRegistered(gateway: string, bareJid: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.registration(gateway, bareJid))) === 1;
  }

  /**
   * Deletes everything of the user at the gateway: registration, adapter state, id maps,
   * archives, online resources, dedupe marks and identity claims. Idempotent, and safe to call
   * again after a crash half-way (also for a listed user whose `load` is null). Close the user's
   * session first, or it may write new keys behind this sweep.
   */
  async remove(gateway: string, bareJid: string): Promise<void> {
    const claimsKey = this.keys.userClaims(gateway, bareJid);
    // First the registration, so the user stops counting as registered at once.
    await this.redis.del(this.keys.registration(gateway, bareJid));
    // The claims set goes last: until every claim is released it is the only record of them.
    const rest = (await scanKeys(this.redis, this.keys.userPattern(gateway, bareJid))).filter(
      (k) => k !== claimsKey,
    );
    // All of them share the user's hash tag, so one UNLINK per batch is fine on a Cluster too.
    for (let i = 0; i < rest.length; i += 500) await this.redis.unlink(...rest.slice(i, i + 500));
    for (const identity of await this.redis.smembers(claimsKey)) {
      await this.redis.eval(RELEASE, 1, this.keys.identityClaim(gateway, identity), bareJid);
    }
    await this.redis.del(claimsKey);
    await this.redis.srem(this.keys.onlineUsers(gateway), bareJid);
    await this.redis.srem(this.keys.registeredUsers(gateway), bareJid);
  }

  /** Bare JIDs registered at the gateway, sorted (may include one whose save or remove was interrupted). */
  async listUsers(gateway: string): Promise<string[]> {
    return (await this.redis.smembers(this.keys.registeredUsers(gateway))).sort();
  }

  /**
   * Binds a legacy identity (e.g. `account:alice` on an IRC network, a Telegram user id) to
   * `bareJid`. "conflict" if another JID holds it; "ok" if it was free or already theirs.
   */
  async claimIdentity(gateway: string, identity: string, bareJid: string): Promise<"ok" | "conflict"> {
    const claimsKey = this.keys.userClaims(gateway, bareJid);
    // Recorded before the claim itself, so that a crash cannot leave a claim `remove` won't find.
    await this.redis.sadd(claimsKey, identity);
    const claimed = await this.redis.eval(CLAIM, 1, this.keys.identityClaim(gateway, identity), bareJid);
    if (claimed === 1) return "ok";
    await this.redis.srem(claimsKey, identity);
    return "conflict";
  }

  /** Gives up an identity `bareJid` holds (e.g. after a nick or account change); false if not theirs. */
  async releaseIdentity(gateway: string, identity: string, bareJid: string): Promise<boolean> {
    const released = await this.redis.eval(RELEASE, 1, this.keys.identityClaim(gateway, identity), bareJid);
    await this.redis.srem(this.keys.userClaims(gateway, bareJid), identity);
    return released === 1;
  }

  /**
   * Releases every identity `bareJid` holds at the gateway other than `keep` (the one their
   * current registration binds, if any), so that an identity they changed away from is free for
   * others again. Call it after `save`: should it not run, the old claim merely lingers, whereas
   * releasing before the save could free an identity the stored registration still uses.
   * Resolves with the identities released.
   */
  async releaseIdentitiesExcept(
    gateway: string,
    bareJid: string,
    keep: string | undefined,
  ): Promise<string[]> {
    const released: string[] = [];
    for (const identity of await this.redis.smembers(this.keys.userClaims(gateway, bareJid))) {
      if (identity === keep) continue;
      await this.releaseIdentity(gateway, identity, bareJid);
      released.push(identity);
    }
    return released;
  }

  /** The bare JID holding an identity, or null. */
  async identityOwner(gateway: string, identity: string): Promise<string | null> {
    return this.redis.get(this.keys.identityClaim(gateway, identity));
  }
}

/** Associated data binding a sealed value to its place; JSON so that no two places share one. */
function sealContext(gateway: string, bareJid: string, field: string): string {
  return JSON.stringify(["registration", gateway, bareJid, field]);
}
