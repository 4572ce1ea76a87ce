/**
 * mIRC text formatting <-> neutral styled text.
 *
 * IRC has no markup, only in-band control characters that toggle a style until they are sent
 * again or reset (https://modern.ircdocs.horse/formatting). We read bold, italic, underline,
 * strikethrough and monospace into spans; colours and reverse video have no neutral equivalent,
 * so they are parsed only to be removed. Formatting state ends with each IRC message, so the
 * encoder closes every style before a line break and reopens it after.
 */

import type { StyledText, StyleKind, StyleSpan } from "../../../src/adapter/text.ts";

/** The styles IRC can express with a toggle character. */
type ToggleKind = Exclude<StyleKind, "link">;

const TOGGLE_CHAR: Readonly<Record<ToggleKind, string>> = {
  bold: "\x02",
  italic: "\x1d",
  underline: "\x1f",
  strike: "\x1e",
  monospace: "\x11",
};

const TOGGLE_KINDS = Object.keys(TOGGLE_CHAR) as ToggleKind[];

const KIND_OF_CHAR: ReadonlyMap<string, ToggleKind> = new Map(
  TOGGLE_KINDS.map((kind) => [TOGGLE_CHAR[kind], kind]),
);

const RESET = "\x0f";
const COLOUR = "\x03";
const HEX_COLOUR = "\x04";

/**
 * Parses one IRC message body into plain text and style spans.
 *
 * Every C0 control character except tab is removed from the text: formatting codes are
 * interpreted, colour codes (`\x03` and `\x04` with their arguments) and reverse video are
 * dropped, and anything else (bell, stray CR, …) is discarded. Adjacent spans of one kind are
 * merged, so `\x02a\x02\x02b\x02` yields a single bold span.
 */
export function ircToStyled(line: string): StyledText {
  let text = "";
  const spans: StyleSpan[] = [];
  const openSince = new Map<ToggleKind, number>();
  const lastClosed = new Map<ToggleKind, StyleSpan>();

  const close = (kind: ToggleKind): void => {
    const start = openSince.get(kind);
    if (start === undefined) return;
    openSince.delete(kind);
    if (text.length === start) return;
    const previous = lastClosed.get(kind);
    if (previous && previous.end === start) {
      // Toggled off and on again with no text in between: one span, not two.
      previous.end = text.length;
      return;
    }
    const span: StyleSpan = { kind, start, end: text.length };
    spans.push(span);
    lastClosed.set(kind, span);
  };

  let i = 0;
  while (i < line.length) {
    const ch = line.charAt(i);
    const kind = KIND_OF_CHAR.get(ch);
    if (kind) {
      if (openSince.has(kind)) close(kind);
      else openSince.set(kind, text.length);
      i++;
    } else if (ch === RESET) {
      for (const open of [...openSince.keys()]) close(open);
      i++;
    } else if (ch === COLOUR) {
      i = skipColourArguments(line, i + 1);
    } else if (ch === HEX_COLOUR) {
      i = skipHexColourArguments(line, i + 1);
    } else {
      if (ch >= " " || ch === "\t") text += ch;
      i++;
    }
  }
  for (const open of [...openSince.keys()]) close(open);

  spans.sort((a, b) => a.start - b.start || a.end - b.end);
  return { text, spans };
}

function isDigit(ch: string | undefined): boolean {
  return ch !== undefined && ch >= "0" && ch <= "9";
}

/** Returns the index after `\x03`'s optional `fg[,bg]` argument (1–2 digits each). */
function skipColourArguments(line: string, from: number): number {
  let i = from;
  if (!isDigit(line[i])) return i; // A bare \x03 resets colours; nothing to skip.
  i++;
  if (isDigit(line[i])) i++;
  // The comma belongs to the code only when a background digit follows; otherwise it is text.
  if (line[i] === "," && isDigit(line[i + 1])) {
    i += 2;
    if (isDigit(line[i])) i++;
  }
  return i;
}

const SIX_HEX = /^[0-9a-fA-F]{6}/;

/** Returns the index after `\x04`'s optional `RRGGBB[,RRGGBB]` argument. */
function skipHexColourArguments(line: string, from: number): number {
  if (!SIX_HEX.test(line.slice(from, from + 6))) return from;
  const afterForeground = from + 6;
  if (line[afterForeground] === "," && SIX_HEX.test(line.slice(afterForeground + 1, afterForeground + 7))) {
    return afterForeground + 7;
  }
  return afterForeground;
}

/** Characters that end an IRC message once the text reaches the line splitter. */
const LINE_BREAKS = new Set(["\r", "\n", "\u0085", "\u2028", "\u2029"]);

/**
 * Renders styled text as an IRC message body with mIRC formatting codes.
 *
 * Bold, italic, underline, strike and monospace become toggle codes; links become their text,
 * followed by ` (url)` when the url differs from that text. Control characters in the input text
 * (other than tab and line breaks, which the line splitter handles) are removed so that user text
 * can never smuggle its own formatting or protocol codes. Spans are clamped to the text and never
 * open or close inside a surrogate pair. Line breaks are kept; styles are closed before each
 * break and reopened after it, because IRC resets formatting at the end of every message.
 */
export function styledToIrc(t: StyledText): string {
  const { text } = t;
  const n = text.length;
  // Per style (indexed as TOGGLE_KINDS): +1 where a span opens, -1 where it closes.
  const delta = TOGGLE_KINDS.map(() => new Int32Array(n + 1));
  const linkSuffixes = new Map<number, string[]>();

  for (const span of t.spans) {
    const start = clamp(span.start, n);
    const end = clamp(span.end, n);
    if (end <= start) continue;
    if (span.kind === "link") {
      const url = span.url === undefined ? "" : inlineUrl(span.url);
      if (url !== "" && url !== text.slice(start, end)) {
        const suffixes = linkSuffixes.get(end) ?? [];
        suffixes.push(` (${url})`);
        linkSuffixes.set(end, suffixes);
      }
      continue;
    }
    const counts = delta[TOGGLE_KINDS.indexOf(span.kind)]!;
    counts[start]! += 1;
    counts[end]! -= 1;
  }

  // Styles are bit sets over TOGGLE_KINDS: what the spans ask for here, and what the wire has.
  const depth = TOGGLE_KINDS.map(() => 0);
  let wanted = 0;
  let emitted = 0;
  let out = "";

  // Emits the toggles that bring the wire state to `target`. Called lazily, right before
  // visible text, so styles that cover nothing produce no codes.
  const syncTo = (target: number): void => {
    const changed = target ^ emitted;
    if (changed === 0) return;
    TOGGLE_KINDS.forEach((kind, k) => {
      if (changed & (1 << k)) out += TOGGLE_CHAR[kind];
    });
    emitted = target;
  };

  for (let i = 0; i <= n; i++) {
    for (const suffix of linkSuffixes.get(i) ?? []) {
      syncTo(wanted);
      out += suffix;
    }
    for (let k = 0; k < depth.length; k++) {
      const step = delta[k]![i]!;
      if (step === 0) continue;
      depth[k]! += step;
      wanted = depth[k]! > 0 ? wanted | (1 << k) : wanted & ~(1 << k);
    }
    if (i === n) break;

    const ch = text.charAt(i);
    if (LINE_BREAKS.has(ch)) {
      syncTo(0);
      out += ch;
    } else if (ch >= " " || ch === "\t") {
      // A low surrogate completing a pair was covered by the styles synced for its high half.
      if (!isSecondHalfOfPair(text, i)) syncTo(wanted);
      out += ch;
    }
  }
  syncTo(0);
  return out;
}

function clamp(offset: number, length: number): number {
  if (Number.isNaN(offset)) return 0;
  return Math.min(Math.max(Math.floor(offset), 0), length);
}

function isSecondHalfOfPair(text: string, i: number): boolean {
  const code = text.charCodeAt(i);
  const before = text.charCodeAt(i - 1);
  return code >= 0xdc00 && code <= 0xdfff && before >= 0xd800 && before <= 0xdbff;
}

/** A url as it may appear inline in one IRC message: no control characters, no line breaks. */
function inlineUrl(url: string): string {
  let out = "";
  for (const ch of url) {
    if (ch >= " " && !LINE_BREAKS.has(ch)) out += ch;
  }
  return out;
}
