/**
 * One bot's update queue and getUpdates long polling, with the semantics of the
 * official server (tdlib/telegram-bot-api, Client::process_get_updates_query,
 * do_get_updates, abort_long_poll, fail_query_conflict):
 *
 * - Update ids are consecutive per bot. `allowed_updates` filters when an update is
 *   created, so updates filtered out are never queued (the docs: the parameter
 *   "doesn't affect updates created before the call"). The default excludes
 *   chat_member, message_reaction and message_reaction_count. An absent or unparsable
 *   allowed_updates keeps the previous setting; an empty list restores the default.
 * - `offset` confirms every update with a lower id: they are forgotten for good. A
 *   negative offset counts from the end of the queue (-1 = the last update) and also
 *   forgets everything before it. An offset beyond the newest update + 1 is treated as
 *   invalid: the queue is read from its head and nothing is forgotten.
 * - `limit` is clamped to 1..100 and `timeout` to 0..50 seconds (no error).
 * - A request with the same offset as the previous one, less than 3 s after it and with
 *   a timeout under 3 s, gets a 3 s timeout (the server's busy-loop guard).
 * - A request waits only when it finds no update and has a timeout. A waiting request
 *   is answered about 1 ms after the next update arrives (batching a burst), or with
 *   whatever is there when the timeout ends.
 * - When a new request is about to wait while another one waits, the NEW one wins: the
 *   old one is answered 409 `Conflict: terminated by other getUpdates request; make sure
 *   that only one bot instance is running`. A request that is answered at once does not
 *   disturb the waiting one. 409 answers are rate-limited as on the server: at most one
 *   immediate 409 per 3 s, later ones are sent after a 3 s pause.
 */
import { ApiError, CONFLICT_OTHER_GET_UPDATES } from "./errors.ts";
import type { TgUpdate, TgUpdatePayload } from "./types.ts";

/** Every update type the Bot API knows, for allowed_updates. */
export const UPDATE_TYPES = [
  "message",
  "edited_message",
  "channel_post",
  "edited_channel_post",
  "business_connection",
  "business_message",
  "edited_business_message",
  "deleted_business_messages",
  "message_reaction",
  "message_reaction_count",
  "inline_query",
  "chosen_inline_result",
  "callback_query",
  "shipping_query",
  "pre_checkout_query",
  "purchased_paid_media",
  "poll",
  "poll_answer",
  "my_chat_member",
  "chat_member",
  "chat_join_request",
  "chat_boost",
  "removed_chat_boost",
] as const;

const DEFAULT_ALLOWED = new Set<string>(
  UPDATE_TYPES.filter((t) => !["chat_member", "message_reaction", "message_reaction_count"].includes(t)),
);

const LONG_POLL_MAX_TIMEOUT = 50;
const CONFLICT_PAUSE_MS = 3000;
const WAKEUP_DELAY_MS = 1;

interface HeldPoll {
  offset: number;
  limit: number;
  resolve: (updates: TgUpdate[]) => void;
  reject: (error: ApiError) => void;
  timer: NodeJS.Timeout;
  woken: boolean;
}

/** getUpdates parameters after reading them from the request. */
export interface PollRequest {
  offset: number;
  limit: number;
  timeout: number;
  /** The raw allowed_updates value, already JSON-decoded (undefined = not sent). */
  allowedUpdates: unknown;
}

/** The update queue and long-poll state of one bot. */
export class UpdateQueue {
  private pending: TgUpdate[] = [];
  private nextId: number;
  private allowed = DEFAULT_ALLOWED;
  private held: HeldPoll | undefined;
  private nextConflictAt = 0;
  private previousOffset: number | undefined;
  private previousStart = 0;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(firstUpdateId: number) {
    this.nextId = firstUpdateId;
  }

  /** The update types currently delivered. */
  allowedUpdates(): string[] {
    return [...this.allowed];
  }

  /** Whether a getUpdates request is waiting for updates right now. */
  isHolding(): boolean {
    return this.held !== undefined;
  }

  /** Copies of the unconfirmed updates, oldest first. */
  peek(): TgUpdate[] {
    return structuredClone(this.pending);
  }

  /** Unconfirmed updates (getWebhookInfo's pending_update_count). */
  pendingCount(): number {
    return this.pending.length;
  }

  /**
   * Queues an update of `type` unless allowed_updates filters it out.
   * Returns the update, or undefined when it was filtered.
   */
  push(type: keyof TgUpdatePayload, payload: TgUpdatePayload): TgUpdate | undefined {
    if (!this.allowed.has(type)) return undefined;
    const update: TgUpdate = { update_id: this.nextId++, ...payload };
    this.pending.push(update);
    this.wake();
    return update;
  }

  /** Updates allowed_updates from a request (getUpdates or setWebhook). */
  setAllowed(raw: unknown): void {
    if (!Array.isArray(raw)) return;
    if (!raw.every((t) => typeof t === "string")) return;
    const known = raw.map((t: string) => t.toLowerCase()).filter(isType);
    this.allowed = known.length === 0 ? DEFAULT_ALLOWED : new Set(known);
  }

  /** drop_pending_updates: forget everything queued. */
  dropPending(): void {
    this.pending = [];
  }

  /** Answers a getUpdates request (see the module comment for the rules). */
  poll(request: PollRequest): Promise<TgUpdate[]> {
    const limit = clamp(request.limit, 1, 100);
    let timeout = clamp(request.timeout, 0, LONG_POLL_MAX_TIMEOUT);
    this.setAllowed(request.allowedUpdates);
    const now = Date.now();
    if (request.offset === this.previousOffset && timeout < 3 && now < this.previousStart + 3000) timeout = 3;
    this.previousOffset = request.offset;
    this.previousStart = now;
    const offset = this.resolveOffset(request.offset);
    const updates = this.read(offset, limit);
    if (timeout === 0 || updates.length > 0) return Promise.resolve(updates);
    this.terminateHeld(CONFLICT_OTHER_GET_UPDATES);
    return new Promise((resolve, reject) => {
      const held: HeldPoll = {
        offset,
        limit,
        resolve,
        reject,
        woken: false,
        timer: this.timer(timeout * 1000, () => this.answerHeld(held)),
      };
      this.held = held;
    });
  }

  /** Ends a waiting long poll with a 409 carrying `message` (rate-limited like the server). */
  terminateHeld(message: string): void {
    const held = this.held;
    if (held === undefined) return;
    this.held = undefined;
    clearTimeout(held.timer);
    this.timers.delete(held.timer);
    this.conflict(message, held.reject);
  }

  /** Fails a request with 409, at once or after the server's 3 s pause. */
  conflict(message: string, reject: (error: ApiError) => void): void {
    const now = Date.now();
    const error = new ApiError(409, message);
    if (now >= this.nextConflictAt) {
      this.nextConflictAt = now + CONFLICT_PAUSE_MS;
      reject(error);
    } else {
      this.timer(CONFLICT_PAUSE_MS, () => reject(error));
    }
  }

  /** Stops all timers; waiting polls are left unanswered (the server is going away). */
  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.held = undefined;
  }

  private resolveOffset(requested: number): number {
    const head = this.pending[0]?.update_id ?? this.nextId;
    const tail = this.nextId;
    let offset = requested;
    if (offset < 0) offset += tail;
    if (offset > tail) return head; // invalid: read from the head, confirm nothing
    if (offset < head) offset = head;
    // Everything before the offset is confirmed and gone.
    this.pending = this.pending.filter((u) => u.update_id >= offset);
    return offset;
  }

  private read(offset: number, limit: number): TgUpdate[] {
    return this.pending.filter((u) => u.update_id >= offset).slice(0, limit);
  }

  private wake(): void {
    const held = this.held;
    if (held === undefined || held.woken) return;
    held.woken = true;
    clearTimeout(held.timer);
    this.timers.delete(held.timer);
    held.timer = this.timer(WAKEUP_DELAY_MS, () => this.answerHeld(held));
  }

  private answerHeld(held: HeldPoll): void {
    if (this.held !== held) return;
    this.held = undefined;
    held.resolve(this.read(held.offset, held.limit));
  }

  private timer(ms: number, run: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    this.timers.add(timer);
    return timer;
  }
}

function isType(t: string): boolean {
  return (UPDATE_TYPES as readonly string[]).includes(t);
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(Math.max(value, min), max);
}
