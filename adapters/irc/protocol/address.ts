/**
 * IRC addresses inside JID localparts, compatible with Biboumi so its users keep their bookmarks.
 *
 * Multi-server mode: `#chan%irc.example.org` is a channel, `nick%irc.example.org` a user, and
 * `irc.example.org` the server itself. Fixed-server mode: `#chan` and `nick`, and the empty
 * localpart is the server. Whether a name is a channel depends only on its first character
 * (ISUPPORT CHANTYPES, "#&" by default), as in Biboumi.
 *
 * This works on localparts that are already XEP-0106-unescaped. XEP-0106 never escapes '%', so
 * the separator survives escaping unchanged.
 *
 * We split at the LAST '%', where Biboumi splits at the first. A hostname cannot hold '%', so
 * every address Biboumi can reach parses identically here; in addition, channels whose names
 * contain '%' (legal on IRC) stay reachable, where Biboumi would read a bogus server name.
 */

import { isIPv4, isIPv6 } from "node:net";

/** What a localpart on the IRC gateway designates. Server names are lower case. */
export type IrcAddress =
  | { kind: "channel"; channel: string; server: string }
  | { kind: "user"; nick: string; server: string }
  | { kind: "server"; server: string };

/** How the gateway maps localparts. */
export interface AddressOptions {
  /** Set when the gateway serves one IRC server only (Biboumi's `fixed_irc_server`). */
  fixedServer?: string;
  /** ISUPPORT CHANTYPES of the server; "#&" when not given. */
  chantypes?: string;
}

const SEPARATOR = "%";
const DEFAULT_CHANTYPES = "#&";

/**
 * Reads an unescaped localpart as an IRC address, or returns null when it designates nothing:
 * an empty name before '%', or (multi-server mode) a server part that is not a hostname, an
 * IPv4 literal or a bracketed IPv6 literal. The server name is lower-cased.
 *
 * In fixed-server mode the whole localpart is the name, '%' included, as Biboumi does.
 * Whether the nick or channel is acceptable to IRC is not checked here (see `params.ts`).
 */
export function parseIrcAddress(local: string, opts: AddressOptions = {}): IrcAddress | null {
  const chantypes = opts.chantypes ?? DEFAULT_CHANTYPES;
  if (opts.fixedServer !== undefined) {
    const server = opts.fixedServer.toLowerCase();
    if (local === "") return { kind: "server", server };
    return named(local, server, chantypes);
  }

  const sep = local.lastIndexOf(SEPARATOR);
  if (sep === -1) {
    return isServerName(local) ? { kind: "server", server: local.toLowerCase() } : null;
  }
  const name = local.slice(0, sep);
  const server = local.slice(sep + 1);
  if (name === "" || !isServerName(server)) return null;
  return named(name, server.toLowerCase(), chantypes);
}

function named(name: string, server: string, chantypes: string): IrcAddress {
  return chantypes.includes(name.charAt(0))
    ? { kind: "channel", channel: name, server }
    : { kind: "user", nick: name, server };
}

/**
 * Writes an address as an (unescaped) localpart; the inverse of {@link parseIrcAddress}.
 *
 * @throws RangeError in fixed-server mode for an address on another server, which has no
 *   localpart there (silently mapping it to the fixed server would address the wrong network).
 */
export function formatIrcAddress(a: IrcAddress, opts: AddressOptions = {}): string {
  if (opts.fixedServer !== undefined) {
    if (a.server !== opts.fixedServer.toLowerCase()) {
      throw new RangeError(`${a.server} is not the fixed IRC server ${opts.fixedServer}`);
    }
    switch (a.kind) {
      case "server":
        return "";
      case "channel":
        return a.channel;
      case "user":
        return a.nick;
    }
  }
  switch (a.kind) {
    case "server":
      return a.server;
    case "channel":
      return `${a.channel}${SEPARATOR}${a.server}`;
    case "user":
      return `${a.nick}${SEPARATOR}${a.server}`;
  }
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;
const NUMERIC = /^[0-9]+$/;

/**
 * Whether `s` names an IRC server we could connect to: a DNS hostname (letters, digits and
 * hyphens in dot-separated labels of at most 63 characters, 253 in all), an IPv4 literal, or an
 * IPv6 literal in brackets. A name whose last label is all digits must be a real IPv4 address,
 * so `999.1.1.1` is refused rather than looked up.
 */
export function isServerName(s: string): boolean {
  if (s.startsWith("[") && s.endsWith("]")) return isIPv6(s.slice(1, -1));
  if (s.length === 0 || s.length > 253) return false;
  const labels = s.split(".");
  if (!labels.every((label) => LABEL.test(label))) return false;
  return NUMERIC.test(labels[labels.length - 1] ?? "") ? isIPv4(s) : true;
}
