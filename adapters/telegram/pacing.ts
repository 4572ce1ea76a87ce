/**
 * Send pacing: Telegram answers a bot that sends too fast with 429 and a `retry_after` it must
 * honour for that chat. We stay under the limits instead of hitting them: a sliding window per
 * private chat, per group and per bot (settings.ts has the figures), and after a 429 no request to
 * that chat until its deadline has passed.
 *
 * Sends to one chat leave in the order they were asked for (a FIFO chain per chat); different chats
 * only share the per-bot window, so a slow group does not hold up a private chat.
 */
import type { PacingWindow } from "./settings.ts";

export interface PacingLimits {
  privateChat: PacingWindow;
  group: PacingWindow;
  global: PacingWindow;
  marginMs: number;
}

/** What a paced request is addressed to. */
export interface PaceTarget {
  chatId: string;
  /** Private chats and business chats have the 1/s limit; groups the 20/min one. */
  isPrivate: boolean;
}

const GLOBAL = "*";

export class SendPacer {
  private readonly sent = new Map<string, number[]>();
  private readonly blockedUntil = new Map<string, number>();
  private readonly chains = new Map<string, Promise<void>>();

  constructor(
    private readonly limits: PacingLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Resolves when a message to `target` may be sent, and counts it as sent. Rejects if `signal`
   * aborts while waiting.
   */
  admit(target: PaceTarget, signal?: AbortSignal): Promise<void> {
    const previous = this.chains.get(target.chatId) ?? Promise.resolve();
    const turn = previous.then(() => this.waitForRoom(target, signal));
    const tail = turn.catch(() => undefined);
    this.chains.set(target.chatId, tail);
    void tail.then(() => {
      if (this.chains.get(target.chatId) === tail) this.chains.delete(target.chatId);
    });
    return turn;
  }

  /** Resolves once no 429 deadline holds `chatId` (or the whole bot); counts nothing. */
  async waitUnblocked(chatId: string, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const wait = Math.max(this.blockedFor(chatId), this.blockedFor(GLOBAL));
      if (wait <= 0) return;
      await sleep(wait, signal);
    }
  }

  /** Telegram said "retry after N seconds" for this chat (or, without a chat, for the bot). */
  block(chatId: string | undefined, seconds: number): void {
    const key = chatId ?? GLOBAL;
    const until = this.now() + seconds * 1000 + this.limits.marginMs;
    this.blockedUntil.set(key, Math.max(until, this.blockedUntil.get(key) ?? 0));
  }

  private async waitForRoom(target: PaceTarget, signal?: AbortSignal): Promise<void> {
    const window = target.isPrivate ? this.limits.privateChat : this.limits.group;
    for (;;) {
      const wait = Math.max(
        this.blockedFor(target.chatId),
        this.blockedFor(GLOBAL),
        this.windowWait(target.chatId, window),
        this.windowWait(GLOBAL, this.limits.global),
      );
      if (wait <= 0) break;
      await sleep(wait, signal);
    }
    const at = this.now();
    this.record(target.chatId, at, window);
    this.record(GLOBAL, at, this.limits.global);
  }

  private blockedFor(key: string): number {
    return (this.blockedUntil.get(key) ?? 0) - this.now();
  }

  /** How long until one more send fits in the window of `key`. */
  private windowWait(key: string, window: PacingWindow): number {
    const span = window.windowMs + this.limits.marginMs;
    const now = this.now();
    const recent = (this.sent.get(key) ?? []).filter((t) => t > now - span);
    this.sent.set(key, recent);
    if (recent.length < window.max) return 0;
    return (recent[recent.length - window.max] ?? now) + span - now;
  }

  private record(key: string, at: number, window: PacingWindow): void {
    const list = this.sent.get(key) ?? [];
    list.push(at);
    if (list.length > window.max) list.splice(0, list.length - window.max);
    this.sent.set(key, list);
  }
}

/** setTimeout as a promise that rejects when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason ?? new Error("aborted"));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason ?? new Error("aborted"));
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
