/**
 * Drives an adapter without the core: a SessionContext with an in-memory KeyValueState, and
 * every emitted event kept in order so tests can wait for one (bounded, with a name for the
 * failure message).
 */
import pino from "pino";
import type { z } from "zod";
import type { KeyValueState, Leases, SessionContext, SessionEvent } from "../../src/adapter/index.ts";
import { SafeFetcher } from "../../src/http/safe-fetch.ts";

/** KeyValueState in a Map; "secrets" are kept apart so tests can check they went there. */
export class MemoryState implements KeyValueState {
  readonly values = new Map<string, string>();
  readonly secrets = new Map<string, string>();

  async get(field: string): Promise<string | null> {
    return this.values.get(field) ?? null;
  }
  async set(field: string, value: string): Promise<void> {
    this.values.set(field, value);
  }
  async delete(field: string): Promise<void> {
    this.values.delete(field);
    this.secrets.delete(field);
  }
  async entries(): Promise<Record<string, string>> {
    return Object.fromEntries([
      ...this.values,
      ...[...this.secrets.keys()].map((k) => [k, "(secret)"] as const),
    ]);
  }
  async getJson<T>(field: string, schema: z.ZodType<T>): Promise<T | null> {
    const raw = this.values.get(field);
    if (raw === undefined) return null;
    const parsed = schema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  }
  async setJson(field: string, value: unknown): Promise<void> {
    this.values.set(field, JSON.stringify(value));
  }
  async getSecret(field: string): Promise<string | null> {
    return this.secrets.get(field) ?? null;
  }
  async setSecret(field: string, value: string): Promise<void> {
    this.secrets.set(field, value);
  }
}

export interface HarnessSession {
  context: SessionContext;
  state: MemoryState;
  /** Every event emitted so far, in order. */
  events: SessionEvent[];
  /** Index the next event will get; pass as `since`. */
  mark(): number;
  /** The first event at or after `since` matching `match`; fails after `timeoutMs` naming `what`. */
  waitForEvent<E extends SessionEvent = SessionEvent>(
    match: (event: SessionEvent) => boolean,
    what: string,
    options?: { since?: number; timeoutMs?: number },
  ): Promise<E>;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** A SessionContext for `user` that records what the adapter emits. */
export function harnessSession(user: string, registration: Record<string, string> = {}): HarnessSession {
  const events: SessionEvent[] = [];
  const listeners = new Set<() => void>();
  const state = new MemoryState();
  const log = pino({ level: process.env.LOG_LEVEL ?? "silent" });
  const context: SessionContext = {
    user,
    registration,
    state,
    log,
    async emit(event) {
      events.push(event);
      for (const listener of listeners) listener();
    },
  };
  return {
    context,
    state,
    events,
    mark: () => events.length,
    waitForEvent<E extends SessionEvent>(
      match: (event: SessionEvent) => boolean,
      what: string,
      options: { since?: number; timeoutMs?: number } = {},
    ): Promise<E> {
      const since = options.since ?? 0;
      const found = events.slice(since).find(match);
      if (found) return Promise.resolve(found as E);
      return new Promise((resolve, reject) => {
        const listener = () => {
          const event = events[events.length - 1];
          if (event !== undefined && match(event)) {
            listeners.delete(listener);
            clearTimeout(timer);
            resolve(event as E);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(listener);
          const tail = events
            .slice(-10)
            .map((e) => `  ${JSON.stringify(e)}`)
            .join("\n");
          reject(
            new Error(
              `timed out after ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms waiting for ${what}; last events:\n${tail}`,
            ),
          );
        }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
        listeners.add(listener);
      });
    },
  };
}

/**
 * Leases in memory, for adapter-level tests. Instances given the same `shared` map compete like
 * two processes on one Redis.
 */
export class MemoryLeases implements Leases {
  constructor(private readonly shared = new Map<string, { holder: MemoryLeases; expires: number }>()) {}

  async acquire(name: string, ttlMs: number): Promise<boolean> {
    const current = this.shared.get(name);
    if (current && current.holder !== this && current.expires > Date.now()) return false;
    this.shared.set(name, { holder: this, expires: Date.now() + ttlMs });
    return true;
  }

  async renew(name: string, ttlMs: number): Promise<boolean> {
    const current = this.shared.get(name);
    if (current?.holder !== this || current.expires <= Date.now()) return false;
    current.expires = Date.now() + ttlMs;
    return true;
  }

  async release(name: string): Promise<void> {
    if (this.shared.get(name)?.holder === this) this.shared.delete(name);
  }
}

/** The real fetcher with small limits, for adapter-level tests; `allowOrigins` admits a local test server. */
export function testFetcher(allowOrigins: string[] = []): SafeFetcher {
  return new SafeFetcher({ maxBytes: 5_000_000, timeoutMs: 10_000, allowOrigins });
}
