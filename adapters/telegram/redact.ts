/**
 * Keeping bot tokens out of sight. A token is `<bot id>:<secret>`; it appears in every Bot API URL
 * and in file download URLs, so any text that might hold one passes through here before it is
 * logged, shown to a user or put in an error.
 */

/** Anything shaped like a bot token, anywhere in a string (URLs included). */
const TOKEN_PATTERN = /\d{3,}:[A-Za-z0-9_-]{20,}/g;

/** `text` with `token` and anything else token-shaped replaced by `[redacted]`. */
export function redactToken(text: string, token?: string): string {
  let out = token ? text.split(token).join("[redacted]") : text;
  out = out.replace(TOKEN_PATTERN, "[redacted]");
  return out;
}

/** The bot id part of a token (safe to log), or undefined when it is malformed. */
export function botIdOf(token: string): string | undefined {
  return /^(\d+):[\w-]+$/.exec(token)?.[1];
}
