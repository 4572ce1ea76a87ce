/**
 * Matching the server's reflection of our own messages (IRCv3 echo-message) to what the user
 * sent, so every XMPP resource of the user sees the message once, with the id their client gave
 * it.
 *
 * The server reflects each line we sent, in order per target. A message split into N lines
 * comes back as N echoes; we count them and report one message carrying the text the user sent
 * (not the lines glued back together, which would add line breaks where we split).
 */
import type { StyledText } from "../../src/adapter/index.ts";

/** A message of ours whose echoes we are waiting for. */
export interface PendingEcho {
  clientId: string;
  text: StyledText;
  lines: number;
  received: number;
  /** IRCv3 msgid and server-time of the first echoed line. */
  id?: string;
  timestamp?: Date;
}

/** The pending echoes of one connection, FIFO per (folded) target. */
export class EchoTracker {
  private readonly byTarget = new Map<string, PendingEcho[]>();
  /** Bound per target: beyond it the oldest is forgotten (its echoes then arrive unmatched). */
  private static readonly MAX_PENDING = 50;

  expect(target: string, clientId: string, text: StyledText, lines: number): void {
    const queue = this.byTarget.get(target) ?? [];
    queue.push({ clientId, text, lines, received: 0 });
    if (queue.length > EchoTracker.MAX_PENDING) queue.shift();
    this.byTarget.set(target, queue);
  }

  /**
   * Records one echoed line for `target`. Returns the completed message once its last line came
   * back, `"partial"` while lines are missing, or undefined when nothing was pending (a message
   * sent by another client of the same account, or a bouncer).
   */
  receive(target: string, line: { id?: string; timestamp?: Date }): PendingEcho | "partial" | undefined {
    const queue = this.byTarget.get(target);
    const head = queue?.[0];
    if (!queue || !head) return undefined;
    if (head.received === 0) {
      head.id = line.id;
      head.timestamp = line.timestamp;
    }
    head.received += 1;
    if (head.received < head.lines) return "partial";
    queue.shift();
    if (queue.length === 0) this.byTarget.delete(target);
    return head;
  }

  /** Forgets everything (the connection was lost: those echoes will never come). */
  clear(): void {
    this.byTarget.clear();
  }
}
