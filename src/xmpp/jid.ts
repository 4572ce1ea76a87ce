/**
 * JIDs: parsing and formatting per RFC 7622 (XMPP Address Format), and escaping of localparts per
 * XEP-0106 (JID Escaping).
 *
 * The parser is deliberately strict, because every `to` of an inbound stanza goes through it and a
 * malformed one must be answered with `jid-malformed` before anything reaches a legacy network
 * (RELIABILITY.md, corpus A rows 3 and 35). It does not implement the full PRECIS profiles: it
 * rejects what can never be a valid JID and normalises only the domain's case.
 */

import { isIPv6 } from "node:net";

/** A parsed JID. Absent parts are empty strings. */
export interface Jid {
  local: string;
  domain: string;
  resource: string;
}

/** RFC 7622 §3.1: each part is limited to 1023 octets of UTF-8. */
const MAX_PART_BYTES = 1023;
/** RFC 1035 §2.3.4: a DNS label is at most 63 octets. */
const MAX_LABEL_BYTES = 63;

/**
 * Characters no part of a JID may hold: C0/C1 controls, lone surrogates (not encodable in UTF-8)
 * and U+FFFE/U+FFFF (not allowed in XML, so never in a stanza).
 */
const FORBIDDEN_ANYWHERE = /[\p{Cc}\p{Cs}\uFFFE\uFFFF]/u;
/** RFC 7622 §3.3.1 excludes these from localparts; XEP-0106 exists to escape them. */
const FORBIDDEN_IN_LOCAL = /["&'/:<>@\p{White_Space}\p{Z}]/u;
/** A domain label: ASCII letters, digits and hyphens, or any non-ASCII character (IDN U-label). */
const LABEL = /^[a-z0-9\-\u0080-\u{10FFFF}]+$/u;
const WHITESPACE = /[\p{White_Space}\p{Z}]/u;

function utf8Length(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

/**
 * Parses a JID string, or returns null when it is malformed (the caller answers `jid-malformed`).
 *
 * The first '/' starts the resource, which may itself hold '@' and '/'; the first '@' before it
 * ends the localpart (RFC 7622 §3.1). The domain is lower-cased. The localpart is NOT case-folded
 * although PRECIS UsernameCaseMapped would: our localparts carry legacy ids (IRC channels and
 * nicks, Telegram chat ids) whose case matters to display and whose comparison rules belong to
 * each network, so the adapters fold case their own way (e.g. RFC 1459 casemapping on IRC).
 */
export function parseJid(s: string): Jid | null {
  if (s === "" || FORBIDDEN_ANYWHERE.test(s)) return null;

  const slash = s.indexOf("/");
  const bare = slash === -1 ? s : s.slice(0, slash);
  const resource = slash === -1 ? "" : s.slice(slash + 1);
  if (slash !== -1 && resource === "") return null;
  if (utf8Length(resource) > MAX_PART_BYTES) return null;

  const at = bare.indexOf("@");
  const local = at === -1 ? "" : bare.slice(0, at);
  if (at !== -1 && !isValidLocal(local)) return null;

  const domain = normaliseDomain(at === -1 ? bare : bare.slice(at + 1));
  if (domain === null) return null;
  return { local, domain, resource };
}

function isValidLocal(local: string): boolean {
  return local !== "" && utf8Length(local) <= MAX_PART_BYTES && !FORBIDDEN_IN_LOCAL.test(local);
}

/** The lower-cased domain, or null when it is neither a plausible DNS name nor an IP literal. */
function normaliseDomain(raw: string): string | null {
  if (raw.startsWith("[")) {
    // RFC 7622 §3.2: an IPv6 address in brackets (RFC 3986 IP-literal). Zone ids ('%') have no
    // meaning outside the host that wrote them, so they are refused.
    const inner = raw.endsWith("]") ? raw.slice(1, -1) : "";
    return isIPv6(inner) && !inner.includes("%") ? `[${inner.toLowerCase()}]` : null;
  }
  // RFC 7622 §3.2: a trailing label separator is stripped before any use of the domain.
  const domain = (raw.endsWith(".") ? raw.slice(0, -1) : raw).toLowerCase();
  if (domain === "" || utf8Length(domain) > MAX_PART_BYTES || WHITESPACE.test(domain)) return null;
  return domain.split(".").every(isValidLabel) ? domain : null;
}

function isValidLabel(label: string): boolean {
  return (
    LABEL.test(label) &&
    utf8Length(label) <= MAX_LABEL_BYTES &&
    !label.startsWith("-") &&
    !label.endsWith("-")
  );
}

/** `local@domain`, or `domain` when there is no localpart. */
export function bareJid(j: Jid): string {
  return j.local === "" ? j.domain : `${j.local}@${j.domain}`;
}

/** `local@domain/resource`, leaving out the parts that are empty. */
export function fullJid(j: Jid): string {
  const bare = bareJid(j);
  return j.resource === "" ? bare : `${bare}/${j.resource}`;
}

/** Joins JID parts into a string. Does not validate or escape: escape the localpart first. */
export function formatJid(local: string, domain: string, resource = ""): string {
  return fullJid({ local, domain, resource });
}

/** XEP-0106 §3.2: the characters a localpart may not hold, and their escapes. */
const ESCAPES: Readonly<Record<string, string>> = {
  " ": "\\20",
  '"': "\\22",
  "&": "\\26",
  "'": "\\27",
  "/": "\\2f",
  ":": "\\3a",
  "<": "\\3c",
  ">": "\\3e",
  "@": "\\40",
};

/**
 * The escape sequences XEP-0106 defines (the nine above plus `\5c` for the backslash). Case is
 * significant (§3.1): `\2F` is not an escape and is left alone both ways.
 */
const ESCAPE_SEQUENCE = /\\(20|22|26|27|2f|3a|3c|3e|40|5c)/g;
const ESCAPE_CODES = new Set(["20", "22", "26", "27", "2f", "3a", "3c", "3e", "40", "5c"]);

/**
 * Escapes a legacy id into a localpart per XEP-0106.
 *
 * A backslash is escaped to `\5c` only where it starts one of the defined escape sequences (§4.1
 * rule 7, §4.3): other backslashes are kept, as the XEP requires of existing ids like `foo\bar`.
 *
 * Deviation: §4.1 rule 6 says `\20` must not be the first or last characters of an escaped
 * localpart, but offers no other way to carry a leading or trailing space. Dropping the space would
 * make two distinct legacy ids share one JID, which is worse for a gateway (RELIABILITY.md S11),
 * so such spaces are escaped as `\20` like any other. The networks we bridge do not produce them
 * in practice (IRC names hold no spaces, Telegram ids are numbers).
 *
 * Not escaped, because XEP-0106 escapes nothing else: whitespace other than U+0020 and control
 * characters. The result then fails `parseJid`, which is the right outcome for such ids. Length is
 * not checked either; `parseJid` enforces the 1023-byte limit.
 */
export function escapeLocal(id: string): string {
  let out = "";
  for (let i = 0; i < id.length; i++) {
    const c = id.charAt(i);
    const escaped = ESCAPES[c];
    if (escaped !== undefined) {
      out += escaped;
    } else if (c === "\\" && ESCAPE_CODES.has(id.slice(i + 1, i + 3))) {
      out += "\\5c";
    } else {
      out += c;
    }
  }
  return out;
}

/**
 * Reverses `escapeLocal`: replaces every XEP-0106 escape sequence by its character and leaves
 * everything else, including partial or unknown sequences like `\2` or `\41`, unchanged (§4.3).
 */
export function unescapeLocal(local: string): string {
  return local.replace(ESCAPE_SEQUENCE, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}
