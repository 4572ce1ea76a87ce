/**
 * Names from another network shown to XMPP users (occupant nicks, contact names) without the
 * invisible characters that make one name look like another or reverse the text around it
 * (RELIABILITY.md S11): bidirectional overrides and isolates, zero-width characters, controls.
 */
const INVISIBLE = /[\u0000-\u001F\u007F-\u009F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g;

/** The name without invisible characters; a name that was nothing else becomes "?". */
export function displayName(name: string): string {
  const visible = name.replace(INVISIBLE, "").trim();
  return visible === "" ? "?" : visible;
}

/** True when the name carries characters `displayName` would remove. */
export function hasInvisibleCharacters(name: string): boolean {
  INVISIBLE.lastIndex = 0;
  return INVISIBLE.test(name);
}
