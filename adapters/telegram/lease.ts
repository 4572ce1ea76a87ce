/**
 * One getUpdates poller per bot across every Postern process sharing a Redis: Telegram answers a
 * second poller with 409 and the two would steal each other's updates.
 *
 * The lease itself is the core's (`AdapterContext.leases`: an atomic compare-and-set in Redis, so
 * two processes starting at the same instant cannot both win). This class adds what the poller
 * needs on top: whether the lease can still be trusted right now without asking Redis (`valid`,
 * with a margin for the time a batch of updates takes to hand over), and taking or renewing it in
 * one call.
 */
import type { Leases } from "../../src/adapter/index.ts";

export class PollLease {
  private heldUntil = 0;

  constructor(
    private readonly leases: Leases,
    private readonly name: string,
    private readonly ttlMs: number,
  ) {}

  /** True while our lease has not run out (with a margin for the time a batch takes to handle). */
  get valid(): boolean {
    return Date.now() < this.heldUntil - Math.min(1000, this.ttlMs / 4);
  }

  /**
   * Takes or renews the lease; false when someone else holds it. Throws when Redis cannot be
   * reached (the caller then acts as if it did not hold it).
   */
  async hold(): Promise<boolean> {
    const now = Date.now();
    // Renew what we hold; after a lapse, take it again only if nobody else did meanwhile. A throw
    // leaves `heldUntil` as it was: the lease in Redis lasts at least that long either way.
    const ok =
      (this.heldUntil > now && (await this.leases.renew(this.name, this.ttlMs))) ||
      (await this.leases.acquire(this.name, this.ttlMs));
    this.heldUntil = ok ? now + this.ttlMs : 0;
    return ok;
  }

  /** Gives the lease up if we hold it, so a successor need not wait for it to expire. */
  async release(): Promise<void> {
    this.heldUntil = 0;
    await this.leases.release(this.name);
  }
}
