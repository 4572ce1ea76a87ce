/**
 * The `parse_mode=MarkdownV2` dialect (https://core.telegram.org/bots/api#markdownv2-style)
 * and the legacy `Markdown` one, with the server's error texts:
 * `Character 'c' is reserved and must be escaped with the preceding '\'`,
 * `Can't find end of Bold entity at byte offset N`, `Can't find end of a URL at byte
 * offset N`, ... Byte offsets count UTF-8 bytes of the input (where the unclosed
 * entity began); entity offsets count UTF-16 units of the output.
 *
 * Nesting follows the server: only the innermost open entity can be closed, so `_`
 * closes an open italic only when it is not followed by another `_` (`__` is
 * underline). Blockquotes are lines starting with `>` and end with the first line that
 * does not; `**>` (expandable blockquote) is read as a plain blockquote.
 */
import { cantParseEntities } from "./errors.ts";
import { byteOffset, type FormattedText, failAt, mentionedUserId, normalizeUrl } from "./formatted-text.ts";
import type { TgEntity } from "./types.ts";

const RESERVED = "_*[]()~`>#+-=|{}.!";

interface Open {
  /** The server's name for the entity in error messages. */
  kind:
    | "Bold"
    | "Italic"
    | "Underline"
    | "Strikethrough"
    | "Spoiler"
    | "TextUrl"
    | "CustomEmoji"
    | "BlockQuote";
  offset: number;
  inputIndex: number;
}

const TYPE: Record<Open["kind"], string> = {
  Bold: "bold",
  Italic: "italic",
  Underline: "underline",
  Strikethrough: "strikethrough",
  Spoiler: "spoiler",
  TextUrl: "text_link",
  CustomEmoji: "custom_emoji",
  BlockQuote: "blockquote",
};

const reserved = (c: string): never => {
  throw cantParseEntities(`Character '${c}' is reserved and must be escaped with the preceding '\\'`);
};

const unclosed = (open: Open, input: string): never =>
  failAt(`Can't find end of ${open.kind} entity`, input, open.inputIndex);

/** Parses MarkdownV2 into text and entities, or throws the server's 400. */
export function parseMarkdownV2(input: string): FormattedText {
  let text = "";
  const entities: TgEntity[] = [];
  const stack: Open[] = [];
  const push = (kind: Open["kind"], inputIndex: number) =>
    stack.push({ kind, offset: text.length, inputIndex });
  const pop = () => {
    const open = stack.pop()!;
    if (text.length > open.offset) {
      entities.push({ type: TYPE[open.kind], offset: open.offset, length: text.length - open.offset });
    }
    return open;
  };
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    const atLineStart = i === 0 || input[i - 1] === "\n" || input[i - 1] === "\r";
    if (atLineStart && (c === ">" || input.startsWith("**>", i))) {
      if (stack.at(-1)?.kind !== "BlockQuote" && !stack.some((o) => o.kind === "BlockQuote")) {
        push("BlockQuote", i);
      }
      i += c === ">" ? 1 : 3;
      continue;
    }
    if (c === "\n" && stack.some((o) => o.kind === "BlockQuote") && input[i + 1] !== ">") {
      text += c;
      i++;
      // The quote ends with this line; whatever opened inside it must be closed by now.
      const top = stack.at(-1)!;
      if (top.kind !== "BlockQuote") unclosed(top, input);
      pop();
      continue;
    }
    if (c === "\\") {
      const next = input.charCodeAt(i + 1);
      // Any ASCII character can be escaped; before anything else (or at the end) the
      // backslash is literal.
      if (next > 0 && next < 127) {
        text += input[i + 1];
        i += 2;
      } else {
        text += c;
        i++;
      }
      continue;
    }
    if (c === "`") {
      i = readCode(input, i, (value, entity) => {
        if (value.length > 0) entities.push({ ...entity, offset: text.length, length: value.length });
        text += value;
      });
      continue;
    }
    const top = stack.at(-1);
    if (top !== undefined && closes(top, input, i)) {
      if (top.kind === "TextUrl" || top.kind === "CustomEmoji") {
        i = closeLink(input, i + 1, stack.pop()!, text, entities);
      } else {
        const width = top.kind === "Underline" || top.kind === "Spoiler" ? 2 : 1;
        pop();
        i += width;
      }
      continue;
    }
    const opener = openerAt(input, i);
    if (opener !== undefined) {
      push(opener.kind, i);
      i += opener.width;
    } else if (RESERVED.includes(c)) {
      reserved(c);
    } else {
      text += c;
      i++;
    }
  }
  for (let open = stack.at(-1); open !== undefined; open = stack.at(-1)) {
    if (open.kind !== "BlockQuote") unclosed(open, input);
    pop();
  }
  return { text, entities };
}

/** The entity a marker at `i` opens, and the marker's width. */
function openerAt(input: string, i: number): { kind: Open["kind"]; width: number } | undefined {
  const c = input[i];
  const next = input[i + 1];
  if (c === "*") return { kind: "Bold", width: 1 };
  if (c === "_") return next === "_" ? { kind: "Underline", width: 2 } : { kind: "Italic", width: 1 };
  if (c === "~") return { kind: "Strikethrough", width: 1 };
  if (c === "|" && next === "|") return { kind: "Spoiler", width: 2 };
  if (c === "[") return { kind: "TextUrl", width: 1 };
  if (c === "!" && next === "[") return { kind: "CustomEmoji", width: 2 };
  return undefined;
}

/** Whether the character at `i` ends the innermost open entity. */
function closes(top: Open, input: string, i: number): boolean {
  const c = input[i];
  switch (top.kind) {
    case "Bold":
      return c === "*";
    case "Italic":
      return c === "_" && input[i + 1] !== "_";
    case "Underline":
      return c === "_" && input[i + 1] === "_";
    case "Strikethrough":
      return c === "~";
    case "Spoiler":
      return c === "|" && input[i + 1] === "|";
    case "TextUrl":
    case "CustomEmoji":
      return c === "]";
    case "BlockQuote":
      return false;
  }
}

/** Reads `(url)` after `]` (if present) and records the link; returns the next index. */
function closeLink(input: string, start: number, open: Open, text: string, entities: TgEntity[]): number {
  let i = start;
  let target: string | undefined;
  if (input[i] === "(") {
    const urlStart = i + 1;
    i = urlStart;
    target = "";
    for (;;) {
      if (i >= input.length) failAt("Can't find end of a URL", input, urlStart);
      const c = input[i]!;
      if (c === ")") break;
      if (c === "\\" && i + 1 < input.length) {
        target += input[i + 1];
        i += 2;
      } else {
        target += c;
        i++;
      }
    }
    i++;
  }
  const length = text.length - open.offset;
  if (open.kind === "CustomEmoji") {
    const id = target === undefined ? undefined : /^tg:\/\/emoji\?(?:.*&)?id=(\d+)/i.exec(target)?.[1];
    if (id === undefined) throw cantParseEntities("Custom emoji entity must contain a tg://emoji URL");
    if (length > 0) entities.push({ type: "custom_emoji", offset: open.offset, length, custom_emoji_id: id });
    return i;
  }
  const url = normalizeUrl(target ?? text.slice(open.offset));
  if (length > 0 && url !== undefined) {
    const userId = mentionedUserId(url);
    entities.push(
      userId === undefined
        ? { type: "text_link", offset: open.offset, length, url }
        : {
            type: "text_mention",
            offset: open.offset,
            length,
            user: { id: userId, is_bot: false, first_name: "" },
          },
    );
  }
  return i;
}

/**
 * Reads `code` or a ```pre``` block starting at the backtick at `start`. Inside, only
 * '`' and '\' are special. Returns the index after the closing backtick(s).
 */
function readCode(
  input: string,
  start: number,
  emit: (value: string, entity: Omit<TgEntity, "offset" | "length">) => void,
): number {
  const pre = input.startsWith("```", start);
  let i = start + (pre ? 3 : 1);
  let language: string | undefined;
  if (pre) {
    const match = /^([^\s`]+)([ \t]|\r\n|\n\r|\r|\n)/.exec(input.slice(i));
    if (match !== null) {
      language = match[1];
      // A newline right after the language is a separator; a space stays in the text.
      i += match[1]!.length + (/^[\r\n]/.test(match[2]!) ? match[2]!.length : 0);
    }
  }
  let value = "";
  for (;;) {
    if (i >= input.length) {
      const kind = pre ? (language !== undefined ? "PreCode" : "Pre") : "Code";
      throw cantParseEntities(`Can't find end of ${kind} entity at byte offset ${byteOffset(input, start)}`);
    }
    const c = input[i]!;
    if (c === "\\" && i + 1 < input.length) {
      value += input[i + 1];
      i += 2;
    } else if (pre ? input.startsWith("```", i) : c === "`") {
      i += pre ? 3 : 1;
      break;
    } else {
      value += c;
      i++;
    }
  }
  emit(value, pre ? { type: "pre", ...(language !== undefined ? { language } : {}) } : { type: "code" });
  return i;
}

/**
 * The legacy `Markdown` mode: `*bold*`, `_italic_`, `` `code` ``, ```` ```pre``` ```` and
 * `[text](url)`, no nesting, `\` escapes the four markers. An unclosed marker fails with
 * `Can't find end of the entity starting at byte offset N`.
 */
export function parseLegacyMarkdown(input: string): FormattedText {
  let text = "";
  const entities: TgEntity[] = [];
  let i = 0;
  const fail = (at: number): never => {
    throw cantParseEntities(`Can't find end of the entity starting at byte offset ${byteOffset(input, at)}`);
  };
  while (i < input.length) {
    const c = input[i]!;
    if (c === "\\" && "_*`[".includes(input[i + 1] ?? "")) {
      text += input[i + 1];
      i += 2;
    } else if (c === "*" || c === "_") {
      const end = input.indexOf(c, i + 1);
      if (end < 0) fail(i);
      const inner = input.slice(i + 1, end);
      if (inner.length > 0)
        entities.push({ type: c === "*" ? "bold" : "italic", offset: text.length, length: inner.length });
      text += inner;
      i = end + 1;
    } else if (c === "`") {
      const pre = input.startsWith("```", i);
      const end = input.indexOf(pre ? "```" : "`", i + (pre ? 3 : 1));
      if (end < 0) fail(i);
      const inner = input.slice(i + (pre ? 3 : 1), end);
      if (inner.length > 0)
        entities.push({ type: pre ? "pre" : "code", offset: text.length, length: inner.length });
      text += inner;
      i = end + (pre ? 3 : 1);
    } else if (c === "[") {
      const close = input.indexOf("]", i + 1);
      if (close < 0) fail(i);
      const label = input.slice(i + 1, close);
      let next = close + 1;
      let target: string | undefined;
      if (input[next] === "(") {
        const end = input.indexOf(")", next + 1);
        if (end < 0) fail(i);
        target = input.slice(next + 1, end);
        next = end + 1;
      }
      const url = target === undefined ? undefined : normalizeUrl(target);
      if (url !== undefined && label.length > 0) {
        entities.push({ type: "text_link", offset: text.length, length: label.length, url });
      }
      text += label;
      i = next;
    } else {
      text += c;
      i++;
    }
  }
  return { text, entities };
}
