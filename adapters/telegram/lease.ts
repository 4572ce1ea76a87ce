/**
 * One getUpdates poller per bot across every Postern process sharing a Redis: Telegram answers a
 * second poller with 409 and the two would steal each other's updates.
 *
 * BEST EFFORT: the adapter contract gives adapters only `KeyValueState` (get/set, no
 * compare-and-set), so taking the lease is read → write → read back after a pause, which two
 * processes starting in the same ~100 ms could both pass. The core's `Locks` (store/lock.ts) does
 * it atomically; the contract should expose it (see the adapter's report). The harm of a lost race
 * is bounded: Telegram's own rule ends the older long poll with 409, and the offset stored per
 * update keeps either poller from re-delivering what the other already delivered.
 */
import { z } from "zod";
import type { KeyValueState } from "../../src/adapter/index.ts";
import { sleep } from "./pacing.ts";

const leaseSchema = z.object({ holder: z.string(), until: z.number() });

/** Pause before reading our write back, to let a concurrent taker's write land. */
const SETTLE_MS = 100;

export class PollLease {
  private heldUntil = 0;

  constructor(
    private readonly state: KeyValueState,
    private readonly field: string,
    private readonly holder: string,
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
    const current = await this.state.getJson(this.field, leaseSchema);
    if (current && current.holder !== this.holder && current.until > now) {
      this.heldUntil = 0;
      return false;
    }
    const until = now + this.ttlMs;
    await this.state.setJson(this.field, { holder: this.holder, until });
    if (current?.holder !== this.holder) {
      await sleep(SETTLE_MS);
      const check = await this.state.getJson(this.field, leaseSchema);
      if (check?.holder !== this.holder) {
        this.heldUntil = 0;
        return false;
      }
    }
    this.heldUntil = until;
    return true;
  }

  /** Gives the lease up if we hold it, so a successor need not wait for it to expire. */
  async release(): Promise<void> {
    this.heldUntil = 0;
    const current = await this.state.getJson(this.field, leaseSchema);
    if (current?.holder === this.holder) await this.state.delete(this.field);
  }
}
