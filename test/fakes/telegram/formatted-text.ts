/**
 * Formatted text as the Bot API stores it: a string plus MessageEntity spans whose
 * offsets and lengths count UTF-16 code units (https://core.telegram.org/bots/api#messageentity).
 * This module holds what the HTML and MarkdownV2 parsers share and the clean-up the
 * server applies to every text: control and bidi-override characters removed, empty
 * entities dropped, leading and trailing blanks trimmed, entities sorted, and the spans
 * Telegram detects on its own (mentions, hashtags, bot commands, URLs, e-mail addresses)
 * added. Explicit `entities` parameters are read by entities.ts.
 */
import { cantParseEntities } from "./errors.ts";
import type { TgEntity } from "./types.ts";

/** Text and its entities. */
export interface FormattedText {
  text: string;
  entities: TgEntity[];
}

/** The UTF-8 byte offset of `index` in `input`: parse errors report byte offsets. */
export function byteOffset(input: string, index: number): number {
  return Buffer.byteLength(input.slice(0, index), "utf8");
}

/** Throws the `can't parse entities` error with a byte offset into `input`. */
export function failAt(message: string, input: string, index: number): never {
  throw cantParseEntities(`${message} at byte offset ${byteOffset(input, index)}`);
}

/**
 * Normalizes a link target the way the server does for text_link: a missing scheme
 * becomes `http://`, a bare host gets a trailing `/`. Returns undefined for targets
 * the server silently drops (no dot in the host, unknown scheme).
 */
export function normalizeUrl(raw: string): string | undefined {
  const trimmed = raw.trim();
  if (trimmed === "") return undefined;
  const withScheme = /^[a-z][a-z0-9+.-]*:/i.test(trimmed) ? trimmed : `http://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return undefined;
  }
  if (url.protocol === "tg:") return withScheme;
  if (!["http:", "https:", "ftp:", "ton:"].includes(url.protocol)) return undefined;
  if (!url.hostname.includes(".")) return undefined;
  return url.href;
}

/** The user id of a `tg://user?id=N` link, which becomes a text_mention. */
export function mentionedUserId(url: string): number | undefined {
  const match = /^tg:(?:\/\/)?user\?id=(\d+)$/i.exec(url);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/**
 * The server's clean-up of every text (TDLib's clean_input_string), entities kept in step:
 * control characters other than "\n" become spaces (a tab too), "\r" is removed, and so are
 * U+2028–U+202E (line and paragraph separators, bidi embeddings and overrides) and the combining
 * marks U+030A, U+0333 and U+033F. In a run of LRM/RLM marks all but the last become ZWNJ.
 */
export function cleanText(input: FormattedText): FormattedText {
  const { text } = input;
  let out = "";
  // kept[i]: how many code units of the output come before input position i.
  const kept = new Array<number>(text.length + 1);
  for (let i = 0; i < text.length; i++) {
    kept[i] = out.length;
    const c = text.charCodeAt(i);
    if (c === 0x0d || (c >= 0x2028 && c <= 0x202e) || c === 0x030a || c === 0x0333 || c === 0x033f) continue;
    if (c < 0x20 && c !== 0x0a) out += " ";
    else if ((c === 0x200e || c === 0x200f) && /[\u200e\u200f]/.test(text[i + 1] ?? "")) out += "\u200c";
    else out += text[i];
  }
  kept[text.length] = out.length;
  const entities: TgEntity[] = [];
  for (const e of input.entities) {
    const from = kept[Math.min(Math.max(e.offset, 0), text.length)]!;
    const to = kept[Math.min(Math.max(e.offset + e.length, 0), text.length)]!;
    if (to > from) entities.push({ ...e, offset: from, length: to - from });
  }
  return { text: out, entities };
}

/** Only the space and the newline count as whitespace when the server trims (after cleanText). */
const isBlank = (c: string | undefined) => c === " " || c === "\n";

/** Entities whose content the server keeps even when it is blank or starts with blanks. */
const HIDDEN_DATA = new Set(["text_link", "text_mention", "code", "pre"]);

/**
 * Cleans text and entities the way the server does before it stores a message: `cleanText`,
 * then blanks at the start of an entity moved out of it and entities with nothing but blanks
 * dropped (links and code excepted), trailing blanks trimmed, leading blanks trimmed up to the
 * first entity, then detected entities added and all sorted by offset, longer first.
 */
export function finishText(input: FormattedText): FormattedText {
  const clean = cleanText(input);
  const full = clean.text;
  const shaped: TgEntity[] = [];
  for (const e of clean.entities) {
    let from = e.offset;
    const to = Math.min(e.offset + e.length, full.length);
    if (!HIDDEN_DATA.has(e.type)) {
      while (from < to && isBlank(full[from])) from++;
      if (from === to) continue;
    }
    if (to > from) shaped.push({ ...e, offset: from, length: to - from });
  }
  let stop = full.length;
  while (stop > 0 && isBlank(full[stop - 1])) stop--;
  const firstEntity = Math.min(stop, ...shaped.map((e) => e.offset));
  let start = 0;
  while (start < firstEntity && isBlank(full[start])) start++;
  const text = full.slice(start, stop);
  const entities: TgEntity[] = [];
  for (const e of shaped) {
    const from = e.offset - start;
    const to = Math.min(e.offset + e.length, stop) - start;
    if (to > from) entities.push({ ...e, offset: from, length: to - from });
  }
  entities.push(...detectEntities(text, entities));
  return { text, entities: sortEntities(entities) };
}

/** Sorts by offset, then longer spans first, as the server returns them. */
export function sortEntities(entities: TgEntity[]): TgEntity[] {
  return [...entities].sort((a, b) => a.offset - b.offset || b.length - a.length);
}

// Entities inside which the server detects nothing.
const OPAQUE = new Set(["code", "pre", "text_link", "url", "email", "mention", "text_mention"]);

const DETECTORS: { type: string; pattern: RegExp }[] = [
  { type: "url", pattern: /\bhttps?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]'}]/giu },
  { type: "email", pattern: /\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b/giu },
  { type: "mention", pattern: /(?<![\w@])@[a-z]\w{3,31}\b/giu },
  { type: "hashtag", pattern: /(?<![\w#])#\w*[a-z_]\w*/giu },
  { type: "bot_command", pattern: /(?<![\w/])\/[a-z0-9_]{1,64}(?:@[a-z]\w{3,31})?(?![\w/])/giu },
];

/**
 * Detects the entities Telegram adds by itself. A deliberate subset: scheme-ful URLs
 * (bare domains such as `example.com` are detected by the real server but not here),
 * e-mail addresses, @mentions, #hashtags and /commands.
 */
export function detectEntities(text: string, existing: TgEntity[]): TgEntity[] {
  const found: TgEntity[] = [];
  const taken = (offset: number, length: number) =>
    [...existing.filter((e) => OPAQUE.has(e.type)), ...found].some(
      (e) => offset < e.offset + e.length && e.offset < offset + length,
    );
  for (const { type, pattern } of DETECTORS) {
    for (const match of text.matchAll(pattern)) {
      const offset = match.index ?? 0;
      const length = match[0].length;
      if (!taken(offset, length)) found.push({ type, offset, length });
    }
  }
  return found;
}
