/**
 * CTCP: requests and replies carried inside PRIVMSG/NOTICE bodies between \x01 delimiters
 * (https://modern.ircdocs.horse/ctcp). ACTION (`/me`) is the one in everyday use; VERSION,
 * PING, TIME and friends are queries a client answers with a NOTICE.
 */

import { splitUtf8 } from "./line-splitter.ts";
import { assertSafeParam } from "./params.ts";

const DELIM = "\x01";

/** A parsed CTCP message: the command (upper case) and its argument text, possibly empty. */
export interface CtcpMessage {
  command: string;
  args: string;
}

/**
 * Reads a message body as CTCP, or returns null when it is not one. The whole body must be
 * wrapped in \x01; a missing final \x01 is tolerated because some clients omit it. A body with
 * another \x01 inside, or no command, is not CTCP.
 */
export function parseCtcp(text: string): CtcpMessage | null {
  if (!text.startsWith(DELIM)) return null;
  const inner = text.endsWith(DELIM) && text.length > 1 ? text.slice(1, -1) : text.slice(1);
  if (inner.includes(DELIM)) return null;
  const space = inner.indexOf(" ");
  const command = space === -1 ? inner : inner.slice(0, space);
  if (command === "") return null;
  return { command: command.toUpperCase(), args: space === -1 ? "" : inner.slice(space + 1) };
}

/** Characters that must not appear in reply arguments: controls (\x01 included) and line breaks. */
const UNSAFE_IN_REPLY =
  /[\x00-\x1f\x7f\u0085\u2028\u2029]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** CTCP commands are single words of letters, digits and a few punctuation marks. */
const COMMAND = /^[A-Za-z0-9_-]+$/;

/**
 * Most UTF-8 bytes of reply arguments we send: with the command, the target and the relay
 * prefix a server adds, a reply stays well within one 512-byte line.
 */
export const MAX_CTCP_REPLY_ARG_BYTES = 256;

/**
 * Builds the body of a CTCP reply, to be sent as `NOTICE <nick> :<body>`. Control characters in
 * `args` (which may come from configuration or user data, e.g. a version string) are removed and
 * it is truncated to {@link MAX_CTCP_REPLY_ARG_BYTES} bytes, so the body is always one line.
 *
 * @throws RangeError when `command` is not a single CTCP word.
 */
export function ctcpReply(command: string, args: string): string {
  if (!COMMAND.test(command)) throw new RangeError(`not a CTCP command: ${JSON.stringify(command)}`);
  const clean = splitUtf8(args.replace(UNSAFE_IN_REPLY, ""), MAX_CTCP_REPLY_ARG_BYTES)[0] ?? "";
  const body = clean === "" ? command.toUpperCase() : `${command.toUpperCase()} ${clean}`;
  return DELIM + body + DELIM;
}

/**
 * Builds the complete wire line (without CRLF) answering a CTCP query from `nick`, e.g.
 * `NOTICE alice :\x01VERSION Postern\x01`. The line splitter strips \x01 from ordinary text,
 * so CTCP replies are built here instead.
 *
 * @throws UnsafeIrcParamError when `nick` is not a safe single parameter.
 */
export function ctcpReplyLine(nick: string, command: string, args: string): string {
  assertSafeParam(nick);
  return `NOTICE ${nick} :${ctcpReply(command, args)}`;
}
