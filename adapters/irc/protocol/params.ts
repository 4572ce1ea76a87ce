/**
 * Validation of the names and single-word parameters we put on IRC lines.
 *
 * An IRC line is a space-separated list of parameters ended by CRLF (RFC 1459 §2.3.1,
 * https://modern.ircdocs.horse/#parameters). A name that holds a space, a comma or a line break
 * changes the meaning of the line it is written into (`JOIN #a,#b`, `JOIN 0`, `NICK a\r\nQUIT`),
 * so everything that comes from XMPP is checked here before it reaches the wire.
 */

/** Characters that no single IRC parameter may hold. */
const LINE_BREAKING = /[\0\r\n]/;

/** Thrown when a value would not stay one parameter on an IRC line. */
export class UnsafeIrcParamError extends Error {
  override readonly name = "UnsafeIrcParamError";
}

/**
 * Throws {@link UnsafeIrcParamError} unless `s` is safe as one middle parameter (a target, a
 * channel key, a nick): non-empty, no CR, LF, NUL or space, and not starting with ':' (which
 * would turn it into the trailing parameter and swallow the rest of the line).
 */
export function assertSafeParam(s: string): void {
  if (s === "") throw new UnsafeIrcParamError("IRC parameter is empty");
  if (LINE_BREAKING.test(s)) throw new UnsafeIrcParamError("IRC parameter contains CR, LF or NUL");
  if (s.includes(" ")) throw new UnsafeIrcParamError("IRC parameter contains a space");
  if (s.startsWith(":")) throw new UnsafeIrcParamError("IRC parameter starts with ':'");
}

/** C0 controls, DEL, and the Unicode line separators our splitter treats as line breaks. */
const CONTROL = /[\x00-\x1f\x7f\u0085\u2028\u2029]/;

/**
 * Whether `name` is a channel name we may send in JOIN/PART/PRIVMSG: it starts with one of the
 * server's `chantypes` (ISUPPORT CHANTYPES, "#&" when not advertised; this also rules out
 * `JOIN 0`), holds no space, comma, BEL (\x07) or other control character, and is at most
 * `maxLength` UTF-8 bytes (ISUPPORT CHANNELLEN; RFC 1459 allows 200).
 */
export function isValidChannelName(name: string, chantypes = "#&", maxLength = 200): boolean {
  const first = name.charAt(0);
  if (first === "" || !chantypes.includes(first)) return false;
  if (name.includes(" ") || name.includes(",") || CONTROL.test(name)) return false;
  return utf8Length(name) <= maxLength;
}

/**
 * Whether `nick` is a nickname we may register or send: non-empty, at most `maxLength` UTF-8
 * bytes (ISUPPORT NICKLEN; we count bytes, the conservative reading), no space, comma, '!', '@',
 * '*' or '?' (they would break hostmasks and wildcards), no control character (this covers
 * BEL, CR, LF, NUL and formatting codes), and not starting with ':', a digit, '-', or a channel
 * prefix '#'/'&'. "0" is therefore rejected too.
 */
export function isValidNick(nick: string, maxLength = 30): boolean {
  if (nick === "" || CONTROL.test(nick)) return false;
  if (/[ ,!@*?]/.test(nick)) return false;
  if (/^[:0-9\-#&]/.test(nick)) return false;
  return utf8Length(nick) <= maxLength;
}

/** The number of bytes `s` takes in UTF-8 (a lone surrogate counts as U+FFFD, 3 bytes). */
export function utf8Length(s: string): number {
  return Buffer.byteLength(s, "utf8");
}
