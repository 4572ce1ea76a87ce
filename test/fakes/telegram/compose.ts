/**
 * Building the messages a bot sends: text with parse_mode or explicit entities, the
 * replied-to message, and the message object itself (from the bot, or from the
 * business account with `sender_business_bot` when sent through a business connection).
 */
import type { ResolvedChat } from "./access.ts";
import type { MethodContext } from "./context.ts";
import { acceptEntities } from "./entities.ts";
import { badRequest } from "./errors.ts";
import { type FormattedText, finishText } from "./formatted-text.ts";
import { parseHtml } from "./html.ts";
import { parseLegacyMarkdown, parseMarkdownV2 } from "./markdown.ts";
import type { TgEntity, TgMessage } from "./types.ts";
import { nested, type World } from "./world.ts";

/** Which parameters carry a text and what its limits are. */
export interface TextFields {
  text: string;
  parseMode: string;
  entities: string;
}

/** The text parameters of sendMessage / editMessageText. */
export const MESSAGE_TEXT: TextFields = { text: "text", parseMode: "parse_mode", entities: "entities" };
/** The caption parameters of the media methods. */
export const CAPTION: TextFields = { text: "caption", parseMode: "parse_mode", entities: "caption_entities" };

/**
 * Parses a text parameter. Explicit entities win over parse_mode (the server ignores
 * parse_mode when entities are given). The result is cleaned as the server stores it.
 */
export function readFormatted(ctx: MethodContext, fields: TextFields): FormattedText {
  const raw = ctx.params.str(fields.text) ?? "";
  const explicit = ctx.params.json(fields.entities, "entities");
  const mode = (ctx.params.str(fields.parseMode) ?? "").trim().toLowerCase();
  let parsed: FormattedText;
  if (explicit !== undefined)
    parsed = { text: raw, entities: acceptEntities(raw, explicit, fields.entities) };
  else if (mode === "") parsed = { text: raw, entities: [] };
  else if (mode === "html") parsed = parseHtml(raw);
  else if (mode === "markdownv2") parsed = parseMarkdownV2(raw);
  else if (mode === "markdown") parsed = parseLegacyMarkdown(raw);
  else throw badRequest("unsupported parse_mode");
  const finished = finishText(parsed);
  return { text: finished.text, entities: resolveMentions(ctx.world, finished.entities) };
}

/** text_mention entities carry the full User; unknown users are dropped. */
function resolveMentions(world: World, entities: TgEntity[]): TgEntity[] {
  return entities.flatMap((entity) => {
    if (entity.type !== "text_mention") return [entity];
    const user = entity.user === undefined ? undefined : world.userObject(entity.user.id);
    return user === undefined ? [] : [{ ...entity, user }];
  });
}

/**
 * The message a send replies to, from `reply_parameters` or the legacy
 * `reply_to_message_id`. Replies to other chats (reply_parameters.chat_id) are not
 * modelled and count as not found.
 */
export function readReply(ctx: MethodContext, target: ResolvedChat): TgMessage | undefined {
  const parameters = ctx.params.json("reply_parameters", "reply parameters");
  let messageId = ctx.params.int("reply_to_message_id");
  let allowMissing = ctx.params.bool("allow_sending_without_reply");
  let otherChat = false;
  if (typeof parameters === "object" && parameters !== null) {
    const p = parameters as {
      message_id?: unknown;
      chat_id?: unknown;
      allow_sending_without_reply?: unknown;
    };
    messageId = typeof p.message_id === "number" ? p.message_id : 0;
    allowMissing = p.allow_sending_without_reply === true;
    otherChat = p.chat_id !== undefined && String(p.chat_id) !== String(target.chat.id);
  }
  if (messageId <= 0) return undefined;
  const stored = otherChat ? undefined : ctx.world.message(target.key, messageId);
  if (stored !== undefined) return nested(stored.message);
  if (allowMissing) return undefined;
  throw badRequest("message to be replied not found");
}

/** Applies the flood check (when enabled) to one new message. */
export function admitSend(ctx: MethodContext, target: ResolvedChat): void {
  ctx.flood?.admit(ctx.bot.user.id, target.chat.id, target.chat.type === "private", Date.now());
}

/** Stores a message the bot sends and records it in `bot.sent()`. */
export function storeOutgoing(
  ctx: MethodContext,
  target: ResolvedChat,
  content: Partial<TgMessage>,
  reply: TgMessage | undefined,
): TgMessage {
  const { bot, world } = ctx;
  const business = target.business?.connection;
  const markup = ctx.params.json("reply_markup", "reply markup");
  const stored = world.store(target.key, bot.user.id, (messageId, date) => ({
    message_id: messageId,
    from: business !== undefined ? business.user : bot.user,
    ...(business !== undefined ? { sender_business_bot: bot.user } : {}),
    date,
    ...(business !== undefined ? { business_connection_id: business.id } : {}),
    chat: target.chat,
    ...(reply !== undefined ? { reply_to_message: reply } : {}),
    ...content,
    // Only inline keyboards are echoed in the message; reply keyboards are not.
    ...(isInlineKeyboard(markup) ? { reply_markup: markup } : {}),
  }));
  if (target.record !== undefined) target.record.lastBotSender = bot.user.id;
  const message = structuredClone(stored.message);
  ctx.record({ chat_id: target.chat.id, message });
  return message;
}

function isInlineKeyboard(markup: unknown): boolean {
  return typeof markup === "object" && markup !== null && "inline_keyboard" in markup;
}

/** `text` plus `entities` only when there are any, as the server omits empty lists. */
export function textContent(formatted: FormattedText): Partial<TgMessage> {
  return { text: formatted.text, ...(formatted.entities.length > 0 ? { entities: formatted.entities } : {}) };
}
