/**
 * The history of one conversation, as a Redis stream: recent messages for room history on join,
 * and XEP-0313 (MAM) queries with XEP-0059 paging, where the archive ids are the stream ids.
 *
 * Times: a stream id starts with the millisecond the entry was appended, so `since`/`start`/`end`
 * and the age cap compare against archive time. For live traffic that equals the message's own
 * `timestamp` to within the bridging delay; backfilled messages keep their original `timestamp`
 * in the entry but sort by when they were archived, so the order of the archive is always the
 * order in which Postern handled the messages.
 *
 * Caps: each append trims the stream to `maxEntries` (exactly, so the limit is a promise rather
 * than an estimate; with one entry trimmed per append this costs little) and drops entries older
 * than `maxAgeMs`, in the same transaction.
 */

import type { RedisClient } from "./redis.ts";

/** One archived message. */
export interface ArchivedMessage {
  /** The XMPP stanza id the message has (or had) on the XMPP side. */
  stanzaId: string;
  /** The legacy network's id, when it has one. */
  legacyId?: string;
  /** Nick (rooms) or contact id (direct chats) of the sender. */
  from: string;
  body: string;
  /** When the message was sent, in ms since the epoch (from the network when it says so). */
  timestamp: number;
  kind: "message" | "action" | "notice" | "subject";
}

/** An archived message with its archive id (the stream id, usable as a MAM/RSM id). */
export type ArchiveEntry = ArchivedMessage & { archiveId: string };

/** How much one archive keeps. */
export interface ArchiveLimits {
  maxEntries: number;
  maxAgeMs: number;
}

/** A MAM query: a time range, an RSM position and a page size. */
export interface ArchiveQuery {
  /** Only entries archived at or after this time. */
  start?: Date;
  /** Only entries archived at or before this time. */
  end?: Date;
  /** The page after this archive id (RSM `<after>`). */
  after?: string;
  /**
   * The page before this archive id (RSM `<before>`); the empty string asks for the last page
   * (an empty `<before/>`). With `before`, the page is the last `max` entries before it, and
   * `after` is ignored.
   */
  before?: string;
  /** Page size. */
  max: number;
}

/** One page of a query, in chronological order. */
export interface ArchivePage {
  items: ArchiveEntry[];
  /** True when no more entries lie in the paging direction (RSM/MAM `complete`). */
  complete: boolean;
}

/** Thrown for an archive id that is not a stream id (so the core can answer `item-not-found`). */
export class InvalidArchiveIdError extends Error {
  constructor() {
    super("not a valid archive id");
    this.name = "InvalidArchiveIdError";
  }
}

const KINDS: ReadonlySet<string> = new Set(["message", "action", "notice", "subject"]);
const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

/** The archive of one conversation (a user's own, or a room's shared one). */
export class Archive {
  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
    private readonly opts: ArchiveLimits,
  ) {}

  /** Appends a message and applies the caps; returns its archive id. */
  async append(entry: ArchivedMessage): Promise<string> {
    const fields: string[] = ["stanzaId", entry.stanzaId, "from", entry.from, "body", entry.body];
    fields.push("timestamp", String(entry.timestamp), "kind", entry.kind);
    if (entry.legacyId !== undefined) fields.push("legacyId", entry.legacyId);
    const oldest = Math.max(0, Date.now() - this.opts.maxAgeMs);
    // Two plain commands, not a transaction: they need not be atomic (a missed trim is done by
    // the next append), and plain commands share socket writes with every other user's through
    // auto-pipelining, which a MULTI/EXEC cannot (the bench showed the difference).
    const [id] = await Promise.all([
      this.redis.xadd(this.key, "MAXLEN", "=", this.opts.maxEntries, "*", ...fields),
      this.redis.xtrim(this.key, "MINID", "=", `${oldest}-0`),
    ]);
    return id as string;
  }

  /**
   * The latest `limit` entries (default 50), oldest first; optionally only those archived since
   * `since` and/or after the archive id `afterId`.
   */
  async recent(opts: { limit?: number; since?: Date; afterId?: string } = {}): Promise<ArchiveEntry[]> {
    let low = opts.since === undefined ? "-" : `${millis(opts.since)}-0`;
    if (opts.afterId !== undefined) low = higherOf(low, exclusive(checkId(opts.afterId)));
    const replies = await this.redis.xrevrange(this.key, "+", low, "COUNT", opts.limit ?? 50);
    return decodeAll(replies).reverse();
  }

  /** The entry archived under `archiveId`, or null when there is none (or the id is not a stream id). */
  async entry(archiveId: string): Promise<ArchiveEntry | null> {
    if (!STREAM_ID.test(archiveId)) return null;
    const [reply] = await this.redis.xrange(this.key, archiveId, archiveId);
    return reply ? decode(reply[0], reply[1]) : null;
  }

  /** One page of a MAM query (see ArchiveQuery). */
  async query(q: ArchiveQuery): Promise<ArchivePage> {
    const low = q.start === undefined ? "-" : `${millis(q.start)}-0`;
    const high = q.end === undefined ? "+" : `${millis(q.end)}-${MAX_SEQUENCE}`;
    if (q.before !== undefined) {
      const upper = q.before === "" ? high : lowerOf(high, exclusive(checkId(q.before)));
      const replies = await this.redis.xrevrange(this.key, upper, low, "COUNT", q.max + 1);
      const entries = decodeAll(replies);
      return { items: entries.slice(0, q.max).reverse(), complete: entries.length <= q.max };
    }
    const lower = q.after === undefined ? low : higherOf(low, exclusive(checkId(q.after)));
    const replies = await this.redis.xrange(this.key, lower, high, "COUNT", q.max + 1);
    const entries = decodeAll(replies);
    return { items: entries.slice(0, q.max), complete: entries.length <= q.max };
  }

  /** Whether an entry with this archive id is still in the archive. */
  async contains(archiveId: string): Promise<boolean> {
    const id = checkId(archiveId);
    return (await this.redis.xrange(this.key, id, id, "COUNT", 1)).length > 0;
  }

  /** Number of entries currently kept. */
  async size(): Promise<number> {
    return this.redis.xlen(this.key);
  }
}

/** The largest sequence number of a stream id (2^64 - 1). */
const MAX_SEQUENCE = "18446744073709551615";

/** A date as the time part of a stream id (which cannot be negative). */
function millis(date: Date): number {
  return Math.max(0, Math.floor(date.getTime()));
}

function checkId(id: string): string {
  if (!STREAM_ID.test(id)) throw new InvalidArchiveIdError();
  return id;
}

/** XRANGE bound excluding `id` itself (Redis ≥ 6.2). */
function exclusive(id: string): string {
  return `(${id}`;
}

/** Compares two complete stream ids, numerically by time then sequence. */
function compareIds(a: string, b: string): number {
  const [aTime = 0n, aSeq = 0n] = a.split("-").map(BigInt);
  const [bTime = 0n, bSeq = 0n] = b.split("-").map(BigInt);
  if (aTime !== bTime) return aTime < bTime ? -1 : 1;
  return aSeq === bSeq ? 0 : aSeq < bSeq ? -1 : 1;
}

/** The tighter of an inclusive-or-unbounded lower bound `a` ("-") and an exclusive one `b`. */
function higherOf(a: string, b: string): string {
  if (a === "-") return b;
  // On a tie the exclusive bound is the tighter one.
  return compareIds(a, b.slice(1)) > 0 ? a : b;
}

/** The tighter of an inclusive-or-unbounded upper bound `a` ("+") and an exclusive one `b`. */
function lowerOf(a: string, b: string): string {
  if (a === "+") return b;
  return compareIds(a, b.slice(1)) < 0 ? a : b;
}

type StreamReply = [id: string, fields: string[]][];

function decodeAll(replies: StreamReply): ArchiveEntry[] {
  return replies.map(([archiveId, flat]) => decode(archiveId, flat));
}

/** Rebuilds an entry from its stream fields (an unknown `kind` reads as a plain message). */
function decode(archiveId: string, flat: string[]): ArchiveEntry {
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!, flat[i + 1]!);
  const kind = fields.get("kind") ?? "message";
  const legacyId = fields.get("legacyId");
  return {
    archiveId,
    stanzaId: fields.get("stanzaId") ?? "",
    from: fields.get("from") ?? "",
    body: fields.get("body") ?? "",
    timestamp: Number(fields.get("timestamp") ?? 0),
    kind: KINDS.has(kind) ? (kind as ArchivedMessage["kind"]) : "message",
    ...(legacyId === undefined ? {} : { legacyId }),
  };
}
