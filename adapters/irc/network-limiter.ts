/**
 * The gateway-wide egress limit per IRC server: at most `linesPerSecond` of our lines reach one
 * server in any one second, over all users' connections (RELIABILITY.md S7: ≤ 10 lines/s per
 * network). Each connection's own token bucket keeps one user within what a server allows one
 * client; this keeps the whole gateway, which many servers see as one address, within what they
 * allow one host.
 *
 * A connection whose bucket has a token asks here for a slot. Lines that must wait are granted in
 * the order they asked; since a connection asks for one line at a time and asks again behind the
 * others, busy connections take turns and a flooder cannot starve a quiet user. Nothing is
 * dropped here: the waiting line stays in its connection's bounded queue, which refuses new
 * messages when full.
 */
import type { LinePacer } from "./protocol/token-bucket.ts";

/** The sliding window every pacer counts in. */
const WINDOW_MS = 1000;

/** One pacer per server name (as addresses spell it, lower case), created on first use. */
export class NetworkLimiter {
  private readonly pacers = new Map<string, WindowPacer>();

  constructor(
    private readonly linesPerSecond: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The pacer all connections to `server` share. */
  forServer(server: string): LinePacer {
    const key = server.toLowerCase();
    let pacer = this.pacers.get(key);
    if (!pacer) {
      pacer = new WindowPacer(this.linesPerSecond, WINDOW_MS, this.now);
      this.pacers.set(key, pacer);
    }
    return pacer;
  }
}

/**
 * At most `limit` grants in any `windowMs`: a grant is free when fewer than `limit` were given in
 * the last `windowMs`. Unlike a token bucket this bounds every window exactly, bursts included.
 */
export class WindowPacer implements LinePacer {
  /** When the most recent grants (at most `limit`) were given, oldest first. */
  private readonly recent: number[] = [];
  private readonly waiting: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`limit must be a positive integer, got ${limit}`);
    }
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  request(granted: () => void): boolean {
    // Behind those already waiting, even if a slot happens to be free at this instant.
    if (this.waiting.length === 0 && this.msUntilFree() === 0) {
      this.use();
      return true;
    }
    this.waiting.push(granted);
    this.schedule();
    return false;
  }

  cancel(granted: () => void): void {
    const index = this.waiting.indexOf(granted);
    if (index !== -1) this.waiting.splice(index, 1);
    if (this.waiting.length === 0) this.cancelTimer();
  }

  /** Grants free slots to those waiting, in order; a grant may ask again (it goes to the back). */
  private pump(): void {
    this.timer = undefined;
    const failures: unknown[] = [];
    while (this.waiting.length > 0 && this.msUntilFree() === 0) {
      const granted = this.waiting.shift() as () => void;
      this.use();
      try {
        granted();
      } catch (error) {
        failures.push(error);
      }
    }
    this.schedule();
    // One connection's failure must not cost the others their turn; it still surfaces, from
    // this timer, as it would have from the connection's own.
    if (failures.length > 0) throw failures[0];
  }

  /** 0 when a slot is free now, else the milliseconds until the oldest grant leaves the window. */
  private msUntilFree(): number {
    if (this.recent.length < this.limit) return 0;
    const now = this.now();
    const oldest = this.recent[0] as number;
    if (now < oldest) {
      // The clock stepped backwards (NTP): count the window from now, or the pacer would stall
      // until the clock caught up.
      this.recent.fill(now);
      return this.windowMs;
    }
    return Math.max(0, oldest + this.windowMs - now);
  }

  private use(): void {
    this.recent.push(this.now());
    if (this.recent.length > this.limit) this.recent.shift();
  }

  private schedule(): void {
    if (this.timer !== undefined || this.waiting.length === 0) return;
    this.timer = setTimeout(() => this.pump(), this.msUntilFree());
    this.timer.unref();
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
