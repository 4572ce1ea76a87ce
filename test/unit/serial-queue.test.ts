/**
 * KeyedSerialQueue: items of one key in order; pipelined items start back to back and finish in
 * order; a plain item waits for the finishes before it; failures reach their caller only.
 */
import { describe, expect, it } from "vitest";
import { awaitedLater, KeyedSerialQueue } from "../../src/core/serial-queue.ts";

/** A promise settled from outside, like a store reply that comes when the test says. */
function reply<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("KeyedSerialQueue.runPipelined", () => {
  it("starts every item before the first one's reply is in, and finishes them in order", async () => {
    const queue = new KeyedSerialQueue();
    const log: string[] = [];
    const replies = [reply<string>(), reply<string>(), reply<string>()];
    const results = replies.map((r, i) =>
      queue.runPipelined("room", async () => {
        log.push(`start ${i}`);
        const answer = awaitedLater(r.promise);
        return async () => {
          log.push(`finish ${i}: ${await answer}`);
          return i;
        };
      }),
    );
    await tick();
    expect(log).toEqual(["start 0", "start 1", "start 2"]);
    // Replies out of order: the finishes still go in submission order.
    replies[2]?.resolve("c");
    replies[1]?.resolve("b");
    await tick();
    expect(log).toHaveLength(3);
    replies[0]?.resolve("a");
    expect(await Promise.all(results)).toEqual([0, 1, 2]);
    expect(log.slice(3)).toEqual(["finish 0: a", "finish 1: b", "finish 2: c"]);
  });

  it("runs a plain item only after the finishes submitted before it", async () => {
    const queue = new KeyedSerialQueue();
    const log: string[] = [];
    const gate = reply<void>();
    const message = queue.runPipelined("room", async () => async () => {
      await gate.promise;
      log.push("message sent");
    });
    const topic = queue.run("room", async () => {
      log.push("topic sent");
    });
    const elsewhere = queue.run("other room", async () => {
      log.push("other room");
    });
    await elsewhere;
    await tick();
    expect(log).toEqual(["other room"]);
    gate.resolve();
    await Promise.all([message, topic]);
    expect(log).toEqual(["other room", "message sent", "topic sent"]);
  });

  it("rejects only the failing item, and the key keeps going", async () => {
    const queue = new KeyedSerialQueue();
    const failedWrite = reply<string>();
    const first = queue.runPipelined("room", async () => {
      const written = awaitedLater(failedWrite.promise);
      return async () => {
        await written;
      };
    });
    const second = queue.runPipelined("room", async () => async () => "sent");
    const third = queue.runPipelined("room", async () => {
      throw new Error("start failed");
    });
    const fourth = queue.run("room", async () => "after");
    // Rejected before its finish runs: handled (awaitedLater), so not an unhandled rejection.
    failedWrite.reject(new Error("store down"));
    await expect(first).rejects.toThrow("store down");
    await expect(second).resolves.toBe("sent");
    await expect(third).rejects.toThrow("start failed");
    await expect(fourth).resolves.toBe("after");
    await queue.drain();
    expect(queue.size).toBe(0);
  });

  it("stops starting items while 100 finishes of the key are waiting", async () => {
    const queue = new KeyedSerialQueue();
    const gate = reply<void>();
    let started = 0;
    const items = Array.from({ length: 150 }, () =>
      queue.runPipelined("room", async () => {
        started += 1;
        return () => gate.promise;
      }),
    );
    for (let i = 0; i < 5; i++) await tick();
    expect(started).toBe(100);
    gate.resolve();
    await Promise.all(items);
    expect(started).toBe(150);
  });
});
