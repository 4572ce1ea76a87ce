/**
 * A namespaced key-value handle over one Redis hash: what an adapter receives as its private
 * state (per user, or gateway-wide). Adapters never see Redis or key names, so they cannot read
 * or overwrite anything outside their namespace.
 */
import type { z } from "zod";
import type { SecretBox } from "./crypto.ts";
import type { RedisClient } from "./redis.ts";

/** Thrown by `getJson` when a stored value is not JSON or does not match the schema. */
export class StateValidationError extends Error {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    // The value itself is left out: state may hold data the logs must not.
    super(`stored state field "${field}" is invalid: ${reason}`);
    this.name = "StateValidationError";
  }
}

/** Fields written by setSecret carry this prefix, so `entries()` shows they are sealed. */
const SECRET_PREFIX = "s:";

/** String fields in one Redis hash, with validated JSON helpers. */
export class StateNamespace {
  /** @param box encrypts the fields written with `setSecret`; without one, those calls throw. */
  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
    private readonly box?: SecretBox,
  ) {}

  /** Stores `value` encrypted, bound to this namespace and field (it cannot be moved elsewhere). */
  async setSecret(field: string, value: string): Promise<void> {
    await this.set(SECRET_PREFIX + field, this.requireBox().seal(value, this.sealContext(field)));
  }

  /** The decrypted value written by `setSecret`, or null. */
  async getSecret(field: string): Promise<string | null> {
    const sealed = await this.get(SECRET_PREFIX + field);
    return sealed === null ? null : this.requireBox().open(sealed, this.sealContext(field));
  }

  private requireBox(): SecretBox {
    if (!this.box) throw new Error("this state namespace has no encryption key");
    return this.box;
  }

  private sealContext(field: string): string {
    return JSON.stringify(["state", this.key, field]);
  }

  /** The field's value, or null if it is not set. */
  async get(field: string): Promise<string | null> {
    return this.redis.hget(this.key, field);
  }

  async set(field: string, value: string): Promise<void> {
    await this.redis.hset(this.key, field, value);
  }

  async delete(field: string): Promise<void> {
    await this.redis.hdel(this.key, field);
  }

  /**
   * The field parsed as JSON and checked against `schema`, or null if it is not set.
   * Throws StateValidationError if the stored value does not fit: silently answering null would
   * let an adapter overwrite state it merely failed to read.
   */
  async getJson<T>(field: string, schema: z.ZodType<T>): Promise<T | null> {
    const raw = await this.get(field);
    if (raw === null) return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new StateValidationError(field, "not JSON");
    }
    const result = schema.safeParse(parsed);
    if (!result.success) {
      throw new StateValidationError(field, result.error.issues.map((issue) => issue.message).join("; "));
    }
    return result.data;
  }

  /** Stores `value` as JSON (it must be JSON-serialisable). */
  async setJson(field: string, value: unknown): Promise<void> {
    await this.set(field, JSON.stringify(value));
  }

  /** Every field and value of the namespace. */
  async entries(): Promise<Record<string, string>> {
    return this.redis.hgetall(this.key);
  }
}
