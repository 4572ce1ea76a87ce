/**
 * Everything the bench starts is stopped at the end: on success, on failure, and on Ctrl-C.
 * Closers run last-registered first (a gateway before the servers it talks to).
 */

type Closer = { what: string; close: () => Promise<void> };

const closers: Closer[] = [];
let closing: Promise<void> | undefined;

/** Registers something to stop at the end; returns a function that stops it now, once. */
export function onCleanup(what: string, close: () => Promise<void>): () => Promise<void> {
  let done = false;
  const entry: Closer = {
    what,
    close: async () => {
      if (done) return;
      done = true;
      await close();
    },
  };
  closers.push(entry);
  return async () => {
    const index = closers.indexOf(entry);
    if (index !== -1) closers.splice(index, 1);
    await entry.close();
  };
}

/** Stops everything registered, newest first; each closer gets `perCloserMs` before the next runs. */
export function cleanupAll(perCloserMs = 15_000): Promise<void> {
  closing ??= (async () => {
    while (closers.length > 0) {
      const closer = closers.pop()!;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          closer.close(),
          new Promise<void>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${perCloserMs} ms`)), perCloserMs);
          }),
        ]);
      } catch (error) {
        process.stderr.write(`bench: stopping ${closer.what} failed: ${(error as Error).message}\n`);
      } finally {
        clearTimeout(timer);
      }
    }
  })();
  return closing;
}

/** On Ctrl-C or SIGTERM: stop everything, then exit 130 / 143. A second signal exits at once. */
export function stopOnSignals(): void {
  let signalled = false;
  const handler = (signal: NodeJS.Signals) => {
    if (signalled) process.exit(1);
    signalled = true;
    process.stderr.write(`\nbench: ${signal}, stopping everything it started…\n`);
    void cleanupAll().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
}
