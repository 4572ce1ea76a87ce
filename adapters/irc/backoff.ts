/**
 * When to try again after a connection to an IRC server was lost.
 *
 * Exponential backoff with jitter, so that when a server restarts its many users do not all
 * come back in the same second; and a long pause after a ban, because hammering a server that
 * K-lined us is how a gateway's whole address gets banned.
 */

/** Reconnect delays, from the gateway's settings. */
export interface BackoffSettings {
  minMs: number;
  maxMs: number;
  bannedMs: number;
}

/**
 * The delay before reconnect attempt `attempt` (0 for the first): a random value between half
 * and all of min(maxMs, minMs·2^attempt) ("equal jitter"), never below minMs.
 */
export function reconnectDelay(attempt: number, settings: BackoffSettings, random = Math.random): number {
  const ceiling = Math.min(settings.maxMs, settings.minMs * 2 ** Math.min(attempt, 30));
  return Math.max(settings.minMs, Math.round(ceiling / 2 + random() * (ceiling / 2)));
}

/**
 * Whether a server's closing words say we are banned (K-line, G-line, Z-line, AKILL), e.g.
 * `ERROR :Closing Link: host (K-lined: Banned)`; then we wait `bannedMs` before trying again.
 */
export function isBanReason(reason: string): boolean {
  return /\b(banned|[kgzd]-?lined?|akill|autokill)\b/i.test(reason);
}
