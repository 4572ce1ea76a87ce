/**
 * A consistency checker over the Redis keys Postern writes for one gateway (the layout of
 * src/store/keys.ts), for the fault rows (R4: Redis restarted from a stale snapshot; R12: key
 * count of a soak) and for tests. It reads only (SCAN, TYPE-free commands), so it can run against
 * a live Postern.
 *
 * What it checks, and why each is a defect:
 * - every per-user key belongs to a registered user (a registration hash with its createdAt):
 *   a key of nobody without a TTL stays for ever (an orphan); with a TTL it only lingers;
 * - the user index (`users`) and the registrations agree: a registration missing from the index
 *   is never restored after a restart (the reverse, an index entry without a registration, is the
 *   superset registrations.ts tolerates, and is reported as such);
 * - identity claims (`claim:<identity>` → bare JID) and each user's `claims` set agree both ways;
 *   a claim held by a JID without a registration blocks that identity for every other user;
 * - with `identityOf` (the adapter's rule from registration values to the identity it binds):
 *   the identity a registration names is claimed by that JID, not by another one (two JIDs would
 *   act as one network identity) and not by nobody; and a JID holds no claim its registration
 *   no longer names (a stale claim keeps others from an identity nobody uses);
 * - with `liveSessions` (what the running Postern has open): every open session has a
 *   registration, and its identity is bound to its JID in Redis;
 * - the online index is a superset of the users with online resources (otherwise a restart does
 *   not bring them back).
 */
import type { Redis } from "ioredis";
import { encodeSegment, SCHEMA_VERSION } from "../../src/store/keys.ts";
import { scanKeys } from "../../src/store/scan.ts";

export interface ConsistencyOptions {
  redis: Redis;
  /** Postern's `redis.keyPrefix`, e.g. `postern:`. */
  prefix: string;
  /** The gateway's domain. */
  gateway: string;
  /**
   * The identity a registration binds, computed from its plain (not sealed) values the way the
   * adapter's `validate` does; undefined when it binds none. Without it, registration ↔ claim
   * checks are skipped.
   */
  identityOf?: (values: Record<string, string>) => string | undefined;
  /** Sessions the running Postern has open: the user and the identity their session acts as. */
  liveSessions?: { bareJid: string; identity: string | undefined }[];
}

/** One finding: which key or user, and what is wrong with it. */
export interface Finding {
  subject: string;
  detail: string;
}

export interface ConsistencyReport {
  /** Keys under the prefix, by kind (`user:reg`, `gateway:claim`, `rate`, …). */
  keysByKind: Record<string, number>;
  totalKeys: number;
  /** Keys without a TTL. */
  keysWithoutTtl: number;
  registeredUsers: number;
  /** Per-user keys of a user with no registration, without a TTL: they stay for ever. */
  orphanKeys: Finding[];
  /** Per-user keys of a user with no registration that expire by themselves. */
  expiringOrphanKeys: number;
  /** Registration hashes without `meta:createdAt` (`load` treats them as absent). */
  partialRegistrations: Finding[];
  /** Registrations the user index does not list (not restored after a restart). */
  registrationsNotIndexed: Finding[];
  /** Index entries with no registration (the tolerated superset; `remove` clears them). */
  indexedWithoutRegistration: Finding[];
  /** Claims whose owner has no registration. */
  claimsOfUnregistered: Finding[];
  /** Claims whose owner's claims set does not list them (`remove` would not release them). */
  claimsNotInOwnerSet: Finding[];
  /** Claims-set entries whose claim is missing or held by another JID. */
  claimSetEntriesNotHeld: Finding[];
  /** Identities listed in the claims sets of two or more JIDs. */
  identitiesInSeveralSets: Finding[];
  /** Registrations whose identity is claimed by another JID: the binding points at the wrong JID. */
  identityHeldByAnother: Finding[];
  /** Registrations whose identity nobody claims (another JID could claim it and act as it too). */
  identityUnclaimed: Finding[];
  /** Claims a registered JID holds that its registration does not name. */
  staleClaims: Finding[];
  /** Open sessions without a registration in Redis. */
  liveWithoutRegistration: Finding[];
  /** Open sessions whose identity Redis binds to another JID or to nobody. */
  liveIdentityNotTheirs: Finding[];
  /** Users with online resources that the online index does not list. */
  onlineNotIndexed: Finding[];
  /** Keys under the prefix that match no pattern of keys.ts. */
  unknownKeys: Finding[];
}

/** Names of the checks that find defects (the tolerated superset and expiring keys are not among them). */
export const DEFECT_CHECKS = [
  "orphanKeys",
  "partialRegistrations",
  "registrationsNotIndexed",
  "claimsOfUnregistered",
  "claimsNotInOwnerSet",
  "claimSetEntriesNotHeld",
  "identitiesInSeveralSets",
  "identityHeldByAnother",
  "identityUnclaimed",
  "staleClaims",
  "liveWithoutRegistration",
  "liveIdentityNotTheirs",
  "onlineNotIndexed",
  "unknownKeys",
] as const satisfies readonly (keyof ConsistencyReport)[];

export type DefectCheck = (typeof DEFECT_CHECKS)[number];

/** The number of defects per check, and in all. */
export function defectCounts(report: ConsistencyReport): { total: number } & Record<DefectCheck, number> {
  const counts = { total: 0 } as { total: number } & Record<DefectCheck, number>;
  for (const check of DEFECT_CHECKS) {
    counts[check] = report[check].length;
    counts.total += report[check].length;
  }
  return counts;
}

/** A one-line summary of the defects found, e.g. "0" or "3 (orphanKeys 2, staleClaims 1)". */
export function describeDefects(report: ConsistencyReport): string {
  const counts = defectCounts(report);
  if (counts.total === 0) return "0";
  const parts = DEFECT_CHECKS.filter((c) => counts[c] > 0).map((c) => `${c} ${counts[c]}`);
  return `${counts.total} (${parts.join(", ")})`;
}

interface UserKey {
  key: string;
  /** The encoded bare JID of the hash tag. */
  user: string;
  kind: string;
}

const PLAIN_FIELD = "v:";
const CREATED_AT = "meta:createdAt";

/** Reads every key of the gateway and checks them (see the module comment). */
export async function checkConsistency(opts: ConsistencyOptions): Promise<ConsistencyReport> {
  const { redis, prefix, gateway } = opts;
  const base = `${prefix}${SCHEMA_VERSION}:`;
  const gw = encodeSegment(gateway);
  const gwTag = `${base}{g:${gw}}:`;
  const userKeyPattern = /^\{u:([^}]*)\}:([^:]*):([^:]*)/;

  const all = await scanKeys(redis, `${base}*`);
  const ttls = await pipelined(redis, all, (p, k) => p.pttl(k));
  const report: ConsistencyReport = {
    keysByKind: {},
    totalKeys: all.length,
    keysWithoutTtl: ttls.filter((t) => Number(t) === -1).length,
    registeredUsers: 0,
    orphanKeys: [],
    expiringOrphanKeys: 0,
    partialRegistrations: [],
    registrationsNotIndexed: [],
    indexedWithoutRegistration: [],
    claimsOfUnregistered: [],
    claimsNotInOwnerSet: [],
    claimSetEntriesNotHeld: [],
    identitiesInSeveralSets: [],
    identityHeldByAnother: [],
    identityUnclaimed: [],
    staleClaims: [],
    liveWithoutRegistration: [],
    liveIdentityNotTheirs: [],
    onlineNotIndexed: [],
    unknownKeys: [],
  };
  const count = (kind: string) => {
    report.keysByKind[kind] = (report.keysByKind[kind] ?? 0) + 1;
  };

  const userKeys: UserKey[] = [];
  const ttlOf = new Map<string, number>();
  /** Encoded identity → claim key. */
  const claimKeys = new Map<string, string>();
  all.forEach((key, i) => {
    ttlOf.set(key, Number(ttls[i]));
    const rest = key.slice(base.length);
    const user = userKeyPattern.exec(rest);
    if (user) {
      // Another gateway's keys are none of this check's business.
      if (user[2] !== gw) return;
      count(`user:${user[3]}`);
      userKeys.push({ key, user: user[1] ?? "", kind: user[3] ?? "" });
      return;
    }
    if (key.startsWith(gwTag)) {
      const kind = key.slice(gwTag.length).split(":")[0] ?? "";
      count(`gateway:${kind}`);
      if (kind === "claim") claimKeys.set(key.slice(`${gwTag}claim:`.length), key);
      else if (
        !["users", "online-users", "state", "core", "outbox", "inbox", "archive", "dedupe"].includes(kind)
      )
        report.unknownKeys.push({ subject: key, detail: "gateway key of no known kind" });
      return;
    }
    if (rest.startsWith("{g:")) return; // another gateway
    const global = rest.split(":")[0] ?? "";
    if (global === "rate" || global === "lock") {
      count(global);
      return;
    }
    count("unknown");
    report.unknownKeys.push({ subject: key, detail: "matches no pattern of keys.ts" });
  });

  // --- registrations and the user index --------------------------------------------------------
  const regKeys = userKeys.filter((k) => k.kind === "reg");
  const regHashes = await pipelined(redis, regKeys, (p, k) => p.hgetall(k.key));
  /** Encoded bare JID → plain registration values (complete registrations only). */
  const registered = new Map<string, Record<string, string>>();
  regKeys.forEach((k, i) => {
    const hash = (regHashes[i] ?? {}) as Record<string, string>;
    if (hash[CREATED_AT] === undefined) {
      report.partialRegistrations.push({
        subject: decode(k.user),
        detail: "registration hash without createdAt",
      });
      return;
    }
    const values: Record<string, string> = {};
    for (const [field, value] of Object.entries(hash))
      if (field.startsWith(PLAIN_FIELD)) values[field.slice(PLAIN_FIELD.length)] = value;
    registered.set(k.user, values);
  });
  report.registeredUsers = registered.size;
  const indexed = new Set((await redis.smembers(`${gwTag}users`)).map(encodeSegment));
  for (const user of registered.keys())
    if (!indexed.has(user))
      report.registrationsNotIndexed.push({
        subject: decode(user),
        detail: "registered, not in the user index",
      });
  for (const user of indexed)
    if (!registered.has(user))
      report.indexedWithoutRegistration.push({
        subject: decode(user),
        detail: "in the user index, not registered",
      });

  // --- keys of nobody --------------------------------------------------------------------------
  for (const k of userKeys) {
    if (registered.has(k.user)) continue;
    if ((ttlOf.get(k.key) ?? -1) >= 0) report.expiringOrphanKeys += 1;
    else
      report.orphanKeys.push({
        subject: k.key,
        detail: `${k.kind} key of ${decode(k.user)}, who is not registered`,
      });
  }

  // --- claims, both ways -----------------------------------------------------------------------
  const claimIdentities = [...claimKeys.keys()];
  const owners = await pipelined(redis, claimIdentities, (p, id) => p.get(claimKeys.get(id) ?? ""));
  /** Encoded identity → encoded owner JID. */
  const ownerOf = new Map<string, string>();
  claimIdentities.forEach((id, i) => {
    const owner = owners[i];
    if (typeof owner === "string") ownerOf.set(id, encodeSegment(owner));
  });
  const setKeys = userKeys.filter((k) => k.kind === "claims");
  const setMembers = await pipelined(redis, setKeys, (p, k) => p.smembers(k.key));
  /** Encoded identity → encoded JIDs whose claims set lists it. */
  const listedBy = new Map<string, string[]>();
  /** Encoded JID → encoded identities in their claims set. */
  const setOf = new Map<string, Set<string>>();
  setKeys.forEach((k, i) => {
    const members = ((setMembers[i] ?? []) as string[]).map(encodeSegment);
    setOf.set(k.user, new Set(members));
    for (const id of members) listedBy.set(id, [...(listedBy.get(id) ?? []), k.user]);
  });
  for (const [id, owner] of ownerOf) {
    if (!registered.has(owner))
      report.claimsOfUnregistered.push({
        subject: decode(id),
        detail: `held by ${decode(owner)}, who is not registered`,
      });
    if (!setOf.get(owner)?.has(id))
      report.claimsNotInOwnerSet.push({
        subject: decode(id),
        detail: `held by ${decode(owner)}, not in their claims set`,
      });
  }
  for (const [user, ids] of setOf)
    for (const id of ids) {
      const owner = ownerOf.get(id);
      if (owner !== user)
        report.claimSetEntriesNotHeld.push({
          subject: decode(id),
          detail: `in ${decode(user)}'s claims set, ${owner === undefined ? "claimed by nobody" : `claimed by ${decode(owner)}`}`,
        });
    }
  for (const [id, users] of listedBy)
    if (users.length > 1)
      report.identitiesInSeveralSets.push({
        subject: decode(id),
        detail: `listed by ${users.map(decode).join(", ")}`,
      });

  // --- registration ↔ claim (needs the adapter's rule) ------------------------------------------
  if (opts.identityOf) {
    const named = new Map<string, string>(); // encoded JID → encoded identity its registration names
    for (const [user, values] of registered) {
      const identity = opts.identityOf(values);
      if (identity === undefined) continue;
      const id = encodeSegment(identity);
      named.set(user, id);
      const owner = ownerOf.get(id);
      if (owner === undefined)
        report.identityUnclaimed.push({
          subject: decode(user),
          detail: `registered as ${identity}, which nobody claims`,
        });
      else if (owner !== user)
        report.identityHeldByAnother.push({
          subject: decode(user),
          detail: `registered as ${identity}, which ${decode(owner)} holds`,
        });
    }
    for (const [id, owner] of ownerOf)
      if (registered.has(owner) && named.get(owner) !== id)
        report.staleClaims.push({
          subject: decode(id),
          detail: `held by ${decode(owner)}, whose registration names ${named.has(owner) ? decode(named.get(owner) ?? "") : "no identity"}`,
        });
  }

  // --- what the running Postern has open --------------------------------------------------------
  for (const live of opts.liveSessions ?? []) {
    const user = encodeSegment(live.bareJid);
    if (!registered.has(user))
      report.liveWithoutRegistration.push({
        subject: live.bareJid,
        detail: "session open, no registration in Redis",
      });
    if (live.identity === undefined) continue;
    const owner = ownerOf.get(encodeSegment(live.identity));
    if (owner !== user)
      report.liveIdentityNotTheirs.push({
        subject: live.bareJid,
        detail: `acts as ${live.identity}, which Redis binds to ${owner === undefined ? "nobody" : decode(owner)}`,
      });
  }

  // --- online index ----------------------------------------------------------------------------
  const onlineIndex = new Set((await redis.smembers(`${gwTag}online-users`)).map(encodeSegment));
  const onlineSets = userKeys.filter((k) => k.kind === "online");
  const sizes = await pipelined(redis, onlineSets, (p, k) => p.scard(k.key));
  onlineSets.forEach((k, i) => {
    if (Number(sizes[i]) > 0 && !onlineIndex.has(k.user))
      report.onlineNotIndexed.push({
        subject: decode(k.user),
        detail: "has online resources, not in the online index",
      });
  });
  return report;
}

type Pipeline = ReturnType<Redis["pipeline"]>;

/** Runs one command per item in pipelines of 500; resolves with the replies (errors as null). */
async function pipelined<T>(
  redis: Redis,
  items: readonly T[],
  add: (p: Pipeline, item: T) => void,
): Promise<unknown[]> {
  const replies: unknown[] = [];
  for (let i = 0; i < items.length; i += 500) {
    const p = redis.pipeline();
    for (const item of items.slice(i, i + 500)) add(p, item);
    for (const [err, reply] of (await p.exec()) ?? []) replies.push(err ? null : reply);
  }
  return replies;
}

/** An encoded key segment back to text, for reports (the encoding is percent-encoding of UTF-8). */
function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The findings of the defect checks, for a report's notes (at most `max` per check). */
export function listDefects(report: ConsistencyReport, max = 5): string[] {
  const lines: string[] = [];
  for (const check of DEFECT_CHECKS) {
    const found = report[check];
    if (found.length === 0) continue;
    const shown = found.slice(0, max).map((f) => `${f.subject}: ${f.detail}`);
    lines.push(`${check} (${found.length}): ${shown.join("; ")}${found.length > max ? "; …" : ""}`);
  }
  return lines;
}
