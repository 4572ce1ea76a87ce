/**
 * Polls `check` until it holds (it may be async). Throws after `timeoutMs`, naming what it waited
 * for, so a failing test says which step never happened; `context` adds what helps to see why
 * (e.g. the end of a process's output).
 */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
  context?: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${context ? `\n${context()}` : ""}`,
      );
    await new Promise((r) => setTimeout(r, 25));
  }
}
