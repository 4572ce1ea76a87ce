/**
 * Bookkeeping of one relay phase: numbered messages sent at known times, and their arrivals at
 * every receiver — latency, losses, duplicates and order violations per receiver.
 *
 * A message is complete when every receiver has it. The sender keeps at most a window of messages
 * that are not complete yet, so that a gateway is measured at the rate it sustains rather than
 * by how much it can buffer; a phase ends when all are complete, or when nothing has arrived for
 * `stallMs` (what is missing then counts as lost).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { ParsedLine, RawIrcClient } from "../test/support/irc-client.ts";
import type { Element, XmppTestClient } from "../test/support/xmpp-client.ts";

interface ReceiverState {
  seen: Uint8Array;
  lastSeq: number;
  duplicates: number;
  orderViolations: number;
}

export interface PhaseFigures {
  sent: number;
  receivers: number;
  /** Distinct (message, receiver) arrivals. */
  delivered: number;
  lost: number;
  duplicates: number;
  orderViolations: number;
  /** Messages every receiver got, per second, from the first send to the last completion. */
  messagesPerSecond: number;
  /** Deliveries per second over the same span. */
  deliveriesPerSecond: number;
  /** Milliseconds from send to arrival, one per delivery. */
  latenciesMs: number[];
  /** How the phase ended. */
  ending: "complete" | "stalled";
  /** performance.now() of the first send and of the last arrival, to combine several trackers. */
  firstSendAt: number;
  lastArrivalAt: number;
}

export class DeliveryTracker {
  private readonly sendTimes: Float64Array;
  private readonly arrivals: Uint16Array;
  private readonly states: ReceiverState[];
  private readonly latencies: number[] = [];
  private sentCount = 0;
  private delivered = 0;
  private completeCount = 0;
  private firstSendAt = Number.NaN;
  private lastCompleteAt = Number.NaN;
  private lastArrivalAt = Number.NaN;
  private lastProgressAt = performance.now();
  private wakers: Array<() => void> = [];
  /** Set when the phase is over; taps stop recording. */
  finished = false;

  constructor(
    readonly total: number,
    readonly receivers: number,
  ) {
    this.sendTimes = new Float64Array(total).fill(Number.NaN);
    this.arrivals = new Uint16Array(total);
    this.states = Array.from({ length: receivers }, () => ({
      seen: new Uint8Array(total),
      lastSeq: -1,
      duplicates: 0,
      orderViolations: 0,
    }));
  }

  get sent(): number {
    return this.sentCount;
  }

  get complete(): number {
    return this.completeCount;
  }

  markSent(seq: number): void {
    const now = performance.now();
    this.sendTimes[seq] = now;
    if (this.sentCount === 0) {
      this.firstSendAt = now;
      this.lastProgressAt = now;
    }
    this.sentCount += 1;
  }

  arrived(receiver: number, seq: number, at: number): void {
    if (this.finished || !Number.isInteger(seq) || seq < 0 || seq >= this.total) return;
    const state = this.states[receiver]!;
    if (state.seen[seq]) {
      state.duplicates += 1;
      return;
    }
    state.seen[seq] = 1;
    if (seq < state.lastSeq) state.orderViolations += 1;
    else state.lastSeq = seq;
    this.delivered += 1;
    this.latencies.push(at - this.sendTimes[seq]!);
    this.lastArrivalAt = at;
    this.lastProgressAt = at;
    this.arrivals[seq]! += 1;
    if (this.arrivals[seq] === this.receivers) {
      this.completeCount += 1;
      this.lastCompleteAt = at;
      const wakers = this.wakers;
      this.wakers = [];
      for (const wake of wakers) wake();
    }
  }

  /** Resolves at the next completed message, or after `ms` (so a stall is noticed). */
  private async nextCompletion(ms: number): Promise<void> {
    let wake: () => void = () => {};
    const woken = new Promise<void>((resolve) => {
      wake = resolve;
    });
    this.wakers.push(wake);
    const ac = new AbortController();
    await Promise.race([woken, sleep(ms, undefined, { signal: ac.signal }).catch(() => {})]);
    ac.abort();
  }

  /** True when nothing arrived for `stallMs` although messages are outstanding. */
  stalled(stallMs: number): boolean {
    return this.completeCount < this.sentCount && performance.now() - this.lastProgressAt > stallMs;
  }

  /** Waits until fewer than `window` sent messages are incomplete; false on a stall. */
  async roomInWindow(window: number, stallMs: number): Promise<boolean> {
    while (this.sentCount - this.completeCount >= window) {
      if (this.stalled(stallMs)) return false;
      await this.nextCompletion(250);
    }
    return true;
  }

  /** Waits until every sent message is complete; false on a stall. */
  async allComplete(stallMs: number): Promise<boolean> {
    return this.roomInWindow(1, stallMs);
  }

  figures(): PhaseFigures {
    this.finished = true;
    const expected = this.sentCount * this.receivers;
    const completeSpan = (this.lastCompleteAt - this.firstSendAt) / 1000;
    const arrivalSpan = (this.lastArrivalAt - this.firstSendAt) / 1000;
    return {
      sent: this.sentCount,
      receivers: this.receivers,
      delivered: this.delivered,
      lost: expected - this.delivered,
      duplicates: this.states.reduce((sum, s) => sum + s.duplicates, 0),
      orderViolations: this.states.reduce((sum, s) => sum + s.orderViolations, 0),
      messagesPerSecond: completeSpan > 0 ? this.completeCount / completeSpan : Number.NaN,
      deliveriesPerSecond: arrivalSpan > 0 ? this.delivered / arrivalSpan : Number.NaN,
      latenciesMs: this.latencies,
      ending: this.completeCount === this.sentCount ? "complete" : "stalled",
      firstSendAt: this.firstSendAt,
      lastArrivalAt: this.lastArrivalAt,
    };
  }
}

/** The number after `prefix` in a body such as `r3.t.42`, or undefined. */
export function seqOf(body: string | null | undefined, prefix: string): number | undefined {
  if (!body?.startsWith(prefix)) return undefined;
  const seq = Number(body.slice(prefix.length));
  return Number.isInteger(seq) ? seq : undefined;
}

/**
 * Calls `onStanza` with its arrival time for every stanza the client receives, from now until
 * `tracker.finished` (checked at each stanza; the next stanza after that ends the tap). Uses
 * the client's own `waitFor`, whose match function runs synchronously as each stanza arrives.
 */
export function tapXmpp(
  client: XmppTestClient,
  tracker: DeliveryTracker,
  onStanza: (stanza: Element, at: number) => void,
  what: string,
  timeoutMs: number,
): void {
  client
    .waitFor(
      (stanza) => {
        if (tracker.finished) return true;
        onStanza(stanza, performance.now());
        return false;
      },
      what,
      { since: client.mark(), timeoutMs },
    )
    .catch(() => {
      // The tap outlived its phase with nothing more to read: nothing is lost by that.
    });
}

/** The same tap on a raw IRC client. */
export function tapIrc(
  client: RawIrcClient,
  tracker: DeliveryTracker,
  onLine: (line: ParsedLine, at: number) => void,
  what: string,
  timeoutMs: number,
): void {
  client
    .waitFor(
      (line) => {
        if (tracker.finished) return true;
        onLine(line, performance.now());
        return false;
      },
      what,
      { since: client.mark(), timeoutMs },
    )
    .catch(() => {});
}
