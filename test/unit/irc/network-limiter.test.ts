/**
 * The per-network egress limit (RELIABILITY.md S7: ≤ 10 lines/s per IRC server over all users)
 * and how a connection's flood queue waits on it, on a fake clock.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { NetworkLimiter, WindowPacer } from "../../../adapters/irc/network-limiter.ts";
import { RateLimitedQueue, TokenBucket } from "../../../adapters/irc/protocol/token-bucket.ts";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** The most entries of `times` inside any half-open window of `windowMs`. */
function busiestWindow(times: readonly number[], windowMs: number): number {
  let most = 0;
  for (const [i, start] of times.entries()) {
    const inside = times.slice(i).filter((t) => t < start + windowMs).length;
    most = Math.max(most, inside);
  }
  return most;
}

describe("WindowPacer", () => {
  it("grants `limit` at once, then holds the rest until the oldest grant is a window old", () => {
    const pacer = new WindowPacer(3, 1_000);
    const granted: string[] = [];
    const ask = (name: string) => {
      if (pacer.request(() => granted.push(`${name} later`))) granted.push(`${name} now`);
    };
    for (const name of ["a", "b", "c", "d", "e"]) ask(name);
    expect(granted).toEqual(["a now", "b now", "c now"]);
    expect(pacer.queued).toBe(2);
    vi.advanceTimersByTime(999);
    expect(granted).toHaveLength(3);
    vi.advanceTimersByTime(1);
    expect(granted).toEqual(["a now", "b now", "c now", "d later", "e later"]);
  });

  it("puts a newcomer behind those already waiting, even when a slot is free", () => {
    const pacer = new WindowPacer(1, 1_000);
    const order: string[] = [];
    expect(pacer.request(() => order.push("first"))).toBe(true);
    expect(pacer.request(() => order.push("second"))).toBe(false);
    vi.advanceTimersByTime(1_000);
    expect(order).toEqual(["second"]);
    expect(pacer.request(() => order.push("third"))).toBe(false);
    vi.advanceTimersByTime(1_000);
    expect(order).toEqual(["second", "third"]);
  });

  it("forgets a cancelled request", () => {
    const pacer = new WindowPacer(1, 1_000);
    const order: string[] = [];
    pacer.request(() => order.push("a"));
    const b = () => order.push("b");
    pacer.request(b);
    pacer.request(() => order.push("c"));
    pacer.cancel(b);
    vi.advanceTimersByTime(5_000);
    expect(order).toEqual(["c"]);
  });

  it("goes on granting the others when one grant throws", () => {
    const pacer = new WindowPacer(1, 1_000);
    const order: string[] = [];
    pacer.request(() => undefined);
    pacer.request(() => {
      throw new Error("socket gone");
    });
    pacer.request(() => order.push("c"));
    // The failure surfaces from the timer, as the queue's own timer would have thrown it...
    expect(() => vi.advanceTimersByTime(1_000)).toThrow("socket gone");
    // ...and the next in line still gets its turn.
    vi.advanceTimersByTime(1_000);
    expect(order).toEqual(["c"]);
  });
});

describe("connections sharing one server's limit", () => {
  it("keeps every 1 s window at ≤ 10 lines over three bursting connections, in each one's order", () => {
    const network = new NetworkLimiter(10).forServer("irc.example.org");
    const sent: { at: number; line: string }[] = [];
    const queues = ["a", "b", "c"].map(
      (name) =>
        [
          name,
          new RateLimitedQueue<string>(
            new TokenBucket({ capacity: 5, refillEveryMs: 2_000 }),
            (line) => sent.push({ at: Date.now(), line }),
            { maxQueued: 20, pacer: network },
          ),
        ] as const,
    );
    for (let i = 0; i < 8; i++) for (const [name, queue] of queues) queue.push(`${name}${i}`);
    vi.advanceTimersByTime(30_000);

    expect(sent).toHaveLength(24);
    expect(
      busiestWindow(
        sent.map((s) => s.at),
        1_000,
      ),
    ).toBeLessThanOrEqual(10);
    for (const [name] of queues) {
      const own = sent.filter((s) => s.line.startsWith(name));
      expect(own.map((s) => s.line)).toEqual(Array.from({ length: 8 }, (_, i) => `${name}${i}`));
      // Each connection keeps its own limit too: burst 5, then one per 2 s.
      expect(
        busiestWindow(
          own.map((s) => s.at),
          2_000,
        ),
      ).toBeLessThanOrEqual(5);
    }
  });

  it("lets a quiet connection through while a busy one waits (turns, not first come first served)", () => {
    const network = new NetworkLimiter(2).forServer("irc.example.org");
    const sent: string[] = [];
    const queue = (capacity: number) =>
      new RateLimitedQueue<string>(
        new TokenBucket({ capacity, refillEveryMs: 1 }),
        (line) => sent.push(line),
        { maxQueued: 100, pacer: network },
      );
    const busy = queue(100);
    const quiet = queue(1);
    for (let i = 0; i < 20; i++) busy.push(`busy${i}`);
    quiet.push("quiet");
    vi.advanceTimersByTime(2_000);
    // The busy queue got the two free slots and was first in line for the next; then the quiet
    // one had its turn, ahead of the 17 busy lines still waiting.
    expect(sent.slice(0, 5)).toEqual(["busy0", "busy1", "busy2", "quiet", "busy3"]);
  });

  it("counts a line waiting for the network against the connection's queue bound", () => {
    const network = new NetworkLimiter(1).forServer("irc.example.org");
    const sent: string[] = [];
    const queue = new RateLimitedQueue<string>(
      new TokenBucket({ capacity: 5, refillEveryMs: 2_000 }),
      (line) => sent.push(line),
      { maxQueued: 2, pacer: network },
    );
    expect(queue.push("a")).toBe(true);
    expect(queue.push("b")).toBe(true);
    expect(queue.push("c")).toBe(true);
    expect(queue.push("d")).toBe(false);
    expect(sent).toEqual(["a"]);
    vi.advanceTimersByTime(2_000);
    expect(sent).toEqual(["a", "b", "c"]);
  });

  it("withdraws a cleared queue's request, so its slot goes to the next connection", () => {
    const network = new NetworkLimiter(1).forServer("irc.example.org");
    const sent: string[] = [];
    const make = () =>
      new RateLimitedQueue<string>(
        new TokenBucket({ capacity: 5, refillEveryMs: 1 }),
        (line) => sent.push(line),
        { maxQueued: 10, pacer: network },
      );
    const first = make();
    const second = make();
    first.push("a1");
    first.push("a2");
    second.push("b1");
    expect(first.clear()).toEqual(["a2"]);
    vi.advanceTimersByTime(1_000);
    expect(sent).toEqual(["a1", "b1"]);
    vi.advanceTimersByTime(5_000);
    expect(sent).toEqual(["a1", "b1"]);
  });

  it("is one limit per server name, whatever its case", () => {
    const limiter = new NetworkLimiter(1);
    expect(limiter.forServer("IRC.example.org")).toBe(limiter.forServer("irc.example.org"));
    expect(limiter.forServer("other.example.org")).not.toBe(limiter.forServer("irc.example.org"));
  });
});

describe("TokenBucket after sitting full", () => {
  it("spaces the first refill a whole period after the burst, not what was left of an old one", () => {
    const bucket = new TokenBucket({ capacity: 5, refillEveryMs: 2_000 });
    vi.advanceTimersByTime(1_500);
    for (let i = 0; i < 5; i++) expect(bucket.tryTake()).toBe(true);
    expect(bucket.msUntilNext()).toBe(2_000);
  });
});
