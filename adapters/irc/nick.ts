/**
 * The IRC nick a user gets when they have not chosen one: their JID's localpart, reduced to the
 * characters every IRC server accepts in nicks (RFC 2812: letters, digits, `-[]\`^{}|_`).
 * Look-alike and invisible characters (U+202E, zero-width joiners, Cyrillic) are dropped rather
 * than mapped, so two JIDs never turn into a nick that only looks like another one.
 */
import { isValidNick } from "./protocol/params.ts";

const NICK_CHARS = /[^A-Za-z0-9_\-[\]\\`^{}|]/g;
const MAX_DEFAULT_NICK = 16;

/** A valid IRC nick derived from `jid` (bare or full). */
export function defaultNick(jid: string): string {
  const at = jid.indexOf("@");
  const local = at === -1 ? "" : jid.slice(0, at);
  let nick = local.normalize("NFKC").replace(NICK_CHARS, "").slice(0, MAX_DEFAULT_NICK);
  // Nicks may not start with a digit or '-'.
  if (/^[0-9-]/.test(nick)) nick = `_${nick}`.slice(0, MAX_DEFAULT_NICK);
  return isValidNick(nick) ? nick : "xmppuser";
}
