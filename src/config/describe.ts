import type { PathSegment } from "./errors.ts";

/** What a secret looks like in any message: the value is never shown. */
export const MASK = '"***"';

// `secret`, `password`, `token`, `encryptionKey`, and any camelCase or snake_case key ending in one
// of those words or their plural (`botToken`, `saslPassword`, `sentinel_password`, `tokens`) hold
// credentials.
const SECRET_KEY = /(^|[a-z0-9_])(secret|password|token|key)s?$/i;

/** True when a config key holds a credential whose value must never be printed. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** True when the value at this path is, or sits inside, a credential. */
export function isSecretPath(path: readonly PathSegment[]): boolean {
  return path.some((segment) => typeof segment === "string" && isSecretKey(segment));
}

const MAX_SHOWN = 60;

/**
 * Describes a value found in the file for a "got …" clause: strings quoted, numbers as written,
 * lists and mappings by kind only. Secrets are masked, and so are passwords inside URLs
 * (`redis://:hunter2@host` is shown as `redis://:***@host`).
 */
export function describeValue(value: unknown, path: readonly PathSegment[]): string {
  if (value === undefined) return "nothing";
  if (isSecretPath(path)) return MASK;
  if (value === null) return "an empty value";
  if (typeof value === "string") {
    const shown = maskUrlPassword(value);
    return JSON.stringify(shown.length > MAX_SHOWN ? `${shown.slice(0, MAX_SHOWN)}…` : shown);
  }
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint")
    return String(value);
  if (Array.isArray(value)) return value.length === 0 ? "an empty list" : "a list";
  if (value instanceof Date) return "a date";
  if (typeof value === "object") return Object.keys(value).length === 0 ? "an empty mapping" : "a mapping";
  return `a ${typeof value}`;
}

/** Replaces the password of a URL with `***`; returns other text unchanged. */
export function maskUrlPassword(text: string): string {
  // A URL's userinfo is everything between "scheme://" and the last "@" before the host.
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:)[^/?#]*@/i, "$1***@");
}
