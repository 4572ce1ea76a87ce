/**
 * Channel membership prefixes → MUC roles and affiliations.
 *
 * Close to Biboumi's mapping, so users switching from it see the same occupant list:
 *
 * | prefix (mode)       | affiliation | role        |
 * |---------------------|-------------|-------------|
 * | `~` (q, founder)    | owner       | moderator   |
 * | `&` (a, protected)  | admin       | moderator   |
 * | `@` (o, operator)   | admin       | moderator   |
 * | `%` (h, half-op)    | member      | moderator   |
 * | `+` (v, voice)      | member      | participant |
 * | none                | none        | participant |
 *
 * With multi-prefix a member may hold several; the highest (first in ISUPPORT PREFIX) decides.
 * A prefix mode we do not know ranks by its position: above `o` it counts as an operator.
 */
import type { MucAffiliation, MucRole } from "../../src/adapter/index.ts";

/** One entry of ISUPPORT PREFIX, highest rank first. */
export interface PrefixEntry {
  symbol: string;
  mode: string;
}

/** Used until the server's ISUPPORT PREFIX arrives (RFC 2812's plus the common extensions). */
export const DEFAULT_PREFIXES: readonly PrefixEntry[] = [
  { symbol: "~", mode: "q" },
  { symbol: "&", mode: "a" },
  { symbol: "@", mode: "o" },
  { symbol: "%", mode: "h" },
  { symbol: "+", mode: "v" },
];

const BY_MODE: Readonly<Record<string, { role: MucRole; affiliation: MucAffiliation }>> = {
  q: { affiliation: "owner", role: "moderator" },
  a: { affiliation: "admin", role: "moderator" },
  o: { affiliation: "admin", role: "moderator" },
  h: { affiliation: "member", role: "moderator" },
  v: { affiliation: "member", role: "participant" },
};

/** The role and affiliation for a member holding `modes` (prefix mode letters). */
export function roleOf(
  modes: ReadonlySet<string>,
  prefixes: readonly PrefixEntry[],
): { role: MucRole; affiliation: MucAffiliation } {
  const opRank = prefixes.findIndex((p) => p.mode === "o");
  for (const [rank, prefix] of prefixes.entries()) {
    if (!modes.has(prefix.mode)) continue;
    const known = BY_MODE[prefix.mode];
    if (known) return known;
    if (opRank !== -1 && rank < opRank) return { affiliation: "admin", role: "moderator" };
    return { affiliation: "member", role: "participant" };
  }
  return { affiliation: "none", role: "participant" };
}

/**
 * Splits a NAMES entry such as `@+alice` or `@alice!u@h` (userhost-in-names) into the nick and
 * its prefix modes.
 */
export function parseNamesEntry(
  entry: string,
  prefixes: readonly PrefixEntry[],
): { nick: string; modes: Set<string> } {
  const modes = new Set<string>();
  let rest = entry;
  for (;;) {
    const prefix = prefixes.find((p) => p.symbol === rest.charAt(0));
    if (!prefix) break;
    modes.add(prefix.mode);
    rest = rest.slice(1);
  }
  const bang = rest.search(/[!@]/);
  return { nick: bang === -1 ? rest : rest.slice(0, bang), modes };
}
