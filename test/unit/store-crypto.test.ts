import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SecretBox } from "../../src/store/crypto.ts";

const hexKey = randomBytes(32).toString("hex");
const box = SecretBox.fromKey(hexKey);

describe("SecretBox", () => {
  it("opens what it sealed, for any text and associated data", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.string({ unit: "binary" }), (plaintext, ad) => {
        const sealed = box.seal(plaintext, ad);
        expect(sealed.startsWith("v1:")).toBe(true);
        expect(box.open(sealed, ad)).toBe(plaintext);
      }),
    );
  });

  it("never seals the same text to the same value (random IV) and never shows the plaintext", () => {
    const a = box.seal("hunter2-canary", "ad");
    const b = box.seal("hunter2-canary", "ad");
    expect(a).not.toBe(b);
    expect(a).not.toContain("hunter2");
    expect(Buffer.from(a.slice(3), "base64").toString("latin1")).not.toContain("hunter2");
  });

  it("rejects a value opened with other associated data (another user or field)", () => {
    const sealed = box.seal("secret", '["registration","gw","alice@example.org","password"]');
    expect(() => box.open(sealed, '["registration","gw","bob@example.org","password"]')).toThrow(
      /cannot open/,
    );
  });

  it("rejects any tampered byte", () => {
    const sealed = box.seal("a secret long enough to matter", "ad");
    const raw = Buffer.from(sealed.slice(3), "base64");
    for (let i = 0; i < raw.length; i++) {
      const tampered = Buffer.from(raw);
      tampered[i] = (tampered[i] ?? 0) ^ 0x01;
      expect(() => box.open(`v1:${tampered.toString("base64")}`, "ad")).toThrow(/cannot open/);
    }
    expect(() => box.open(`v1:${raw.subarray(0, 20).toString("base64")}`, "ad")).toThrow(/cannot open/);
    expect(() => box.open(sealed.replace("v1:", "v2:"), "ad")).toThrow(/cannot open/);
    expect(() => box.open("plain text", "ad")).toThrow(/cannot open/);
  });

  it("rejects a value sealed under another key", () => {
    const other = SecretBox.fromKey(randomBytes(32).toString("hex"));
    expect(() => other.open(box.seal("secret", "ad"), "ad")).toThrow(/cannot open/);
  });

  it("accepts the key as hex or base64 of 32 bytes, the same key either way", () => {
    const bytes = Buffer.from(hexKey, "hex");
    const fromBase64 = SecretBox.fromKey(bytes.toString("base64"));
    const fromBase64Url = SecretBox.fromKey(bytes.toString("base64url"));
    const sealed = box.seal("same key", "ad");
    expect(fromBase64.open(sealed, "ad")).toBe("same key");
    expect(fromBase64Url.open(sealed, "ad")).toBe("same key");
  });

  it("refuses a malformed key with a message naming the expected form and not echoing the key", () => {
    const attempts = [
      "short-secret-canary",
      "zz".repeat(32), // 64 characters, not hex
      randomBytes(31).toString("hex"),
      randomBytes(16).toString("base64"),
      randomBytes(33).toString("base64"),
      "",
    ];
    for (const key of attempts) {
      let message = "";
      try {
        SecretBox.fromKey(key);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/64 hex characters or as base64/);
      if (key !== "") expect(message).not.toContain(key);
    }
  });
});
