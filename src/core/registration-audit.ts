/**
 * After Redis comes back (restart, failover, dropped link), every open session is checked against
 * the registration Redis holds now, and made to agree with it (`UserDirectory.verifyRegistration`).
 *
 * Why: Redis restarted from a stale AOF/RDB file, or a replica promoted before it caught up, has
 * lost the writes of the last seconds or minutes: registrations made since are gone, and a nick
 * may now be bound to another JID. The sessions in memory would go on acting for the lost
 * registration, with their network connection, as an identity Redis gives to someone else
 * (RELIABILITY.md R4 found two).
 *
 * Why on every reconnect rather than only when a marker says data was lost: to the client a
 * restore from a stale file looks exactly like a plain restart, and a Sentinel failover to a
 * lagging replica like a dropped link; a marker would need writing and reading on every path and
 * could itself be restored stale. The check is cheap instead: one read per open session, at most
 * CONCURRENCY at a time, which the connection pipelines (1 000 sessions take about 0.1 s), and a
 * reconnect is rare.
 *
 * A read that fails means "unknown", never "lost" (R3: Redis may go away again mid-check): those
 * users are checked again later, with backoff, and a new reconnect starts a full pass anyway. A
 * pass asked for while one runs runs once more after it.
 */
import type { Logger } from "pino";
import { forEachConcurrently, type RegistrationCheck, type UserDirectory } from "./users.ts";

/** Open sessions checked at the same time. */
const CONCURRENCY = 50;
/** Delay before re-checking users whose read failed: doubling from 2 s to at most 60 s. */
const RETRY_FIRST_MS = 2_000;
const RETRY_MAX_MS = 60_000;
/** Retries after one reconnect (about 8 minutes in all); the next reconnect starts afresh. */
const MAX_RETRIES = 12;

export class RegistrationAudit {
  /** The pass under way, if any. */
  private running: Promise<void> | null = null;
  /** Users to check once the running pass ends; null = everybody. */
  private next: Set<string> | null | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retries = 0;
  private stopped = false;

  constructor(
    private readonly opts: {
      users: UserDirectory;
      /** Runs `task` in the user's own queue, where their registration is handled. */
      serialize: (bareJid: string, task: () => Promise<RegistrationCheck>) => Promise<RegistrationCheck>;
      log: Logger;
    },
  ) {}

  /** Checks every open session: now, or right after the pass under way. */
  checkAll(): void {
    this.retries = 0;
    clearTimeout(this.retryTimer);
    this.schedule(null);
  }

  /** Resolves once no pass is running or waiting to run (retries after a delay excepted). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** No further passes (shutdown); the one under way finishes. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
  }

  private schedule(users: Set<string> | null): void {
    if (this.stopped) return;
    if (this.running) {
      // Everybody wins over some; some are added to some.
      if (users === null || this.next === null) this.next = null;
      else this.next = new Set([...(this.next ?? []), ...users]);
      return;
    }
    this.running = this.pass(users).finally(() => {
      this.running = null;
      const next = this.next;
      this.next = undefined;
      if (next !== undefined) this.schedule(next);
    });
  }

  private async pass(only: Set<string> | null): Promise<void> {
    const { users, serialize, log } = this.opts;
    const started = Date.now();
    const sessions = users
      .all()
      .map((u) => u.user)
      .filter((u) => only === null || only.has(u));
    const counts: Record<RegistrationCheck | "unknown", number> = {
      "no-session": 0,
      intact: 0,
      lost: 0,
      changed: 0,
      unknown: 0,
    };
    const unknown = new Set<string>();
    await forEachConcurrently(sessions, CONCURRENCY, async (user) => {
      try {
        const found = await serialize(user, () => users.verifyRegistration(user));
        counts[found] += 1;
        if (found === "lost" || found === "changed")
          log.warn({ user, found }, "open session did not match its registration in Redis");
      } catch (err) {
        counts.unknown += 1;
        unknown.add(user);
        log.warn({ user, err: String(err) }, "could not check the session's registration; will retry");
      }
    });
    log.info({ ...counts, ms: Date.now() - started }, "open sessions checked against Redis");
    if (unknown.size === 0 || this.stopped) return;
    if (this.retries >= MAX_RETRIES) {
      log.error({ users: unknown.size }, "gave up checking sessions against Redis until its next reconnect");
      return;
    }
    const delay = Math.min(RETRY_FIRST_MS * 2 ** this.retries, RETRY_MAX_MS);
    this.retries += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.schedule(unknown), delay);
    this.retryTimer.unref();
  }
}
