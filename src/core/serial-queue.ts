/**
 * One queue per conversation: work for the same key runs strictly one after another, in the
 * order it was submitted; different keys run in parallel. `@xmpp/component` hands us stanzas
 * concurrently and adapters emit events concurrently, so without this a fast sender's messages
 * could overtake each other.
 *
 * Work that waits on a slow store (a Redis round trip per message) can be pipelined with
 * `runPipelined`: each item's start still runs in order, but the next item starts as soon as the
 * previous one has *issued* its requests, and their finishes (the sends) run in order on a second
 * chain. Without it a conversation handles one message per store round trip, which under a
 * 0.5 s Redis latency is far slower than the messages arrive (RELIABILITY.md R11).
 */
export class QueueFullError extends Error {
  constructor(readonly key: string) {
    super(`too many pending items for ${key}`);
    this.name = "QueueFullError";
  }
}

interface Chain {
  promise: Promise<void>;
  pending: number;
}

/** A finish waits behind at most this many earlier finishes of its key before starts pause. */
const MAX_IN_FLIGHT = 100;

const ignore = () => undefined;

export class KeyedSerialQueue {
  private readonly tails = new Map<string, Chain>();
  /** Per key, the finishes of pipelined items that started and have not finished yet. */
  private readonly finishes = new Map<string, Chain>();

  /** @param maxPending bound on waiting items per key; beyond it `run` rejects with QueueFullError. */
  constructor(private readonly maxPending = 1_000) {}

  /** Runs `task` after everything submitted earlier for `key`, pipelined items' finishes included. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    return this.enqueue(key, async () => {
      await this.finishes.get(key)?.promise;
      return task();
    });
  }

  /**
   * Runs `start` in order with the key's other items, then its returned `finish` after the
   * finishes of the items started before it — without holding up the next item's start. The
   * result is `finish`'s. `start` must issue whatever it needs in order (e.g. store writes on
   * one connection) and leave the waiting for their replies to `finish`; a promise it creates
   * for `finish` to await must carry a catch of its own, since it may reject before `finish` runs.
   */
  runPipelined<T>(key: string, start: () => Promise<() => Promise<T>>): Promise<T> {
    let finished: Promise<T> | undefined;
    const started = this.enqueue(key, async () => {
      let chain = this.finishes.get(key);
      // Bounded: a key whose sends are stuck stops starting new items instead of piling them up.
      while (chain && chain.pending >= MAX_IN_FLIGHT) {
        await chain.promise;
        chain = this.finishes.get(key);
      }
      const finish = await start();
      const current = chain ?? { promise: Promise.resolve(), pending: 0 };
      current.pending += 1;
      finished = current.promise.then(finish);
      current.promise = finished.then(ignore, ignore);
      this.finishes.set(key, current);
      void current.promise.then(() => this.release(this.finishes, key, current));
    });
    return started.then(() => finished as Promise<T>);
  }

  private enqueue<T>(key: string, task: () => Promise<T>): Promise<T> {
    const tail = this.tails.get(key) ?? { promise: Promise.resolve(), pending: 0 };
    if (tail.pending >= this.maxPending) return Promise.reject(new QueueFullError(key));
    tail.pending += 1;
    const result = tail.promise.then(task);
    tail.promise = result.then(ignore, ignore);
    this.tails.set(key, tail);
    void tail.promise.then(() => this.release(this.tails, key, tail));
    return result;
  }

  private release(chains: Map<string, Chain>, key: string, chain: Chain): void {
    chain.pending -= 1;
    if (chain.pending === 0 && chains.get(key) === chain) chains.delete(key);
  }

  /** Resolves when everything submitted so far has finished. */
  async drain(): Promise<void> {
    await Promise.all([...this.tails.values()].map((t) => t.promise));
    await Promise.all([...this.finishes.values()].map((t) => t.promise));
  }

  get size(): number {
    return this.tails.size;
  }
}

/**
 * Marks `promise` as handled now and returns it, for a promise issued in a pipelined start and
 * awaited only in its finish: a rejection in between must not count as unhandled (which ends
 * the process), and the finish still sees it.
 */
export function awaitedLater<T>(promise: Promise<T>): Promise<T> {
  promise.catch(ignore);
  return promise;
}
