import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RateLimitedQueue, TokenBucket } from "../../../adapters/irc/protocol/token-bucket.ts";

describe("TokenBucket", () => {
  let clock = 0;
  const now = (): number => clock;
  beforeEach(() => {
    clock = 1_000;
  });

  it("allows a burst of `capacity`, then one take per refill period", () => {
    const bucket = new TokenBucket({ capacity: 5, refillEveryMs: 2_000, now });
    for (let i = 0; i < 5; i++) expect(bucket.tryTake()).toBe(true);
    expect(bucket.tryTake()).toBe(false);
    expect(bucket.msUntilNext()).toBe(2_000);

    clock += 1_999;
    expect(bucket.tryTake()).toBe(false);
    expect(bucket.msUntilNext()).toBe(1);
    clock += 1;
    expect(bucket.msUntilNext()).toBe(0);
    expect(bucket.tryTake()).toBe(true);
    expect(bucket.tryTake()).toBe(false);
  });

  it("keeps the part of a period already waited", () => {
    const bucket = new TokenBucket({ capacity: 1, refillEveryMs: 1_000, now });
    expect(bucket.tryTake()).toBe(true);
    clock += 2_500;
    expect(bucket.tryTake()).toBe(true);
    expect(bucket.tryTake()).toBe(false);
    // 500 ms of the next period have passed already (the bucket was full for 1 500 of them).
    expect(bucket.msUntilNext()).toBe(1_000);
  });

  it("never holds more than its capacity", () => {
    const bucket = new TokenBucket({ capacity: 3, refillEveryMs: 100, now });
    clock += 1_000_000;
    let taken = 0;
    while (bucket.tryTake()) taken++;
    expect(taken).toBe(3);
  });

  it("survives a clock that steps backwards", () => {
    const bucket = new TokenBucket({ capacity: 1, refillEveryMs: 1_000, now });
    expect(bucket.tryTake()).toBe(true);
    clock -= 60_000;
    expect(bucket.msUntilNext()).toBe(1_000);
    clock += 1_000;
    expect(bucket.tryTake()).toBe(true);
  });

  it("refuses nonsensical settings", () => {
    expect(() => new TokenBucket({ capacity: 0, refillEveryMs: 1 })).toThrow(RangeError);
    expect(() => new TokenBucket({ capacity: 1, refillEveryMs: 0 })).toThrow(RangeError);
  });
});

describe("RateLimitedQueue", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function setup(maxQueued = 10) {
    const bucket = new TokenBucket({ capacity: 2, refillEveryMs: 2_000, now: () => Date.now() });
    const sent: string[] = [];
    const queue = new RateLimitedQueue<string>(bucket, (line) => sent.push(line), { maxQueued });
    return { queue, sent };
  }

  it("sends the burst at once and the rest at the refill rate, in order", () => {
    const { queue, sent } = setup();
    for (const line of ["a", "b", "c", "d", "e"]) expect(queue.push(line)).toBe(true);
    expect(sent).toEqual(["a", "b"]);
    expect(queue.size).toBe(3);

    vi.advanceTimersByTime(1_999);
    expect(sent).toEqual(["a", "b"]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual(["a", "b", "c"]);
    vi.advanceTimersByTime(4_000);
    expect(sent).toEqual(["a", "b", "c", "d", "e"]);
    expect(queue.size).toBe(0);
  });

  it("keeps FIFO order for items pushed while others wait", () => {
    const { queue, sent } = setup();
    queue.push("1");
    queue.push("2");
    queue.push("3");
    vi.advanceTimersByTime(1_000);
    queue.push("4");
    vi.advanceTimersByTime(10_000);
    expect(sent).toEqual(["1", "2", "3", "4"]);
  });

  it("refuses items beyond maxQueued", () => {
    const { queue, sent } = setup(2);
    expect(queue.push("a")).toBe(true);
    expect(queue.push("b")).toBe(true);
    expect(queue.push("c")).toBe(true);
    expect(queue.push("d")).toBe(true);
    expect(queue.push("e")).toBe(false);
    expect(queue.size).toBe(2);
    vi.advanceTimersByTime(10_000);
    expect(sent).toEqual(["a", "b", "c", "d"]);
  });

  it("clear() returns the waiting items and sends nothing more", () => {
    const { queue, sent } = setup();
    for (const line of ["a", "b", "c", "d"]) queue.push(line);
    expect(queue.clear()).toEqual(["c", "d"]);
    vi.advanceTimersByTime(10_000);
    expect(sent).toEqual(["a", "b"]);
    expect(queue.push("e")).toBe(true);
    expect(sent).toEqual(["a", "b", "e"]);
  });

  it("dispose() cancels the timer, returns unsent items and refuses new ones", () => {
    const { queue, sent } = setup();
    for (const line of ["a", "b", "c"]) queue.push(line);
    expect(queue.dispose()).toEqual(["c"]);
    expect(vi.getTimerCount()).toBe(0);
    expect(queue.push("d")).toBe(false);
    vi.advanceTimersByTime(10_000);
    expect(sent).toEqual(["a", "b"]);
  });

  it("reports a failing send and goes on with the next item", () => {
    const bucket = new TokenBucket({ capacity: 1, refillEveryMs: 100, now: () => Date.now() });
    const sent: string[] = [];
    const failed: string[] = [];
    const queue = new RateLimitedQueue<string>(
      bucket,
      (line) => {
        if (line === "bad") throw new Error("socket gone");
        sent.push(line);
      },
      { maxQueued: 10, onError: (_error, item) => failed.push(item) },
    );
    for (const line of ["a", "bad", "c"]) queue.push(line);
    vi.advanceTimersByTime(1_000);
    expect(sent).toEqual(["a", "c"]);
    expect(failed).toEqual(["bad"]);
  });

  it("without onError, a failing send throws from push but the queue keeps draining", () => {
    const bucket = new TokenBucket({ capacity: 1, refillEveryMs: 100, now: () => Date.now() });
    const sent: string[] = [];
    const queue = new RateLimitedQueue<string>(
      bucket,
      (line) => {
        if (line === "bad") throw new Error("socket gone");
        sent.push(line);
      },
      { maxQueued: 10 },
    );
    expect(() => queue.push("bad")).toThrow("socket gone");
    queue.push("b");
    queue.push("c");
    vi.advanceTimersByTime(1_000);
    expect(sent).toEqual(["b", "c"]);
  });

  it("does not keep the process alive while items wait", () => {
    vi.useRealTimers();
    const bucket = new TokenBucket({ capacity: 1, refillEveryMs: 60_000 });
    const queue = new RateLimitedQueue<string>(bucket, () => {}, { maxQueued: 10 });
    // An unref'd timer is not listed among the resources that keep the event loop alive.
    const timeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timeouts();
    queue.push("a");
    queue.push("b");
    expect(queue.size).toBe(1);
    expect(timeouts()).toBe(before);
    queue.dispose();
  });
});
