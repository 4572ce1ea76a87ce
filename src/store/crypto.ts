/**
 * Encryption at rest for secrets kept in Redis (IRC and SASL passwords, bot tokens, …).
 *
 * AES-256-GCM with a random 12-byte IV per value. The associated data names where a value belongs
 * (user, gateway, field): a ciphertext copied into another user's registration, or into another
 * field, fails to open instead of handing over someone else's secret.
 *
 * Sealed format: `v1:` + base64(iv ‖ tag ‖ ciphertext). The version prefix leaves room for a
 * later format or key rotation without guessing.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

const VERSION = "v1:";
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Seals and opens secrets with one AES-256-GCM key. */
export class SecretBox {
  readonly #key: Buffer;

  private constructor(key: Buffer) {
    this.#key = key;
  }

  /**
   * Accepts the key as 64 hex characters or as base64 (standard or URL-safe) of 32 bytes.
   * Throws an Error saying what was expected; the error never contains the key.
   */
  static fromKey(key: string): SecretBox {
    const text = key.trim();
    if (/^[0-9a-fA-F]{64}$/.test(text)) return new SecretBox(Buffer.from(text, "hex"));
    // 32 bytes are 43 base64 characters plus one '=' of padding (optional here).
    if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) {
      const bytes = Buffer.from(text.replace(/-/g, "+").replace(/_/g, "/"), "base64");
      if (bytes.length === KEY_BYTES) return new SecretBox(bytes);
    }
    throw new Error(
      "encryption key must be 32 bytes given as 64 hex characters or as base64 (44 characters); " +
        "generate one with: openssl rand -hex 32",
    );
  }

  /** Encrypts `plaintext`, bound to `associatedData` (which is authenticated, not hidden). */
  seal(plaintext: string, associatedData: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(associatedData, "utf8"));
    const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return VERSION + Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString("base64");
  }

  /** Decrypts a value made by `seal` with the same key and associated data; throws otherwise. */
  open(sealed: string, associatedData: string): string {
    // Deliberately one message for every failure: the caller learns nothing about which part was wrong.
    const failure = new Error("cannot open sealed value: wrong key, wrong associated data or tampered data");
    if (!sealed.startsWith(VERSION)) throw failure;
    const raw = Buffer.from(sealed.slice(VERSION.length), "base64");
    if (raw.length < IV_BYTES + TAG_BYTES) throw failure;
    const iv = raw.subarray(0, IV_BYTES);
    const tag = raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES);
    const ciphertext = raw.subarray(IV_BYTES + TAG_BYTES);
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.#key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(associatedData, "utf8"));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString("utf8");
    } catch {
      throw failure;
    }
  }
}
