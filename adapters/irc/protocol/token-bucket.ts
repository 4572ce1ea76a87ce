/**
 * Flood control for outgoing IRC lines.
 *
 * IRC servers disconnect clients that send faster than they allow ("Excess Flood"), and
 * irc-framework has no limiter of its own. A token bucket allows a short burst and then a steady
 * rate (in production: burst 5, then one line every 2 s per connection); the queue in front of it
 * holds what cannot go yet, in order, up to a bound. A {@link LinePacer} adds a limit shared with
 * other queues (all connections to one server).
 */

/** Settings of a {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens available at once: the size of a burst. The bucket starts full. */
  capacity: number;
  /** One token comes back every this many milliseconds, up to `capacity`. */
  refillEveryMs: number;
  /** Clock in milliseconds; `Date.now` by default. */
  now?: () => number;
}

/** A token bucket: at most `capacity` takes at once, then one per `refillEveryMs`. */
export class TokenBucket {
  private readonly capacity: number;
  private readonly refillEveryMs: number;
  private readonly now: () => number;
  private tokens: number;
  /** When the next partial token started accruing. */
  private lastRefill: number;

  constructor(opts: TokenBucketOptions) {
    if (!Number.isInteger(opts.capacity) || opts.capacity < 1) {
      throw new RangeError(`capacity must be a positive integer, got ${opts.capacity}`);
    }
    if (!(opts.refillEveryMs > 0)) {
      throw new RangeError(`refillEveryMs must be positive, got ${opts.refillEveryMs}`);
    }
    this.capacity = opts.capacity;
    this.refillEveryMs = opts.refillEveryMs;
    this.now = opts.now ?? Date.now;
    this.tokens = opts.capacity;
    this.lastRefill = this.now();
  }

  /** Takes a token if one is available; returns whether it did. */
  tryTake(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  /** Milliseconds until a token is available; 0 when one is available now. */
  msUntilNext(): number {
    this.refill();
    if (this.tokens >= 1) return 0;
    return this.lastRefill + this.refillEveryMs - this.now();
  }

  private refill(): void {
    const now = this.now();
    // A clock that steps backwards (NTP) must not freeze the bucket until it catches up.
    if (now < this.lastRefill) this.lastRefill = now;
    if (this.tokens >= this.capacity) {
      // A full bucket accrues nothing: the next token after a burst is a whole period away, not
      // whatever was left of a period that began while the bucket sat full (S7: burst ≤ 5, then
      // ≤ 1 line per 2 s).
      this.lastRefill = now;
      return;
    }
    const earned = Math.floor((now - this.lastRefill) / this.refillEveryMs);
    if (earned === 0) return;
    this.tokens = Math.min(this.capacity, this.tokens + earned);
    // Keep the fraction of a token already accrued, unless full: a full bucket accrues nothing.
    this.lastRefill = this.tokens === this.capacity ? now : this.lastRefill + earned * this.refillEveryMs;
  }
}

/**
 * A second limit that several queues share (e.g. all connections to one IRC server). A queue asks
 * it for a slot only once its own bucket has a token, so it never holds more than one request.
 */
export interface LinePacer {
  /**
   * Asks for one send slot. True: a slot was free and is now used; send at once. False: the caller
   * waits in line, and `granted` is called once, later, with a slot already used for it.
   */
  request(granted: () => void): boolean;
  /** Withdraws a request that is still waiting (the queue was cleared). */
  cancel(granted: () => void): void;
}

/** Settings of a {@link RateLimitedQueue}. */
export interface RateLimitedQueueOptions<T> {
  /** Most items waiting at once; `push` refuses more. */
  maxQueued: number;
  /** A shared limit every item must also pass, after this queue's own bucket. */
  pacer?: LinePacer;
  /**
   * Called when `send` throws for an item, which is then considered handled; the queue goes on
   * with the next item. Without it the error propagates out of `push` or the timer callback.
   */
  onError?: (error: unknown, item: T) => void;
}

/**
 * A bounded FIFO that hands items to `send` as fast as the bucket (and the pacer, if any) allows.
 * Items that find a token and a slot go out synchronously within `push`; the rest wait for an
 * (unref'd) timer or the pacer's call, so a pending queue never keeps the process alive on its own.
 */
export class RateLimitedQueue<T> {
  private readonly items: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private disposed = false;
  /** True while the head item has its token and waits for the pacer's slot. */
  private awaitingPacer = false;
  /** Called by the pacer with a slot for the head item (one stable function, so it can be cancelled). */
  private readonly onGranted = (): void => {
    this.awaitingPacer = false;
    // Cleared meanwhile: clear() withdraws the request, so this is only a safety net.
    if (this.disposed || this.items.length === 0) return;
    try {
      this.sendHead();
    } finally {
      this.drain();
    }
  };

  constructor(
    private readonly bucket: TokenBucket,
    private readonly send: (item: T) => void,
    private readonly opts: RateLimitedQueueOptions<T>,
  ) {
    if (!Number.isInteger(opts.maxQueued) || opts.maxQueued < 0) {
      throw new RangeError(`maxQueued must be a non-negative integer, got ${opts.maxQueued}`);
    }
  }

  /**
   * Queues `item` behind those already waiting and sends what the bucket allows. Returns false,
   * without queueing, when `maxQueued` items are already waiting or the queue was disposed; the
   * caller must then report the message as not sent.
   */
  push(item: T): boolean {
    if (this.disposed || this.items.length >= this.opts.maxQueued) return false;
    this.items.push(item);
    this.drain();
    return true;
  }

  /** How many items are waiting. */
  get size(): number {
    return this.items.length;
  }

  /** Drops every waiting item and returns them, oldest first, so the caller can report them. */
  clear(): T[] {
    this.cancelTimer();
    if (this.awaitingPacer) this.opts.pacer?.cancel(this.onGranted);
    this.awaitingPacer = false;
    return this.items.splice(0);
  }

  /** Stops the queue for good: cancels its timer and returns the items that were never sent. */
  dispose(): T[] {
    this.disposed = true;
    return this.clear();
  }

  private drain(): void {
    try {
      while (this.items.length > 0 && !this.awaitingPacer && this.bucket.msUntilNext() === 0) {
        if (this.opts.pacer && !this.opts.pacer.request(this.onGranted)) {
          // The head keeps its place (and counts against maxQueued) until the slot comes.
          this.awaitingPacer = true;
          break;
        }
        this.sendHead();
      }
    } finally {
      // Even if delivery threw, what is left must still be scheduled.
      this.schedule();
    }
  }

  /** Sends the head item, taking the bucket's token (which only this queue spends, so it is there). */
  private sendHead(): void {
    this.bucket.tryTake();
    const item = this.items.shift() as T;
    this.deliver(item);
  }

  private deliver(item: T): void {
    if (!this.opts.onError) {
      this.send(item);
      return;
    }
    try {
      this.send(item);
    } catch (error) {
      this.opts.onError(error, item);
    }
  }

  private schedule(): void {
    // While a pacer slot is awaited, the pacer's call starts the next drain.
    if (this.disposed || this.timer !== undefined || this.items.length === 0 || this.awaitingPacer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.drain();
    }, this.bucket.msUntilNext());
    this.timer.unref();
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
