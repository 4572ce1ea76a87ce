/**
 * Scripted failures (`injectFault`). A fault matches requests by method (any case) and
 * token, fires `times` times (default 1, `Infinity` for always) and, with
 * `probability`, only on that share of matching requests (drawn from a seeded
 * generator so runs repeat). The first matching fault wins.
 */

/** What an injected fault does to a matching request. */
export type FaultKind =
  /** Answer 429 `Too Many Requests: retry after N` without performing the call. */
  | { status: 429; retry_after: number }
  /**
   * Answer a server error without performing the call. 500 (or any status with a
   * description) is a JSON error body; 502 and 503 without a description are the HTML
   * page the nginx in front of api.telegram.org sends, which is not JSON at all.
   */
  | { status: 500 | 502 | 503; description?: string }
  /** Answer a client error with this exact description, without performing the call. */
  | { status: 400 | 401 | 403; description: string }
  /** Perform the call normally but answer only after `ms` (a hang if long enough). */
  | { kind: "delay"; ms: number }
  /** Destroy the connection before doing anything. */
  | { kind: "reset-before" }
  /** Perform the call (the message IS sent), then destroy the connection without answering. */
  | { kind: "reset-after" };

/** A fault to inject. */
export interface FaultSpec {
  method?: string;
  token?: string;
  times?: number;
  probability?: number;
  kind: FaultKind;
}

interface ActiveFault {
  method?: string;
  token?: string;
  remaining: number;
  probability: number;
  kind: FaultKind;
}

/** Handle to remove a fault early. */
export interface FaultHandle {
  remove(): void;
  /** How many times it has fired so far. */
  fired(): number;
}

/** The list of active faults of one server. */
export class FaultList {
  private faults: ActiveFault[] = [];
  private readonly counts = new Map<ActiveFault, number>();
  private seed: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
  }

  /** Adds a fault. */
  add(spec: FaultSpec): FaultHandle {
    const fault: ActiveFault = {
      ...(spec.method !== undefined ? { method: spec.method.toLowerCase() } : {}),
      ...(spec.token !== undefined ? { token: spec.token } : {}),
      remaining: spec.times ?? 1,
      probability: spec.probability ?? 1,
      kind: spec.kind,
    };
    this.faults.push(fault);
    this.counts.set(fault, 0);
    return {
      remove: () => {
        this.faults = this.faults.filter((f) => f !== fault);
      },
      fired: () => this.counts.get(fault) ?? 0,
    };
  }

  /** The fault to apply to this request, if one fires (consuming one of its `times`). */
  take(method: string, token: string): FaultKind | undefined {
    const lower = method.toLowerCase();
    for (const fault of this.faults) {
      if (fault.method !== undefined && fault.method !== lower) continue;
      if (fault.token !== undefined && fault.token !== token) continue;
      if (fault.probability < 1 && this.random() >= fault.probability) continue;
      fault.remaining--;
      this.counts.set(fault, (this.counts.get(fault) ?? 0) + 1);
      if (fault.remaining <= 0) this.faults = this.faults.filter((f) => f !== fault);
      return fault.kind;
    }
    return undefined;
  }

  /** mulberry32: small, seeded, good enough to spread faults. */
  private random(): number {
    this.seed = (this.seed + 0x6d2b79f5) >>> 0;
    let t = this.seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}
