/**
 * The getUpdates loop of one bot.
 *
 * Delivery rule: the offset (the id after the last update handled) is stored in the user's state
 * after each update's events were all delivered (`handle` resolved, i.e. the stanzas were written
 * to the XMPP connection), never before. Telegram forgets updates only when a later getUpdates
 * names a higher offset, so a crash at any point loses nothing: the next poller starts from the
 * stored offset, Telegram hands the rest again, and updates below the stored offset are skipped
 * (update ids only grow per bot, so the offset is the dedupe record). The one window for a
 * duplicate is between a delivery and its offset write — one update per crash, and the core's
 * stanza ids are derived from the Telegram ids, so a client keeping ids can still recognise it.
 *
 * Only the holder of the bot's lease polls (lease.ts). Failures:
 * - 401: the token was revoked → `failed` with the reason, and the loop ends (no crash loop).
 * - 409: another program polls this bot (or a webhook is set) → `reconnecting` with the reason,
 *   then retries with a growing pause.
 * - network/5xx (after the client's retries): `reconnecting`, retry with backoff.
 * - `handle` fails (the XMPP link is down): retry the same update with backoff. If it keeps
 *   failing while a plain notice gets through, the update itself is at fault: it is skipped and
 *   the user is told, so one bad update cannot hold up everything behind it.
 */
import type { Logger, SessionStateName } from "../../src/adapter/index.ts";
import { type BotClient, type T, TelegramFailure } from "./client.ts";
import type { PollLease } from "./lease.ts";
import { sleep } from "./pacing.ts";

/** The update kinds the gateway asks for (message_reaction is off unless asked for). */
export const ALLOWED_UPDATES = [
  "message",
  "edited_message",
  "message_reaction",
  "my_chat_member",
  "business_connection",
  "business_message",
  "edited_business_message",
  "deleted_business_messages",
];

/** Delivery attempts of one update before checking whether the update itself is the problem. */
const POISON_AFTER = 8;

export interface PollerDeps {
  client: BotClient;
  lease: PollLease;
  /** Where the offset lives (the user's state). */
  readOffset(): Promise<number | undefined>;
  writeOffset(offset: number): Promise<void>;
  timeoutSeconds: number;
  /** Lease renewal period and the pause before trying to take a lease someone else holds. */
  leaseCheckMs: number;
  handle(update: T.Update): Promise<void>;
  /** Reports the connection state; must not throw. */
  setState(state: SessionStateName, reason?: string): Promise<void>;
  /** Tells the user an update was skipped; rejects if that could not be delivered either. */
  reportSkipped(update: T.Update, reason: string): Promise<void>;
  log: Logger;
}

export class UpdatePoller {
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private state: SessionStateName = "connecting";

  constructor(private readonly deps: PollerDeps) {}

  start(): void {
    this.loop ??= this.run().catch((err: unknown) =>
      this.deps.log.error({ err: String(err) }, "telegram poller stopped unexpectedly"),
    );
    this.renewTimer = setInterval(() => {
      if (this.abort.signal.aborted) return;
      this.deps.lease.hold().catch(() => undefined);
    }, this.deps.leaseCheckMs);
    this.renewTimer.unref();
  }

  /** Stops polling and waits for the loop to end (an update being delivered is finished first). */
  async stop(): Promise<void> {
    this.abort.abort(new Error("poller stopped"));
    if (this.renewTimer) clearInterval(this.renewTimer);
    await this.loop;
    await this.deps.lease.release().catch(() => undefined);
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    const { deps } = this;
    let failures = 0;
    // The first poll after a start or a failure asks for an immediate answer, so "online" is
    // reported as soon as Telegram answers rather than after a long poll that found nothing.
    let quick = true;
    while (!this.stopped) {
      let held = false;
      try {
        held = deps.lease.valid || (await deps.lease.hold());
      } catch (err) {
        deps.log.warn({ err: String(err) }, "cannot reach the state store for the poll lease");
      }
      if (!held) {
        await this.pause(deps.leaseCheckMs);
        continue;
      }
      let offset: number | undefined;
      let updates: T.Update[];
      try {
        offset = await deps.readOffset();
        updates = await deps.client.getUpdates(
          {
            ...(offset !== undefined ? { offset } : {}),
            timeout: quick ? 0 : deps.timeoutSeconds,
            allowed_updates: ALLOWED_UPDATES,
          },
          this.abort.signal,
        );
      } catch (err) {
        if (this.stopped) return;
        failures += 1;
        quick = true;
        if (err instanceof TelegramFailure && err.code === 401) {
          await this.report(
            "failed",
            "Telegram does not accept the bot token any more (revoked or wrong). Create a new token with @BotFather (/token) and register again.",
          );
          return;
        }
        if (err instanceof TelegramFailure && err.code === 409) {
          const webhook = /webhook/i.test(err.description);
          await this.report(
            "reconnecting",
            webhook
              ? "the bot has a webhook set, so it cannot be polled; remove the webhook or give the gateway a bot of its own"
              : "another program is reading this bot's updates; a bot can be used by one program only",
          );
        } else {
          await this.report("reconnecting", "Telegram cannot be reached; retrying");
        }
        await this.pause(Math.min(60_000, 1000 * 2 ** Math.min(failures, 6)) * (0.5 + Math.random() / 2));
        continue;
      }
      failures = 0;
      quick = false;
      if (this.state !== "online") await this.report("online");
      try {
        await this.deliver(updates, offset);
      } catch (err) {
        // The offset could not be stored: poll again from the last stored one (Telegram resends).
        deps.log.warn({ err: String(err) }, "could not store the telegram update offset");
        await this.pause(deps.leaseCheckMs);
      }
    }
  }

  /** Delivers a batch in order, storing the offset after each update. */
  private async deliver(updates: T.Update[], offset: number | undefined): Promise<void> {
    const { deps } = this;
    const batch = [...updates].sort((a, b) => a.update_id - b.update_id);
    for (const update of batch) {
      if (offset !== undefined && update.update_id < offset) continue; // delivered before a restart
      if (this.stopped || !deps.lease.valid) return; // the next holder starts from the stored offset
      if (!(await this.deliverOne(update))) return;
      offset = update.update_id + 1;
      await deps.writeOffset(offset);
    }
  }

  /** True when the update was delivered or skipped for good; false to poll again later. */
  private async deliverOne(update: T.Update): Promise<boolean> {
    const { deps } = this;
    for (let attempt = 1; ; attempt++) {
      try {
        await deps.handle(update);
        return true;
      } catch (err) {
        if (this.stopped) return false;
        deps.log.warn(
          { update: update.update_id, attempt, err: err instanceof Error ? err.message : String(err) },
          "could not deliver a telegram update; retrying",
        );
        if (attempt >= POISON_AFTER) {
          try {
            await deps.reportSkipped(update, err instanceof Error ? err.message : String(err));
            deps.log.error(
              { update: update.update_id },
              "skipped a telegram update that cannot be delivered",
            );
            return true;
          } catch {
            // Even a notice cannot get through: the link is down, keep the update.
          }
        }
        await this.pause(Math.min(30_000, 250 * 2 ** Math.min(attempt, 7)));
        if (this.stopped || !deps.lease.valid) return false;
      }
    }
  }

  private async report(state: SessionStateName, reason?: string): Promise<void> {
    if (this.state === state) return;
    this.state = state;
    await this.deps.setState(state, reason);
  }

  private async pause(ms: number): Promise<void> {
    await sleep(ms, this.abort.signal).catch(() => undefined);
  }
}
