/**
 * Messages the user sent while their IRC connection was not up (still registering, or waiting
 * to reconnect), kept until it is: RELIABILITY.md R5 wants them delivered in order after the
 * reconnect, or bounced, never lost without a word.
 *
 * Bounded twice: at most `perConversation` waiting per conversation (the next one is refused,
 * so the user's client gets an error on that very message) and at most `ttlMs` of waiting
 * (older ones are handed back by `expire` so the owner can tell the user they were not sent).
 * One FIFO for all conversations keeps each conversation's order and costs nothing extra.
 *
 * Messages a lost link may have swallowed (R8, unconfirmed.ts) come back here too, at the front:
 * they were sent before anything that waits.
 */
import type { ConversationRef, OutgoingMessage } from "../../src/adapter/index.ts";

export interface PendingMessage {
  /** The IRC target: a channel or a nick. */
  target: string;
  conversation: ConversationRef;
  message: OutgoingMessage;
  /** When the user sent it (ms since the epoch); the TTL counts from then. */
  queuedAt: number;
  /** The user's own copy was already reported (no echo-message): a resend does not repeat it. */
  reflected?: boolean;
  /** Called once the server has every line of it, or it was given up and the user told (SendReceipt.handedOver). */
  settle?: () => void;
}

export interface OutboxLimits {
  perConversation: number;
  ttlMs: number;
}

/** R5: ≤ 100 per conversation, 10 minutes. */
export const OUTBOX_LIMITS: OutboxLimits = { perConversation: 100, ttlMs: 10 * 60 * 1000 };

export class Outbox {
  private readonly items: PendingMessage[] = [];
  private readonly perConversation = new Map<string, number>();

  constructor(
    readonly limits: OutboxLimits = OUTBOX_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.items.length;
  }

  /** Queues a message behind the others; false (nothing queued) when its conversation is full. */
  add(item: Omit<PendingMessage, "queuedAt">): boolean {
    const key = item.conversation.id;
    const count = this.perConversation.get(key) ?? 0;
    if (count >= this.limits.perConversation) return false;
    this.perConversation.set(key, count + 1);
    this.items.push({ ...item, queuedAt: this.now() });
    return true;
  }

  /**
   * Puts messages back at the front, in the order given (oldest first), keeping their times.
   * Returns those that did not fit their conversation's bound: the owner tells the user.
   */
  putBack(items: readonly PendingMessage[]): PendingMessage[] {
    const refused: PendingMessage[] = [];
    const taken: PendingMessage[] = [];
    for (const item of items) {
      const key = item.conversation.id;
      const count = this.perConversation.get(key) ?? 0;
      if (count >= this.limits.perConversation) {
        refused.push(item);
        continue;
      }
      this.perConversation.set(key, count + 1);
      taken.push(item);
    }
    this.items.unshift(...taken);
    return refused;
  }

  /** The oldest message, left in place until `shift` (it may not fit the flood queue yet). */
  peek(): PendingMessage | undefined {
    return this.items[0];
  }

  shift(): PendingMessage | undefined {
    const item = this.items.shift();
    if (item) this.forget(item);
    return item;
  }

  /** Removes and returns the messages that waited longer than the TTL, oldest first. */
  expire(): PendingMessage[] {
    const cutoff = this.now() - this.limits.ttlMs;
    const expired: PendingMessage[] = [];
    while (this.items[0] !== undefined && this.items[0].queuedAt <= cutoff) {
      expired.push(this.shift() as PendingMessage);
    }
    return expired;
  }

  /** Milliseconds until the oldest message expires; undefined when empty. */
  msUntilExpiry(): number | undefined {
    const oldest = this.items[0];
    return oldest === undefined ? undefined : Math.max(0, oldest.queuedAt + this.limits.ttlMs - this.now());
  }

  /** Empties the outbox and returns what was waiting, oldest first. */
  clear(): PendingMessage[] {
    this.perConversation.clear();
    return this.items.splice(0);
  }

  private forget(item: PendingMessage): void {
    const key = item.conversation.id;
    const count = (this.perConversation.get(key) ?? 1) - 1;
    if (count <= 0) this.perConversation.delete(key);
    else this.perConversation.set(key, count);
  }
}

/** Groups messages by conversation, for one notice per conversation about those not sent. */
export function byConversation(
  items: readonly PendingMessage[],
): Map<string, { conversation: ConversationRef; count: number }> {
  const groups = new Map<string, { conversation: ConversationRef; count: number }>();
  for (const item of items) {
    const group = groups.get(item.conversation.id) ?? { conversation: item.conversation, count: 0 };
    group.count += 1;
    groups.set(item.conversation.id, group);
  }
  return groups;
}
