/**
 * Turns one outgoing text message into complete, safe PRIVMSG/NOTICE lines.
 *
 * An IRC line is at most 512 bytes including its CRLF (RFC 1459 §2.3), and when the server
 * relays our message it prepends `:nick!user@host `, which counts against the same limit on the
 * receiving side. So we split below what the server will relay, at UTF-8 code point boundaries,
 * preferring a space near the end of each piece. Line breaks in the text become separate
 * messages; NUL and \x01 are removed so user text can neither end a line nor smuggle CTCP.
 */

import { assertSafeParam, utf8Length } from "./params.ts";

/** The IRC line limit, CRLF included. */
export const MAX_LINE_BYTES = 512;
const CRLF_BYTES = 2;

/**
 * The smallest text budget per line we accept. Below this the splitter could not make progress
 * readably (a code point is up to 4 bytes), and a caller asking for it has a bug.
 */
const MIN_TEXT_BYTES = 16;

/** A space within the last 20% of the budget is a good enough place to break a long line. */
const SOFT_BREAK_ZONE = 0.8;

/** Every sequence that ends a line: CRLF first, so it counts as one break, not two. */
const LINE_BREAK = /\r\n|[\r\n\u0085\u2028\u2029]/;
const DROPPED = /[\0\x01]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const ACTION_OPEN = "\x01ACTION ";
const ACTION_CLOSE = "\x01";

/** What {@link splitForIrc} needs to build the lines of one message. */
export interface SplitOptions {
  command: "PRIVMSG" | "NOTICE";
  /** A channel or nick; must be a safe single parameter (see `assertSafeParam`). */
  target: string;
  text: string;
  /** Send each line as a CTCP ACTION (`/me`). */
  action?: boolean;
  /**
   * Bytes to keep free for the `:nick!user@host ` prefix the server adds when relaying; pass a
   * worst case for this connection: nick, user and host lengths plus 4 bytes for ':', '!', '@', ' '.
   */
  prefixReserve: number;
}

/**
 * Builds the wire lines (without CRLF) that carry `opts.text`, e.g. `PRIVMSG #chan :hello`.
 *
 * Each of \r\n, \r, \n, U+0085, U+2028 and U+2029 starts a new message; NUL and \x01 are
 * removed; lone surrogates become U+FFFD; lines that are empty or only whitespace are dropped,
 * so an all-blank text gives no lines at all. Every line, once the relay prefix and CRLF are
 * added, fits in 512 bytes; concatenating the pieces of one source line gives that line back.
 *
 * @throws UnsafeIrcParamError when the target is not a safe single parameter.
 * @throws RangeError when `prefixReserve` leaves too little room for text.
 */
export function splitForIrc(opts: SplitOptions): string[] {
  assertSafeParam(opts.target);
  if (!Number.isInteger(opts.prefixReserve) || opts.prefixReserve < 0) {
    throw new RangeError(`prefixReserve must be a non-negative integer, got ${opts.prefixReserve}`);
  }
  const head = `${opts.command} ${opts.target} :`;
  const wrapBytes = opts.action ? ACTION_OPEN.length + ACTION_CLOSE.length : 0;
  const budget = MAX_LINE_BYTES - CRLF_BYTES - opts.prefixReserve - utf8Length(head) - wrapBytes;
  if (budget < MIN_TEXT_BYTES) {
    throw new RangeError(`only ${budget} bytes per line left for text to ${opts.target}`);
  }

  const lines: string[] = [];
  for (const sourceLine of opts.text.split(LINE_BREAK)) {
    const clean = sourceLine.replace(DROPPED, "").replace(LONE_SURROGATE, "\uFFFD");
    if (clean.trim() === "") continue;
    for (const piece of splitUtf8(clean, budget)) {
      lines.push(head + (opts.action ? ACTION_OPEN + piece + ACTION_CLOSE : piece));
    }
  }
  return lines;
}

/**
 * Splits `text` into pieces of at most `maxBytes` UTF-8 bytes each, never inside a code point.
 * A piece ends before the last run of spaces when that run starts in the last 20% of the budget
 * (so words stay whole in the common case), otherwise exactly at the budget. The spaces go with
 * the next piece: servers strip trailing spaces from a line but keep leading ones in the trailing
 * parameter, so what the receiver sees still concatenates back to `text`, as the pieces do.
 * `maxBytes` must be at least 4 so that any code point fits.
 */
export function splitUtf8(text: string, maxBytes: number): string[] {
  if (maxBytes < 4) throw new RangeError(`maxBytes must be at least 4, got ${maxBytes}`);
  const pieces: string[] = [];
  let pieceStart = 0;
  let pieceBytes = 0;
  // Where the piece would end if we broke before its last run of spaces, and its size then.
  let spaceRun = -1;
  let bytesToSpace = 0;
  let previousWasSpace = false;

  let i = 0;
  while (i < text.length) {
    const codePoint = text.codePointAt(i) ?? 0;
    const size = utf8Size(codePoint);
    if (pieceBytes + size > maxBytes) {
      const soft = spaceRun > pieceStart && bytesToSpace >= maxBytes * SOFT_BREAK_ZONE;
      const cut = soft ? spaceRun : i;
      pieces.push(text.slice(pieceStart, cut));
      pieceBytes = soft ? pieceBytes - bytesToSpace : 0;
      pieceStart = cut;
      spaceRun = -1;
      previousWasSpace = false;
      // Re-examine the same code point against the fresh piece.
      continue;
    }
    const isSpace = codePoint === 0x20;
    if (isSpace && !previousWasSpace) {
      spaceRun = i;
      bytesToSpace = pieceBytes;
    }
    previousWasSpace = isSpace;
    pieceBytes += size;
    i += codePoint > 0xffff ? 2 : 1;
  }
  if (pieceStart < text.length) pieces.push(text.slice(pieceStart));
  return pieces;
}

function utf8Size(codePoint: number): number {
  if (codePoint < 0x80) return 1;
  if (codePoint < 0x800) return 2;
  if (codePoint < 0x10000) return 3; // Lone surrogates included: they encode as U+FFFD.
  return 4;
}
