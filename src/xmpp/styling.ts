/**
 * XEP-0393 Message Styling: converts between a message body with styling directives (`*strong*`,
 * `_emphasis_`, `~strike~`, `` `pre` ``, ```` ``` ```` blocks, `>` quotes) and the neutral
 * `StyledText` that crosses the adapter boundary.
 *
 * Decision: XEP-0393 keeps the directives in the body (clients may show them). When parsing we
 * REMOVE them from `text` and express them as spans instead, so that IRC gets `\x02bold\x02` and
 * Telegram a bold entity rather than literal asterisks. Block quotes are left as they are, '>'
 * included, because neither network has a span for them; the spans inside them are parsed.
 *
 * Rendering sends literal directive characters of the text as they are: XEP-0393 has no escape,
 * and invisible characters would corrupt what users copy. Both directions follow the XEP's rules,
 * so a well-formed `StyledText` (properly nested spans, no directive characters in its text)
 * survives `xmppToStyled(styledToXmpp(t))` with its text unchanged.
 */

import type { StyledText, StyleKind, StyleSpan } from "../adapter/text.ts";

type MarkerKind = "bold" | "italic" | "strike" | "monospace";

/** The span directive of each kind; the order is the nesting order for spans with equal ranges. */
const MARKERS: ReadonlyMap<MarkerKind, string> = new Map([
  ["bold", "*"],
  ["italic", "_"],
  ["strike", "~"],
  ["monospace", "`"],
]);
const KIND_OF: ReadonlyMap<string, MarkerKind> = new Map([...MARKERS].map(([kind, m]) => [m, kind]));
const KIND_ORDER: readonly StyleKind[] = [...MARKERS.keys()];

const DIRECTIVE_CHAR = /[*_~`]/;
const PRE_FENCE = "```";

/** XEP-0393 §4: a whitespace character has the White_Space property or is in category Z. */
const WHITESPACE = /[\p{White_Space}\p{Z}]/u;

function isWhitespace(c: string | undefined): boolean {
  if (c === undefined) return false;
  // ASCII fast path (tab to carriage return, and space); this runs for every character.
  const code = c.charCodeAt(0);
  if (code < 0x80) return code === 0x20 || (code >= 0x09 && code <= 0x0d);
  return WHITESPACE.test(c);
}

/**
 * Quotations nested deeper than this are read as plain lines. Real messages quote a few levels
 * deep; the bound keeps a body of thousands of '>' from costing time and stack.
 */
const MAX_QUOTE_DEPTH = 16;

// ---------------------------------------------------------------------------------------------
// Parsing: body → StyledText
// ---------------------------------------------------------------------------------------------

/** One line of output, with spans relative to it. */
interface Line {
  text: string;
  spans: StyleSpan[];
  /** Set on lines of a preformatted block: the block they belong to and where their content starts. */
  pre?: { block: number; start: number };
  /** Index of the input line this came from, within the block being parsed. */
  src: number;
}

/**
 * Parses a message body per XEP-0393 into text without styling directives plus spans.
 *
 * Preformatted blocks become one monospace span over their content (the fence lines, and the tag
 * after the opening fence, are dropped). Callers skip this for messages carrying `<unstyled/>`.
 */
export function xmppToStyled(body: string): StyledText {
  const lines = parseBlocks(body.split("\n"), { next: 0 }, 0);
  const spans: StyleSpan[] = [];
  let preRun: { block: number; start: number; end: number } | undefined;
  let offset = 0;
  for (const line of lines) {
    const lineEnd = offset + line.text.length;
    for (const s of line.spans) spans.push({ kind: s.kind, start: s.start + offset, end: s.end + offset });
    // The lines of one block make one span, newlines included, unless a quote prefix interrupts it.
    if (line.pre && preRun?.block === line.pre.block && line.pre.start === 0) {
      preRun.end = lineEnd;
    } else {
      if (preRun) spans.push(preSpan(preRun));
      preRun = line.pre && { block: line.pre.block, start: offset + line.pre.start, end: lineEnd };
    }
    offset = lineEnd + 1;
  }
  if (preRun) spans.push(preSpan(preRun));
  return {
    text: lines.map((l) => l.text).join("\n"),
    spans: spans.filter((s) => s.end > s.start).sort((a, b) => a.start - b.start || b.end - a.end),
  };
}

function preSpan(run: { start: number; end: number }): StyleSpan {
  return { kind: "monospace", start: run.start, end: run.end };
}

/** XEP-0393 §5.1: splits lines into plain lines, preformatted blocks and (nested) quotations. */
function parseBlocks(lines: string[], blockIds: { next: number }, depth: number): Line[] {
  const out: Line[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.startsWith(PRE_FENCE)) {
      // Ended by a line holding only the fence, or by the end of the parent block.
      const block = blockIds.next++;
      i++;
      while (i < lines.length && lines[i] !== PRE_FENCE) {
        out.push({ text: lines[i]!, spans: [], pre: { block, start: 0 }, src: i });
        i++;
      }
      i++;
    } else if (line.startsWith(">") && depth < MAX_QUOTE_DEPTH) {
      let end = i;
      while (end < lines.length && lines[end]!.startsWith(">")) end++;
      for (const quoted of parseQuote(lines.slice(i, end), i, blockIds, depth + 1)) out.push(quoted);
      i = end;
    } else {
      out.push({ ...parseLine(line), src: i });
      i++;
    }
  }
  return out;
}

/**
 * A quotation's lines, parsed as a child block after removing the '>' and the first whitespace
 * character (§5.1.3). The prefix is put back into the text: quotes have no span of their own.
 */
function parseQuote(lines: string[], firstSrc: number, blockIds: { next: number }, depth: number): Line[] {
  const prefixes = lines.map((l) => (isWhitespace(l[1]) ? l.slice(0, 2) : ">"));
  const children = parseBlocks(
    lines.map((l, k) => l.slice(prefixes[k]!.length)),
    blockIds,
    depth,
  );
  return children.map((child) => {
    const prefix = prefixes[child.src]!;
    const n = prefix.length;
    return {
      text: prefix + child.text,
      spans: child.spans.map((s) => ({ ...s, start: s.start + n, end: s.end + n })),
      pre: child.pre && { block: child.pre.block, start: child.pre.start + n },
      src: firstSrc + child.src,
    };
  });
}

/** XEP-0393 §5.2: the spans of one plain line. */
function parseLine(line: string): { text: string; spans: StyleSpan[] } {
  if (!DIRECTIVE_CHAR.test(line)) return { text: line, spans: [] };
  const out = { text: "", spans: [] as StyleSpan[] };
  parseSpans(line, 0, line.length, closingPositions(line), out);
  return out;
}

/**
 * Where each directive character may close a span: anywhere it is not preceded by whitespace.
 * This does not depend on context, so it is computed once per line; finding a span's end is then
 * a binary search, which keeps hostile input (thousands of unmatched openers) fast.
 */
function closingPositions(line: string): Map<string, number[]> {
  const positions = new Map<string, number[]>();
  for (let j = 1; j < line.length; j++) {
    const c = line.charAt(j);
    if (!KIND_OF.has(c) || isWhitespace(line[j - 1])) continue;
    const list = positions.get(c);
    if (list) list.push(j);
    else positions.set(c, [j]);
  }
  return positions;
}

/** The first position in the sorted list that is ≥ `from` and < `to`, or -1. */
function firstBetween(sorted: number[] | undefined, from: number, to: number): number {
  if (!sorted) return -1;
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < from) lo = mid + 1;
    else hi = mid;
  }
  const found = sorted[lo];
  return found !== undefined && found < to ? found : -1;
}

/**
 * An opening directive sits at the start of the line, after whitespace, or right after another
 * opening directive (`from` is the content start of the enclosing span); it is followed by a
 * non-whitespace character. A following identical directive would make an empty span, which the
 * XEP rules out ("**" and "****" style nothing).
 */
function canOpen(line: string, i: number, from: number, to: number): boolean {
  const next = line[i + 1];
  return (i === from || isWhitespace(line[i - 1])) && i + 1 < to && !isWhitespace(next) && next !== line[i];
}

/** Spans are matched left to right, each with the first possible closing directive (lazily). */
function parseSpans(
  line: string,
  from: number,
  to: number,
  closers: Map<string, number[]>,
  out: { text: string; spans: StyleSpan[] },
): void {
  let plainFrom = from;
  for (let i = from; i < to; i++) {
    const marker = line.charAt(i);
    const kind = KIND_OF.get(marker);
    if (kind === undefined || !canOpen(line, i, from, to)) continue;
    const close = firstBetween(closers.get(marker), i + 2, to);
    if (close === -1) continue;

    out.text += line.slice(plainFrom, i);
    // Pushed before its children, so that of two spans with equal ranges the outer comes first.
    const span: StyleSpan = { kind, start: out.text.length, end: 0 };
    out.spans.push(span);
    // A preformatted span holds a single plain span: no styling inside (§5.2.5).
    if (kind === "monospace") out.text += line.slice(i + 1, close);
    else parseSpans(line, i + 1, close, closers, out);
    span.end = out.text.length;
    i = close;
    plainFrom = close + 1;
  }
  out.text += line.slice(plainFrom, to);
}

// ---------------------------------------------------------------------------------------------
// Rendering: StyledText → body
// ---------------------------------------------------------------------------------------------

interface Range {
  kind: MarkerKind;
  start: number;
  end: number;
}

/**
 * Renders styled text as an XEP-0393 body.
 *
 * - bold, italic, strike and monospace become `*…*`, `_…_`, `~…~` and `` `…` ``; a monospace span
 *   covering whole lines, more than one, becomes a ```` ``` ```` block.
 * - underline has no XEP-0393 form and is dropped (the text stays).
 * - a link whose target differs from its text is written `text <url>`: angle brackets are the
 *   customary delimiters of a URL in plain text (RFC 3986 appendix C), and stay readable.
 *
 * Spans are trimmed to their non-whitespace part and cut at line ends, because directives must
 * touch non-whitespace and spans cannot cross lines. Styling XEP-0393 cannot express is dropped
 * rather than sent as stray directive characters: spans that start inside a word (an opening
 * directive needs whitespace or another opening directive before it), spans crossing other spans,
 * spans nested in a span of the same kind, and anything inside monospace.
 */
export function styledToXmpp(t: StyledText): string {
  const text = t.text;
  const blocks = preBlocks(text, t.spans);
  const spans = nestedSpans(text, inlinePieces(text, t.spans, blocks));

  // What goes in at each position, in this order: closing directives, link targets, the closing
  // fence of a block (after a target written at its end, so the fence stays alone on its line),
  // opening fences and directives.
  const inserts = new Map<number, { close: string; suffix: string; fence: string; open: string }>();
  const at = (p: number) => {
    let entry = inserts.get(p);
    if (!entry) {
      entry = { close: "", suffix: "", fence: "", open: "" };
      inserts.set(p, entry);
    }
    return entry;
  };
  for (const b of blocks) {
    at(b.start).open += `${PRE_FENCE}\n`;
    at(b.end).fence = `\n${PRE_FENCE}`;
  }
  // Outer spans come first in `spans`: they open first and close last.
  for (const s of spans) {
    const marker = MARKERS.get(s.kind)!;
    at(s.start).open += marker;
    const entry = at(s.end);
    entry.close = marker + entry.close;
  }
  for (const link of linkTargets(text, t.spans)) at(link.at).suffix += ` <${inertUrl(link.url)}>`;

  let out = "";
  let last = 0;
  for (const p of [...inserts.keys()].sort((a, b) => a - b)) {
    const entry = inserts.get(p)!;
    out += text.slice(last, p) + entry.close + entry.suffix + entry.fence + entry.open;
    last = p;
  }
  return out + text.slice(last);
}

/** A span's range clamped to the text, or null when it is not a usable range. */
function clamp(text: string, s: StyleSpan): { start: number; end: number } | null {
  if (!Number.isInteger(s.start) || !Number.isInteger(s.end)) return null;
  const start = Math.max(0, s.start);
  const end = Math.min(text.length, s.end);
  return start < end ? { start, end } : null;
}

function isLowSurrogate(text: string, i: number): boolean {
  const code = text.charCodeAt(i);
  return code >= 0xdc00 && code <= 0xdfff;
}

/** True when a directive inserted at `i` would split a surrogate pair (and break the XML). */
function splitsPair(text: string, i: number): boolean {
  return i > 0 && i < text.length && isLowSurrogate(text, i);
}

/** Monospace spans over two or more whole lines, rendered as preformatted blocks. */
function preBlocks(text: string, spans: StyleSpan[]): { start: number; end: number }[] {
  const blocks: { start: number; end: number }[] = [];
  for (const s of spans) {
    const r = s.kind === "monospace" ? clamp(text, s) : null;
    if (!r) continue;
    const wholeLines =
      (r.start === 0 || text[r.start - 1] === "\n") && (r.end === text.length || text[r.end] === "\n");
    const overlaps = blocks.some((b) => r.start < b.end && b.start < r.end);
    if (wholeLines && text.slice(r.start, r.end).includes("\n") && !overlaps) blocks.push(r);
  }
  return blocks;
}

/** The marker spans cut at line ends, trimmed, outside preformatted blocks. */
function inlinePieces(text: string, spans: StyleSpan[], blocks: { start: number; end: number }[]): Range[] {
  const pieces: Range[] = [];
  for (const s of spans) {
    if (!MARKERS.has(s.kind as MarkerKind)) continue;
    const r = clamp(text, s);
    if (!r) continue;
    let lineStart = r.start;
    while (lineStart < r.end) {
      const newline = text.indexOf("\n", lineStart);
      const lineEnd = newline === -1 || newline > r.end ? r.end : newline;
      let start = lineStart;
      let end = lineEnd;
      while (start < end && isWhitespace(text[start])) start++;
      while (end > start && isWhitespace(text[end - 1])) end--;
      const inBlock = blocks.some((b) => start < b.end && b.start < end);
      if (start < end && !inBlock && !splitsPair(text, start) && !splitsPair(text, end)) {
        pieces.push({ kind: s.kind as MarkerKind, start, end });
      }
      lineStart = lineEnd + 1;
    }
  }
  return pieces;
}

/** The pieces XEP-0393 can express, outer spans before the spans they contain. */
function nestedSpans(text: string, pieces: Range[]): Range[] {
  pieces.sort(
    (a, b) => a.start - b.start || b.end - a.end || KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind),
  );
  const accepted: Range[] = [];
  const open: Range[] = []; // the accepted spans enclosing the current position, outermost first
  for (const s of pieces) {
    while (open.length > 0 && open[open.length - 1]!.end <= s.start) open.pop();
    const parent = open[open.length - 1];
    if (parent && s.end > parent.end) continue; // crosses its parent
    if (open.some((o) => o.kind === s.kind || o.kind === "monospace")) continue;
    const opensHere = s.start === 0 || isWhitespace(text[s.start - 1]) || parent?.start === s.start;
    if (!opensHere) continue;
    open.push(s);
    accepted.push(s);
  }
  return accepted;
}

/**
 * A link target that cannot end or open a styling span around it: `*`, `_`, `~` and `` ` `` are
 * percent-encoded (the last three mean the same encoded, RFC 3986 §2.3 and §2.2; for `*` every
 * common server decodes it alike). Without this `*see docs <https://x/a*b> now*` would read as
 * bold ending inside the URL.
 */
function inertUrl(url: string): string {
  return url.replace(/[*_~`]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Where to write each link's target: after its (trimmed) text, when the target differs from it. */
function linkTargets(text: string, spans: StyleSpan[]): { at: number; url: string }[] {
  const targets: { at: number; url: string }[] = [];
  for (const s of spans) {
    const r = s.kind === "link" && s.url ? clamp(text, s) : null;
    if (!r || !s.url) continue;
    let end = r.end;
    while (end > r.start && isWhitespace(text[end - 1])) end--;
    if (splitsPair(text, end)) continue;
    if (text.slice(r.start, end) !== s.url) targets.push({ at: end, url: s.url });
  }
  return targets;
}
