/**
 * Which nick a user gets on an IRC server (RELIABILITY.md S11).
 *
 * Two XMPP users never share an IRC nick because each has their own connection and the IRC
 * server refuses a nick that is already taken under its CASEMAPPING (433; ngIRCd folds ASCII
 * case, InspIRCd also `[]\~` onto `{}|^`). What Postern must get right is the rest:
 * - the nick it registers with is one every server accepts (RFC 2812 characters), so the
 *   answer to a taken nick is 433 and never 432 "erroneous nickname", which no `_` suffix
 *   could ever cure;
 * - on 433 it tries {@link nickAlternatives}, which stay portable and fold differently from the
 *   taken nick under every casemapping;
 * - the nick never holds characters that are invisible or turn the text around them, so what
 *   IRC users read is what is there.
 */
import { isValidNick } from "./protocol/params.ts";

const NICK_CHARS = /[^A-Za-z0-9_\-[\]\\`^{}|]/g;
/** RFC 2812 §2.3.1: a letter or one of `[]\`_^{|}` first, then also digits and '-'. */
const PORTABLE_NICK = /^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]*$/;
const MAX_DEFAULT_NICK = 16;
/** How many `_` alternatives are tried before a random one. */
const UNDERSCORE_ALTERNATIVES = 3;

/**
 * Unicode's default-ignorable characters: bidirectional overrides, embeddings and isolates,
 * zero-width characters, joiners, variation selectors, fillers and the byte-order mark.
 * They show nothing, or reorder what is around them.
 */
const HIDDEN = /\p{Default_Ignorable_Code_Point}/u;

/** True when `nick` holds a character that is invisible or changes the direction of text. */
export function hasHiddenCharacters(nick: string): boolean {
  return HIDDEN.test(nick);
}

/**
 * True when every IRC server accepts `nick` as it is: RFC 2812 characters only (ASCII letters,
 * digits, `-[]\`^{}|_`, not starting with a digit or '-') and at most 30 bytes.
 */
export function isPortableNick(nick: string): boolean {
  return PORTABLE_NICK.test(nick) && isValidNick(nick);
}

/** A valid IRC nick derived from `jid` (bare or full): its localpart, reduced to RFC 2812 characters. */
export function defaultNick(jid: string): string {
  const at = jid.indexOf("@");
  const local = at === -1 ? "" : jid.slice(0, at);
  // Look-alike and invisible characters (Cyrillic, U+202E, zero-width) are dropped rather than
  // mapped: a JID made to look like another does not get the other one's nick spelled out.
  let nick = local.normalize("NFKC").replace(NICK_CHARS, "").slice(0, MAX_DEFAULT_NICK);
  // Nicks may not start with a digit or '-'.
  if (/^[0-9-]/.test(nick)) nick = `_${nick}`.slice(0, MAX_DEFAULT_NICK);
  return isPortableNick(nick) ? nick : "xmppuser";
}

/**
 * The nick to register with on a new connection: the first candidate (the user's nick for that
 * server, their registered nick, the nick asked for when joining) that every server accepts,
 * else the one derived from the JID. A candidate with characters IRC servers refuse (Cyrillic,
 * accents, `~`) would only get 432 and keep the connection from ever registering.
 */
export function registrationNick(jid: string, candidates: readonly (string | undefined)[]): string {
  return candidates.find((n): n is string => n !== undefined && isPortableNick(n)) ?? defaultNick(jid);
}

/**
 * What to try, in order, when the server refuses `nick` during registration (433 in use, 432
 * too long for this server, 436/437): `nick_`, `nick__`, `nick___`. Appending keeps the taken
 * nick as a strict prefix, so no alternative folds to it under any casemapping.
 */
export function nickAlternatives(nick: string): string[] {
  return Array.from({ length: UNDERSCORE_ALTERNATIVES }, (_, i) => `${nick}${"_".repeat(i + 1)}`);
}

/**
 * After the alternatives: the nick's portable part, at most 20 characters, and four random
 * digits, so that it fits every NICKLEN we support and a nick the server refused for its
 * characters does not come back again and again.
 */
export function lastResortNick(nick: string, random: () => number = Math.random): string {
  const base =
    nick
      .replace(NICK_CHARS, "")
      .replace(/^[0-9-]+/, "")
      .slice(0, 20) || "xmppuser";
  return `${base}${String(Math.floor(random() * 10_000)).padStart(4, "0")}`;
}

/**
 * Why `nick` cannot be a user's chosen IRC nick, or undefined when it can. Used by the forms that
 * set one, so the user hears it at once rather than getting another nick at the next connection.
 */
export function chosenNickProblem(nick: string): string | undefined {
  if (hasHiddenCharacters(nick)) return `"${nick}" holds invisible or text-direction characters`;
  if (!isPortableNick(nick))
    return `"${nick}" is not a nick every IRC server accepts: use ASCII letters, digits and -[]\\\`^{}|_, not starting with a digit or '-', at most 30 characters`;
  return undefined;
}
