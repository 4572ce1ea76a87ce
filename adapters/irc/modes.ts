/**
 * Reading channel MODE changes (`MODE #chan +ov-b alice bob *!*@host`).
 *
 * Which letters take a parameter depends on the server: ISUPPORT CHANMODES lists four groups
 * (A: lists such as bans, always a parameter; B: always; C: only when set; D: never) and the
 * PREFIX modes (o, v, …) always take a nick (https://modern.ircdocs.horse/#chanmodes-parameter).
 * Reading one parameter too many or too few would shift every later change onto the wrong nick.
 */

/** One mode change, e.g. `{ add: true, mode: "o", param: "alice" }`. */
export interface ModeChange {
  add: boolean;
  mode: string;
  param?: string;
}

/** RFC 2812's groups, for servers that do not send CHANMODES. */
const DEFAULT_CHANMODES = ["beI", "k", "l", "imnpst"];

/** Splits a MODE line's mode string and parameters into single changes. */
export function parseModeChanges(
  modeString: string,
  params: readonly string[],
  prefixModes: string,
  chanmodes: readonly string[] | undefined,
): ModeChange[] {
  const groups = chanmodes && chanmodes.length >= 3 ? chanmodes : DEFAULT_CHANMODES;
  const always = `${groups[0] ?? ""}${groups[1] ?? ""}${prefixModes}`;
  const whenSet = groups[2] ?? "";
  const changes: ModeChange[] = [];
  let add = true;
  let next = 0;
  for (const mode of modeString) {
    if (mode === "+" || mode === "-") {
      add = mode === "+";
      continue;
    }
    const change: ModeChange = { add, mode };
    if (always.includes(mode) || (add && whenSet.includes(mode))) {
      const param = params[next++];
      if (param !== undefined) change.param = param;
    }
    changes.push(change);
  }
  return changes;
}

/** Whether `mask` (`nick!user@host` with `*` and `?` wildcards) matches a user, case-insensitively. */
export function maskMatches(mask: string, nick: string, user: string, host: string): boolean {
  const pattern = mask
    .toLowerCase()
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${pattern}$`).test(`${nick}!${user}@${host}`.toLowerCase());
}
