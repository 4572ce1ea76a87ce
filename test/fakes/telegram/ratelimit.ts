/**
 * The optional flood check (`enforceRateLimits`). Telegram documents the limits only
 * loosely (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this):
 * about one message per second in a chat, with short bursts tolerated; 20 messages per
 * minute in a group; about 30 messages per second overall. Exceeding them gives 429
 * `Too Many Requests: retry after N` with `parameters.retry_after`, and every further
 * message to that chat before the N seconds are over is refused again (the fake
 * counts down the same deadline, it does not extend it).
 *
 * Sliding windows: a private chat allows `private.max` messages per `private.windowMs`
 * (default 5 per 5 s — a burst of 5, then 1/s), a group or channel `group.max` per
 * `group.windowMs` (20 per minute), and each bot `global.max` per `global.windowMs`
 * (30 per second). Only message-creating methods count; edits, deletions, reactions and
 * chat actions do not.
 */
import { tooManyRequests } from "./errors.ts";

/** One sliding window. */
export interface Window {
  max: number;
  windowMs: number;
}

/** The three limits the flood check applies. */
export interface FloodLimits {
  private: Window;
  group: Window;
  global: Window;
}

/** Defaults close to Telegram's published guidance. */
export const DEFAULT_FLOOD_LIMITS: FloodLimits = {
  private: { max: 5, windowMs: 5000 },
  group: { max: 20, windowMs: 60_000 },
  global: { max: 30, windowMs: 1000 },
};

/** Per-chat and per-bot send history, and the flood-wait deadlines already given out. */
export class FloodCheck {
  private readonly sends = new Map<string, number[]>();
  private readonly bannedUntil = new Map<string, number>();

  constructor(private readonly limits: FloodLimits) {}

  /**
   * Records one message from `botId` to `chatId` at `now`, or throws the 429 the real
   * server would give.
   */
  admit(botId: number, chatId: number, isPrivate: boolean, now: number): void {
    const chatKey = `${botId}/${chatId}`;
    const botKey = `${botId}`;
    for (const key of [chatKey, botKey]) {
      const until = this.bannedUntil.get(key) ?? 0;
      if (now < until) throw tooManyRequests(Math.ceil((until - now) / 1000));
    }
    // Check both windows before recording, so a refused message counts nowhere.
    const chatSends = this.recent(chatKey, isPrivate ? this.limits.private : this.limits.group, now);
    const botSends = this.recent(botKey, this.limits.global, now);
    chatSends.push(now);
    botSends.push(now);
  }

  /** The sends of `key` inside its window; throws (and starts a flood wait) when it is full. */
  private recent(key: string, window: Window, now: number): number[] {
    const recent = (this.sends.get(key) ?? []).filter((t) => t > now - window.windowMs);
    this.sends.set(key, recent);
    if (recent.length < window.max) return recent;
    const retryAfter = Math.max(1, Math.ceil((recent[0]! + window.windowMs - now) / 1000));
    this.bannedUntil.set(key, now + retryAfter * 1000);
    throw tooManyRequests(retryAfter);
  }
}
