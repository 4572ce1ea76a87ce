/**
 * Telegram message entities ↔ neutral styled text. Offsets on both sides count UTF-16 code units,
 * as JavaScript strings do, so no conversion is needed — only care not to cut a surrogate pair.
 *
 * Outbound we always send `entities`, never `parse_mode`: the text goes out exactly as typed, so
 * `*`, `_`, `<`, `&` and friends can never make Telegram answer "can't parse entities", and
 * nothing the user typed can turn into a link or mention they did not write.
 * https://core.telegram.org/bots/api#messageentity
 */
import type { StyledText, StyleKind, StyleSpan } from "../../src/adapter/index.ts";
import type { T } from "./client.ts";

/** Telegram's limit for one text message, in UTF-16 code units after entity parsing. */
export const MAX_TEXT_LENGTH = 4096;

const INBOUND: Record<string, StyleKind> = {
  bold: "bold",
  italic: "italic",
  underline: "underline",
  strikethrough: "strike",
  code: "monospace",
  pre: "monospace",
  text_link: "link",
  url: "link",
};

/** A received text and its entities as styled text (entities we cannot show are dropped). */
export function entitiesToStyled(text: string, entities: readonly T.MessageEntity[] | undefined): StyledText {
  const spans: StyleSpan[] = [];
  for (const e of entities ?? []) {
    const kind = INBOUND[e.type];
    if (!kind) continue;
    const start = Math.max(0, e.offset);
    const end = Math.min(text.length, e.offset + e.length);
    if (end <= start) continue;
    const span: StyleSpan = { kind, start, end };
    if (e.type === "text_link" && e.url) span.url = e.url;
    spans.push(span);
  }
  return { text, spans };
}

/** The entities for sending `styled`; offsets are valid for `styled.text` as it is. */
export function styledToEntities(styled: StyledText): T.MessageEntity[] {
  const { text } = styled;
  const code: T.MessageEntity[] = [];
  const other: T.MessageEntity[] = [];
  for (const span of styled.spans) {
    if (!Number.isInteger(span.start) || !Number.isInteger(span.end)) continue;
    const start = alignStart(text, Math.max(0, span.start));
    const end = alignEnd(text, Math.min(text.length, span.end));
    if (end <= start) continue;
    const range = { offset: start, length: end - start };
    switch (span.kind) {
      case "bold":
      case "italic":
      case "underline":
        other.push({ type: span.kind, ...range });
        break;
      case "strike":
        other.push({ type: "strikethrough", ...range });
        break;
      case "monospace":
        code.push({ type: text.slice(start, end).includes("\n") ? "pre" : "code", ...range });
        break;
      case "link": {
        // Only links the user gave a target for, to web addresses; bare URLs Telegram finds itself.
        const url = span.url === undefined ? undefined : webUrl(span.url);
        if (url !== undefined && url !== text.slice(start, end))
          other.push({ type: "text_link", ...range, url });
        break;
      }
    }
  }
  // Telegram allows nothing inside code or pre, and code spans must not overlap each other. A
  // span around code (`*see `this` now*`) keeps its parts on either side of it.
  const keptCode: T.MessageEntity[] = [];
  for (const c of code.sort((a, b) => a.offset - b.offset)) {
    if (!keptCode.some((k) => overlaps(k, c))) keptCode.push(c);
  }
  const keptOther: T.MessageEntity[] = [];
  for (const piece of other.flatMap((o) => outside(o, keptCode))) {
    // Links cannot overlap each other either; the first one given wins.
    if (piece.type === "text_link" && keptOther.some((k) => k.type === "text_link" && overlaps(k, piece)))
      continue;
    keptOther.push(piece);
  }
  return [...keptCode, ...keptOther].sort((a, b) => a.offset - b.offset || b.length - a.length);
}

function overlaps(a: T.MessageEntity, b: T.MessageEntity): boolean {
  return a.offset < b.offset + b.length && b.offset < a.offset + a.length;
}

/** The parts of `e` not covered by `holes` (sorted by offset, not overlapping each other). */
function outside(e: T.MessageEntity, holes: readonly T.MessageEntity[]): T.MessageEntity[] {
  const pieces: T.MessageEntity[] = [];
  const end = e.offset + e.length;
  let from = e.offset;
  for (const h of holes) {
    if (h.offset + h.length <= from || h.offset >= end) continue;
    if (h.offset > from) pieces.push({ ...e, offset: from, length: h.offset - from });
    from = Math.max(from, h.offset + h.length);
  }
  if (from < end) pieces.push({ ...e, offset: from, length: end - from });
  return pieces;
}

/** An http(s) URL with a dotted host, normalised; undefined for anything else (tg:, javascript:, …). */
function webUrl(raw: string): string | undefined {
  try {
    const url = new URL(raw.trim());
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    if (!url.hostname.includes(".")) return undefined;
    return url.href;
  } catch {
    return undefined;
  }
}

const isLow = (code: number) => code >= 0xdc00 && code <= 0xdfff;

/** Moves a start offset off the second half of a surrogate pair. */
function alignStart(text: string, i: number): number {
  return i > 0 && i < text.length && isLow(text.charCodeAt(i)) ? i + 1 : i;
}

/** Moves an end offset past the second half of a surrogate pair it would cut. */
function alignEnd(text: string, i: number): number {
  return i > 0 && i < text.length && isLow(text.charCodeAt(i)) ? i + 1 : i;
}
