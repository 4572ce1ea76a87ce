/** The outcome of one doctor check: did it work, and a short reason for the operator. */
export interface ProbeResult {
  ok: boolean;
  /** What was found ("answered PING") or why it failed ("connection refused"). Never a secret. */
  detail: string;
}

/** A short reason for a failed network operation, from a Node or ioredis error. */
export function describeNetworkError(error: unknown, secrets: readonly string[] = []): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host name not found";
    case "ETIMEDOUT":
      return "connection timed out";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "host unreachable";
    case "ECONNRESET":
      return "connection reset by the server";
  }
  const message = error instanceof Error ? error.message : String(error);
  // Server replies such as "WRONGPASS …" are safe, but scrub anyway: a message may echo input.
  return secrets.filter((s) => s !== "").reduce((text, secret) => text.split(secret).join("***"), message);
}
