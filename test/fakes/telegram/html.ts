/**
 * The `parse_mode=HTML` dialect of the Bot API
 * (https://core.telegram.org/bots/api#html-style): the supported tags, the four named
 * entities plus numeric ones, and the error texts the server returns for malformed
 * markup (`Unsupported start tag "x" at byte offset N`, `Unmatched end tag ...`, ...).
 * Byte offsets count UTF-8 bytes of the input; entity offsets count UTF-16 units of the
 * output.
 */
import { cantParseEntities } from "./errors.ts";
import { type FormattedText, failAt, mentionedUserId, normalizeUrl } from "./formatted-text.ts";
import type { TgEntity } from "./types.ts";

const TAGS = new Set([
  "a",
  "b",
  "strong",
  "i",
  "em",
  "s",
  "strike",
  "del",
  "u",
  "ins",
  "tg-spoiler",
  "span",
  "tg-emoji",
  "pre",
  "code",
  "blockquote",
]);

const SIMPLE: Record<string, string> = {
  b: "bold",
  strong: "bold",
  i: "italic",
  em: "italic",
  s: "strikethrough",
  strike: "strikethrough",
  del: "strikethrough",
  u: "underline",
  ins: "underline",
  "tg-spoiler": "spoiler",
  span: "spoiler",
};

const NAMED: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"' };

interface OpenTag {
  name: string;
  attributes: Map<string, string>;
  /** UTF-16 offset in the output where the tag's content starts. */
  offset: number;
}

const isNameChar = (c: string | undefined) => c !== undefined && /[a-zA-Z0-9_-]/.test(c);
const isSpace = (c: string | undefined) => c !== undefined && /[ \t\r\n]/.test(c);

/** Parses Bot API HTML into text and entities, or throws the server's 400. */
export function parseHtml(input: string): FormattedText {
  let text = "";
  const entities: TgEntity[] = [];
  const stack: OpenTag[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === "&") {
      const decoded = decodeEntity(input, i);
      text += decoded.text;
      i = decoded.next;
    } else if (c !== "<") {
      text += c;
      i++;
    } else if (input[i + 1] === "/") {
      const begin = i;
      if (stack.length === 0) failAt("Unexpected end tag", input, begin);
      i += 2;
      let name = "";
      while (isNameChar(input[i])) name += input[i++];
      while (isSpace(input[i])) i++;
      if (input[i] !== ">") failAt("Unclosed end tag", input, begin);
      i++;
      const open = stack.pop()!;
      name = name.toLowerCase();
      if (name !== "" && name !== open.name) {
        throw cantParseEntities(
          `Unmatched end tag at byte offset ${Buffer.byteLength(input.slice(0, begin))}, ` +
            `expected "</${open.name}>", found "</${name}>"`,
        );
      }
      closeTag(open, text, entities);
    } else {
      const begin = i;
      i++;
      let name = "";
      while (isNameChar(input[i])) name += input[i++];
      if (i >= input.length) failAt("Unclosed start tag", input, begin);
      name = name.toLowerCase();
      if (!TAGS.has(name)) {
        failAt(`Unsupported start tag "${name}"`, input, begin);
      }
      const attributes = new Map<string, string>();
      i = readAttributes(input, i, begin, name, attributes);
      if (name === "span" && attributes.get("class") !== "tg-spoiler") {
        failAt(`Tag "span" must have class "tg-spoiler"`, input, begin);
      }
      stack.push({ name, attributes, offset: text.length });
    }
  }
  const unclosed = stack.at(-1);
  if (unclosed !== undefined) {
    throw cantParseEntities(`Can't find end tag corresponding to start tag "${unclosed.name}"`);
  }
  // A language on <code> outside <pre> means nothing to the server.
  return {
    text,
    entities: entities.map(({ language, ...e }) =>
      e.type === "pre" ? { ...e, ...(language ? { language } : {}) } : e,
    ),
  };
}

/** Reads attributes up to and including the closing `>`; returns the index after it. */
function readAttributes(
  input: string,
  start: number,
  begin: number,
  tag: string,
  into: Map<string, string>,
): number {
  let i = start;
  for (;;) {
    while (isSpace(input[i])) i++;
    if (i >= input.length) failAt(`Unclosed start tag "${tag}"`, input, begin);
    if (input[i] === ">") return i + 1;
    let attribute = "";
    while (isNameChar(input[i])) attribute += input[i++];
    if (attribute === "") failAt(`Empty attribute name in the tag "${tag}"`, input, begin);
    while (isSpace(input[i])) i++;
    if (input[i] !== "=") {
      into.set(attribute.toLowerCase(), "");
      continue;
    }
    i++;
    while (isSpace(input[i])) i++;
    if (i >= input.length) failAt(`Unclosed start tag "${tag}"`, input, begin);
    const quote = input[i];
    let value = "";
    if (quote === '"' || quote === "'") {
      const close = input.indexOf(quote, i + 1);
      if (close < 0) failAt("Unclosed start tag", input, begin);
      value = decodeAll(input.slice(i + 1, close));
      i = close + 1;
    } else {
      const tokenStart = i;
      while (i < input.length && /[a-zA-Z0-9.-]/.test(input[i]!)) value += input[i++];
      if (i < input.length && !isSpace(input[i]) && input[i] !== ">") {
        failAt("Unexpected end of name token", input, tokenStart);
      }
    }
    into.set(attribute.toLowerCase(), value);
  }
}

/** Turns a closed tag into its entity (if it has content and a valid target). */
function closeTag(open: OpenTag, text: string, entities: TgEntity[]): void {
  const offset = open.offset;
  const length = text.length - offset;
  if (length <= 0) return;
  const simple = SIMPLE[open.name];
  if (simple !== undefined) {
    entities.push({ type: simple, offset, length });
    return;
  }
  switch (open.name) {
    case "a": {
      const href = open.attributes.get("href") ?? text.slice(offset);
      const url = normalizeUrl(href);
      if (url === undefined) return;
      const userId = mentionedUserId(url);
      entities.push(
        userId === undefined
          ? { type: "text_link", offset, length, url }
          : { type: "text_mention", offset, length, user: { id: userId, is_bot: false, first_name: "" } },
      );
      return;
    }
    case "code": {
      // The language is kept only until the enclosing <pre> closes (see below).
      const language = /^language-(.+)$/.exec(open.attributes.get("class") ?? "")?.[1];
      entities.push({ type: "code", offset, length, ...(language !== undefined ? { language } : {}) });
      return;
    }
    case "pre": {
      // <pre><code class="language-x"> over the same span is one pre entity with a language.
      const inner = entities.findIndex(
        (e) => e.type === "code" && e.offset === offset && e.length === length && e.language !== undefined,
      );
      if (inner >= 0) {
        const language = entities[inner]!.language;
        entities.splice(inner, 1);
        entities.push({ type: "pre", offset, length, ...(language !== undefined ? { language } : {}) });
      } else {
        entities.push({ type: "pre", offset, length });
      }
      return;
    }
    case "blockquote":
      entities.push({
        type: open.attributes.has("expandable") ? "expandable_blockquote" : "blockquote",
        offset,
        length,
      });
      return;
    case "tg-emoji": {
      const id = open.attributes.get("emoji-id");
      if (id !== undefined && id !== "")
        entities.push({ type: "custom_emoji", offset, length, custom_emoji_id: id });
      return;
    }
  }
}

/** Decodes one `&...` sequence at `start`; unknown ones stay literal, as on the server. */
function decodeEntity(input: string, start: number): { text: string; next: number } {
  let i = start + 1;
  if (input[i] === "#") {
    i++;
    const hex = input[i] === "x" || input[i] === "X";
    if (hex) i++;
    const digits = (hex ? /^[0-9a-fA-F]+/ : /^[0-9]+/).exec(input.slice(i))?.[0] ?? "";
    const code = digits === "" ? 0 : Number.parseInt(digits, hex ? 16 : 10);
    if (digits === "" || code === 0 || code > 0x10ffff) return { text: "&", next: start + 1 };
    if (code >= 0xd800 && code <= 0xdfff) {
      throw cantParseEntities(
        "Text contains invalid Unicode characters after decoding HTML entities, check for unmatched surrogate code units",
      );
    }
    i += digits.length;
    if (input[i] === ";") i++;
    return { text: String.fromCodePoint(code), next: i };
  }
  const name = /^[a-zA-Z0-9]+/.exec(input.slice(i))?.[0] ?? "";
  const decoded = NAMED[name];
  if (decoded === undefined) return { text: "&", next: start + 1 };
  i += name.length;
  if (input[i] === ";") i++;
  return { text: decoded, next: i };
}

function decodeAll(value: string): string {
  let out = "";
  let i = 0;
  while (i < value.length) {
    if (value[i] === "&") {
      const decoded = decodeEntity(value, i);
      out += decoded.text;
      i = decoded.next;
    } else {
      out += value[i++];
    }
  }
  return out;
}
