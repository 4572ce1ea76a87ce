/**
 * One queue per conversation: work for the same key runs strictly one after another, in the
 * order it was submitted; different keys run in parallel. `@xmpp/component` hands us stanzas
 * concurrently and adapters emit events concurrently, so without this a fast sender's messages
 * could overtake each other.
 */
export class QueueFullError extends Error {
  constructor(readonly key: string) {
    super(`too many pending items for ${key}`);
    this.name = "QueueFullError";
  }
}

export class KeyedSerialQueue {
  private readonly tails = new Map<string, { promise: Promise<void>; pending: number }>();

  /** @param maxPending bound on waiting items per key; beyond it `run` rejects with QueueFullError. */
  constructor(private readonly maxPending = 1_000) {}

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const tail = this.tails.get(key) ?? { promise: Promise.resolve(), pending: 0 };
    if (tail.pending >= this.maxPending) return Promise.reject(new QueueFullError(key));
    tail.pending += 1;
    const result = tail.promise.then(task);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    tail.promise = settled;
    this.tails.set(key, tail);
    void settled.then(() => {
      tail.pending -= 1;
      if (tail.pending === 0 && this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Resolves when everything submitted so far has finished. */
  async drain(): Promise<void> {
    await Promise.all([...this.tails.values()].map((t) => t.promise));
  }

  get size(): number {
    return this.tails.size;
  }
}
