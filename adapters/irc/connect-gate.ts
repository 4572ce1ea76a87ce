/**
 * The gateway-wide connect queue: new connections to one IRC server start at most one per
 * `minIntervalMs`, in the order they asked. Without it a server restart or a netsplit turns
 * every user's reconnect into one burst, which servers punish by banning the gateway's address.
 */
import { setTimeout as sleep } from "node:timers/promises";

export class ConnectGate {
  /** Per server: the earliest time the next connection may start. */
  private readonly nextSlot = new Map<string, number>();

  constructor(private readonly minIntervalMs: number) {}

  /**
   * Resolves when a new connection to `server` may start. Each call reserves the next free slot,
   * so callers are served in order; rejects (with the signal's reason) if aborted while waiting.
   */
  async wait(server: string, signal?: AbortSignal): Promise<void> {
    const now = Date.now();
    const slot = Math.max(now, this.nextSlot.get(server) ?? 0);
    this.nextSlot.set(server, slot + this.minIntervalMs);
    if (slot > now) await sleep(slot - now, undefined, { signal });
    signal?.throwIfAborted();
  }
}
