/**
 * Formatted text as the Bot API stores it: a string plus MessageEntity spans whose
 * offsets and lengths count UTF-16 code units (https://core.telegram.org/bots/api#messageentity).
 * This module holds what the HTML and MarkdownV2 parsers share and the clean-up the
 * server applies to every text: empty entities dropped, leading and trailing
 * whitespace trimmed, entities sorted, and the spans Telegram detects on its own
 * (mentions, hashtags, bot commands, URLs, e-mail addresses) added.
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

const WHITESPACE = /[\s\u0000]/;

/**
 * Cleans text and entities the way the server does before it stores a message:
 * entities outside the text are clipped, empty ones dropped, leading and trailing
 * whitespace trimmed (entities shifted), then detected entities added and all sorted by
 * offset, longer first.
 */
export function finishText(input: FormattedText): FormattedText {
  let { text } = input;
  let start = 0;
  while (start < text.length && WHITESPACE.test(text[start]!)) start++;
  let end = text.length;
  while (end > start && WHITESPACE.test(text[end - 1]!)) end--;
  text = text.slice(start, end);
  const entities: TgEntity[] = [];
  for (const entity of input.entities) {
    const from = Math.max(entity.offset - start, 0);
    const to = Math.min(entity.offset + entity.length - start, text.length);
    if (to > from) entities.push({ ...entity, offset: from, length: to - from });
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

const ENTITY_TYPES = new Set([
  "mention",
  "hashtag",
  "cashtag",
  "bot_command",
  "url",
  "email",
  "phone_number",
  "bold",
  "italic",
  "underline",
  "strikethrough",
  "spoiler",
  "blockquote",
  "expandable_blockquote",
  "code",
  "pre",
  "text_link",
  "text_mention",
  "custom_emoji",
]);

/**
 * Reads an explicit `entities` / `caption_entities` parameter. Entities of unknown
 * types and entities that need a field they lack are dropped, as the server does;
 * a value that is not a list of entity objects fails the request.
 */
export function readEntities(value: unknown, field: string): TgEntity[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw cantParseEntities(`${field} must be an Array`);
  const entities: TgEntity[] = [];
  for (const item of value) {
    if (typeof item !== "object" || item === null) throw cantParseEntities("expected an Object");
    const record = item as Record<string, unknown>;
    const { type, offset, length } = record;
    if (typeof type !== "string" || !Number.isInteger(offset) || !Number.isInteger(length)) {
      throw cantParseEntities("entity must have type, offset and length");
    }
    if (!ENTITY_TYPES.has(type) || (offset as number) < 0 || (length as number) <= 0) continue;
    const entity: TgEntity = { type, offset: offset as number, length: length as number };
    if (type === "text_link") {
      const url = typeof record.url === "string" ? normalizeUrl(record.url) : undefined;
      if (url === undefined) continue;
      entity.url = url;
    }
    if (type === "pre" && typeof record.language === "string" && record.language !== "") {
      entity.language = record.language;
    }
    if (type === "custom_emoji") {
      if (typeof record.custom_emoji_id !== "string") continue;
      entity.custom_emoji_id = record.custom_emoji_id;
    }
    if (type === "text_mention") {
      const user = record.user as { id?: unknown } | undefined;
      if (typeof user?.id !== "number") continue;
      entity.user = user as TgEntity["user"];
    }
    entities.push(entity);
  }
  return entities;
}
