/**
 * What the core gives an adapter. Adapters reach Redis, logs and file hosting only through these
 * handles, never by importing `store/` or `xmpp/`.
 */
import type { Logger } from "pino";
import type { z } from "zod";
import type { FileFetcher, FilePublisher } from "./attachments.ts";
import type { SessionEvent } from "./events.ts";

/** A private key-value namespace in Redis (one per adapter, one per user of it). */
export interface KeyValueState {
  get(field: string): Promise<string | null>;
  set(field: string, value: string): Promise<void>;
  delete(field: string): Promise<void>;
  entries(): Promise<Record<string, string>>;
  /** Reads and validates; a value that fails the schema reads as null (and is logged). */
  getJson<T>(field: string, schema: z.ZodType<T>): Promise<T | null>;
  setJson(field: string, value: unknown): Promise<void>;
  /** Like get/set, but the value is encrypted at rest (passwords, tokens). */
  getSecret(field: string): Promise<string | null>;
  setSecret(field: string, value: string): Promise<void>;
}

/**
 * Leases shared by every Postern process on the same Redis (e.g. "only one process polls this
 * bot"). A lease expires after `ttlMs` unless renewed; names are private to the gateway.
 */
export interface Leases {
  /** True if this process now holds the lease (or already did). */
  acquire(name: string, ttlMs: number): Promise<boolean>;
  /** True if this process still holds it (and it was extended). */
  renew(name: string, ttlMs: number): Promise<boolean>;
  release(name: string): Promise<void>;
}

export interface AdapterContext<Settings> {
  gateway: { domain: string; name: string };
  /** The gateway's `settings` section, already validated by the adapter's `configSchema`. */
  settings: Settings;
  log: Logger;
  /** Gateway-wide state (e.g. a shared bot's update offset). */
  state: KeyValueState;
  /** Where to publish files received from the network; undefined when the operator set none. */
  files: FilePublisher | undefined;
  /** Fetches files users attach, safely (see FileFetcher). */
  fetcher: FileFetcher;
  leases: Leases;
}

export interface SessionContext {
  /** The bare JID of the XMPP user who owns this session. */
  user: string;
  /** The user's registration values, secrets decrypted. Never log them. */
  registration: Record<string, string>;
  /** State private to this user on this gateway. */
  state: KeyValueState;
  log: Logger;
  /**
   * Reports what happened on the network. Resolves once the resulting stanzas were written to the
   * XMPP connection or stored in the gateway's outbox for when the XMPP server is back (so a
   * cursor may be advanced); rejects if neither was possible.
   */
  emit(event: SessionEvent): Promise<void>;
}

export type { Logger };
