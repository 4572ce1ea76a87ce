/**
 * IRC case mapping: when two nicks or channel names are "the same" on a given server.
 *
 * Servers announce their rule with ISUPPORT CASEMAPPING
 * (https://modern.ircdocs.horse/#casemapping-parameter). RFC 1459 treats `[]\~` as the upper
 * case of `{}|^` (a Scandinavian heritage), so `foo[` and `foo{` are one nick there; missing this
 * lets two XMPP users end up behind one IRC identity.
 */

/** The case mappings servers advertise. */
export type Casemapping = "ascii" | "rfc1459" | "strict-rfc1459" | "rfc7613";

/** What a server uses when it advertises no CASEMAPPING (RFC 1459's rule). */
export const DEFAULT_CASEMAPPING: Casemapping = "rfc1459";

const KNOWN: readonly Casemapping[] = ["ascii", "rfc1459", "strict-rfc1459", "rfc7613"];

/**
 * Reads an ISUPPORT CASEMAPPING value. Absent or unknown values give rfc1459, the default and
 * the widest of the ASCII rules, so we err towards treating names as colliding.
 */
export function parseCasemapping(value: string | undefined): Casemapping {
  const lower = value?.toLowerCase();
  return KNOWN.find((known) => known === lower) ?? DEFAULT_CASEMAPPING;
}

const ASCII_UPPER = /[A-Z]/g;
const RFC1459_UPPER = /[A-Z[\]\\~]/g;
const STRICT_RFC1459_UPPER = /[A-Z[\]\\]/g;
const RFC1459_LOWER: Readonly<Record<string, string>> = { "[": "{", "]": "}", "\\": "|", "~": "^" };

function lowerOne(ch: string): string {
  return RFC1459_LOWER[ch] ?? ch.toLowerCase();
}

/** Fullwidth and halfwidth forms, which PRECIS maps to their ordinary width. */
const WIDTH_FORMS = /[\uFF00-\uFFEF]/g;

/**
 * Folds `s` to the canonical form under `casemapping` (rfc1459 by default); two names are the
 * same exactly when their folded forms are equal.
 *
 * rfc7613 follows the PRECIS UsernameCaseMapped steps that servers such as Ergo apply: width
 * mapping, Unicode lower-casing, then NFC. It does not reject what PRECIS would disallow; the
 * server does that when we register the nick.
 */
export function foldCase(s: string, casemapping: Casemapping = DEFAULT_CASEMAPPING): string {
  switch (casemapping) {
    case "ascii":
      return s.replace(ASCII_UPPER, lowerOne);
    case "rfc1459":
      return s.replace(RFC1459_UPPER, lowerOne);
    case "strict-rfc1459":
      return s.replace(STRICT_RFC1459_UPPER, lowerOne);
    case "rfc7613":
      return s
        .replace(WIDTH_FORMS, (ch) => ch.normalize("NFKC"))
        .toLowerCase()
        .normalize("NFC");
  }
}

/** Whether `a` and `b` name the same nick or channel under `casemapping` (rfc1459 by default). */
export function sameName(a: string, b: string, casemapping: Casemapping = DEFAULT_CASEMAPPING): boolean {
  return foldCase(a, casemapping) === foldCase(b, casemapping);
}
