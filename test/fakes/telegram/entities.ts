/**
 * Explicit `entities` / `caption_entities` as the Bot API server takes them: a pure module, so
 * property tests can ask "would Telegram accept this request?" without an HTTP round trip.
 *
 * What Telegram does (https://core.telegram.org/bots/api#messageentity, #formatting-options, and
 * the server's answers observed against api.telegram.org):
 *
 * - Each entity is read first; a malformed one fails the whole request with
 *   `Bad Request: can't parse MessageEntity: <why>` — an unknown `type` is
 *   `Unsupported type specified`, a missing field `Can't find field "url"`.
 * - `offset` and `length` count UTF-16 code units of the text as sent (before the server's own
 *   clean-up). A negative one fails: `receive an entity with incorrect offset -1` (or `length`).
 *   Entities of length 0 are dropped.
 * - A `text_link` URL the server cannot use fails: `entity URL 'x' is invalid: Wrong HTTP URL`
 *   (`URL host is empty` for an empty one; `Unsupported URL protocol` for other schemes).
 *   The same URL inside `parse_mode` markup is silently dropped instead (html.ts, markdown.ts).
 * - Entities that break the nesting rules are repaired silently, not refused: continuous
 *   entities (code, pre, links, mentions…) that partly overlap an earlier one are dropped, and the
 *   parts of bold/italic/underline/strikethrough/spoiler inside code or pre are cut away.
 * - Then each entity must lie within the text: `entity begins after the end of the text at
 *   UTF-16 offset N`, `entity beginning at UTF-16 offset A ends after the end of the text at
 *   UTF-16 offset B`, and a boundary between the two halves of a surrogate pair fails with
 *   `entity begins in a middle of a UTF-16 symbol at byte offset P` (or `… ends in a middle …`),
 *   P counting UTF-8 bytes.
 *
 * None of these is a `can't parse entities` answer — that wording belongs to parse_mode — but all
 * are 400s that lose the message, which is what the S4 property tests count.
 */
import { type ApiError, badRequest } from "./errors.ts";
import { byteOffset, normalizeUrl } from "./formatted-text.ts";
import type { TgEntity } from "./types.ts";

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

/** Styles that may nest anywhere except in code and pre; Telegram splits them as needed. */
export const STYLE_TYPES: ReadonlySet<string> = new Set([
  "bold",
  "italic",
  "underline",
  "strikethrough",
  "spoiler",
]);
const QUOTE_TYPES = new Set(["blockquote", "expandable_blockquote"]);
const CODE_TYPES = new Set(["code", "pre"]);

/** Offsets beyond this are refused outright by the server (`receive an entity with incorrect …`). */
const MAX_BOUND = 1_000_000;

function cantParseEntity(why: string): ApiError {
  return badRequest(`can't parse MessageEntity: ${why}`);
}

/** Why a text_link target is refused, in the server's words; undefined when it is usable. */
function urlProblem(raw: string): string | undefined {
  if (normalizeUrl(raw) !== undefined) return undefined;
  const trimmed = raw.trim();
  if (trimmed === "") return "URL host is empty";
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(trimmed)?.[1]?.toLowerCase();
  if (
    scheme !== undefined &&
    !["http", "https", "ftp", "ton", "tg"].includes(scheme) &&
    !/^\d+$/.test(scheme)
  )
    return "Unsupported URL protocol";
  return "Wrong HTTP URL";
}

/**
 * Reads an explicit entity list. Malformed entities fail the request as the server does; the
 * result keeps the order given and still has to pass `checkRanges`.
 */
export function readEntities(value: unknown, field: string): TgEntity[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw badRequest(`can't parse ${field}: expected an Array of MessageEntity`);
  const entities: TgEntity[] = [];
  for (const item of value) {
    if (typeof item !== "object" || item === null || Array.isArray(item))
      throw cantParseEntity("expected an Object");
    const record = item as Record<string, unknown>;
    const offset = integerField(record, "offset");
    const length = integerField(record, "length");
    const type = record.type;
    if (type === undefined) throw cantParseEntity(`Can't find field "type"`);
    if (typeof type !== "string") throw cantParseEntity(`Field "type" must be of type String`);
    if (!ENTITY_TYPES.has(type)) throw cantParseEntity("Unsupported type specified");
    const entity: TgEntity = { type, offset, length };
    if (type === "text_link") {
      if (record.url === undefined) throw cantParseEntity(`Can't find field "url"`);
      if (typeof record.url !== "string") throw cantParseEntity(`Field "url" must be of type String`);
      const problem = urlProblem(record.url);
      if (problem !== undefined) throw badRequest(`entity URL '${record.url}' is invalid: ${problem}`);
      entity.url = normalizeUrl(record.url);
    }
    if (type === "pre" && typeof record.language === "string" && record.language !== "") {
      entity.language = record.language;
    }
    if (type === "custom_emoji") {
      const id = record.custom_emoji_id;
      if (id === undefined) throw cantParseEntity(`Can't find field "custom_emoji_id"`);
      if (typeof id !== "string" || !/^\d{1,19}$/.test(id) || BigInt(id) > 2n ** 63n - 1n)
        throw cantParseEntity(`Field "custom_emoji_id" must be a valid Number`);
      entity.custom_emoji_id = id;
    }
    if (type === "text_mention") {
      const user = record.user as { id?: unknown } | undefined;
      if (user === undefined) throw cantParseEntity(`Can't find field "user"`);
      if (typeof user?.id !== "number") throw cantParseEntity(`Can't find field "id"`);
      entity.user = user as TgEntity["user"];
    }
    entities.push(entity);
  }
  return entities;
}

/** The server takes numbers and numeric strings for integer fields. */
function integerField(record: Record<string, unknown>, name: string): number {
  const value = record[name];
  if (value === undefined) throw cantParseEntity(`Can't find field "${name}"`);
  const n = typeof value === "string" && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n))
    throw cantParseEntity(`Field "${name}" must be a valid Number`);
  return n;
}

/** Sorted as the server sorts: by offset, longer first. */
function sorted(entities: readonly TgEntity[]): TgEntity[] {
  return [...entities].sort((a, b) => a.offset - b.offset || b.length - a.length);
}

const end = (e: TgEntity) => e.offset + e.length;

/** Drops entities that partly overlap an earlier kept one (nesting is fine, crossing is not). */
function withoutCrossing(entities: readonly TgEntity[]): TgEntity[] {
  const kept: TgEntity[] = [];
  const open: TgEntity[] = [];
  for (const e of sorted(entities)) {
    while (open.length > 0 && e.offset >= end(open[open.length - 1]!)) open.pop();
    const parent = open[open.length - 1];
    if (parent !== undefined && end(e) > end(parent)) continue;
    open.push(e);
    kept.push(e);
  }
  return kept;
}

/** The parts of `e` outside every range in `holes` (sorted, non-overlapping). */
function outside(e: TgEntity, holes: readonly TgEntity[]): TgEntity[] {
  const pieces: TgEntity[] = [];
  let from = e.offset;
  for (const h of holes) {
    if (end(h) <= from || h.offset >= end(e)) continue;
    if (h.offset > from) pieces.push({ ...e, offset: from, length: h.offset - from });
    from = Math.max(from, end(h));
  }
  if (from < end(e)) pieces.push({ ...e, offset: from, length: end(e) - from });
  return pieces;
}

/**
 * The silent repair of the nesting rules: crossing continuous entities and crossing quotes are
 * dropped, styles lose their parts inside code and pre. (Entities nested where the documented
 * rules say they may not be, such as code inside a text_link, are kept, as the server keeps them.)
 */
export function fixEntities(entities: readonly TgEntity[]): TgEntity[] {
  const styles = entities.filter((e) => STYLE_TYPES.has(e.type));
  const quotes = withoutCrossing(entities.filter((e) => QUOTE_TYPES.has(e.type)));
  const continuous = withoutCrossing(
    entities.filter((e) => !STYLE_TYPES.has(e.type) && !QUOTE_TYPES.has(e.type)),
  );
  const code = continuous.filter((e) => CODE_TYPES.has(e.type));
  return sorted([...quotes, ...continuous, ...styles.flatMap((s) => outside(s, code))]);
}

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;

/** True when `i` falls between the two halves of a surrogate pair of `text`. */
function splitsPair(text: string, i: number): boolean {
  return i > 0 && i < text.length && isHigh(text.charCodeAt(i - 1)) && isLow(text.charCodeAt(i));
}

/** The range checks, in the server's order and words (entities sorted, empty ones gone). */
export function checkRanges(text: string, entities: readonly TgEntity[]): void {
  for (const e of sorted(entities)) {
    if (e.offset > text.length)
      throw badRequest(`entity begins after the end of the text at UTF-16 offset ${e.offset}`);
    if (splitsPair(text, e.offset))
      throw badRequest(
        `entity begins in a middle of a UTF-16 symbol at byte offset ${byteOffset(text, e.offset + 1)}`,
      );
    if (end(e) > text.length)
      throw badRequest(
        `entity beginning at UTF-16 offset ${e.offset} ends after the end of the text at UTF-16 offset ${end(e)}`,
      );
    if (splitsPair(text, end(e)))
      throw badRequest(
        `entity beginning at UTF-16 offset ${e.offset} ends in a middle of a UTF-16 symbol at byte offset ${byteOffset(text, end(e) + 1)}`,
      );
  }
}

/**
 * What the server makes of `text` with an explicit entity list (the parsed JSON value): the
 * entities it keeps, with offsets still relative to `text` as sent (the clean-up of the text itself
 * is `finishText`). Throws the server's `ApiError` for a request it refuses.
 */
export function acceptEntities(text: string, value: unknown, field = "entities"): TgEntity[] {
  const entities = readEntities(value, field);
  for (const e of entities) {
    if (e.offset < 0 || e.offset > MAX_BOUND)
      throw badRequest(`receive an entity with incorrect offset ${e.offset}`);
    if (e.length < 0 || e.length > MAX_BOUND)
      throw badRequest(`receive an entity with incorrect length ${e.length}`);
  }
  const fixed = fixEntities(entities.filter((e) => e.length > 0));
  checkRanges(text, fixed);
  return fixed;
}

/**
 * Where `entities` break the documented nesting rules (#formatting-options) in a way Telegram
 * repairs by dropping formatting: two non-style entities sharing characters without one
 * containing the other (one is dropped), a style sharing characters with code or pre (that part
 * loses the style), a quote in a quote, a non-style entity inside another (not allowed by the
 * rules). Styles crossing other entities are not listed: Telegram splits them and shows the same.
 * Empty when the list is as Telegram would keep it.
 */
export function nestingProblems(entities: readonly TgEntity[]): string[] {
  const problems: string[] = [];
  const list = sorted(entities);
  const show = (e: TgEntity) => `${e.type}@${e.offset}+${e.length}`;
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const a = list[i]!;
      const b = list[j]!;
      if (b.offset >= end(a)) break;
      const styles = Number(STYLE_TYPES.has(a.type)) + Number(STYLE_TYPES.has(b.type));
      const code = Number(CODE_TYPES.has(a.type)) + Number(CODE_TYPES.has(b.type));
      if (styles === 1 && code === 1) problems.push(`${show(a)} and ${show(b)}: no style in code`);
      else if (styles > 0) continue;
      else if (end(b) > end(a)) problems.push(`${show(a)} and ${show(b)} cross`);
      else if (QUOTE_TYPES.has(a.type) && QUOTE_TYPES.has(b.type))
        problems.push(`${show(b)} is a quote inside ${show(a)}`);
      else if (!QUOTE_TYPES.has(a.type)) problems.push(`${show(b)} is inside ${show(a)}`);
    }
  }
  return problems;
}
