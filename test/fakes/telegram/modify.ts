/**
 * The Bot API methods that act on existing messages or on the chat without creating a
 * message: editMessageText, deleteMessage, setMessageReaction, sendChatAction,
 * deleteBusinessMessages, pinChatMessage, unpinChatMessage. The permission rules are the documented ones
 * (https://core.telegram.org/bots/api#deletemessage); the 48-hour limits are not modelled because the fake's clock is the real one.
 */
import { isAdmin, requireMessageId, resolveChat } from "./access.ts";
import { MESSAGE_TEXT, readFormatted, textContent } from "./compose.ts";
import type { MethodHandler } from "./context.ts";
import { badRequest } from "./errors.ts";
import type { TgReaction } from "./types.ts";
import type { World } from "./world.ts";

const NOT_MODIFIED =
  "message is not modified: specified new message content and reply markup are exactly the same as a " +
  "current content and reply markup of the message";

/** editMessageText (chat_id + message_id; inline messages are not modelled). */
export const editMessageText: MethodHandler = (ctx) => {
  const { params, world, bot } = ctx;
  if (params.str("inline_message_id") !== undefined) throw badRequest("MESSAGE_ID_INVALID");
  if ((params.str("text") ?? "") === "") throw badRequest("message text is empty");
  const formatted = readFormatted(ctx, MESSAGE_TEXT);
  const target = resolveChat(world, bot, params, true);
  const messageId = requireMessageId(params);
  const stored = world.message(target.key, messageId);
  if (stored === undefined) throw badRequest("message to edit not found");
  if (stored.senderId !== bot.user.id) throw badRequest("message can't be edited");
  const message = stored.message;
  if (message.text === undefined) throw badRequest("there is no text in the message to edit");
  if (formatted.text.length === 0) throw badRequest("message text is empty");
  if (formatted.text.length > 4096) throw badRequest("message is too long");
  const markup = params.json("reply_markup", "reply markup");
  const sameText =
    message.text === formatted.text &&
    JSON.stringify(message.entities ?? []) === JSON.stringify(formatted.entities);
  const sameMarkup = JSON.stringify(message.reply_markup) === JSON.stringify(markup);
  if (sameText && sameMarkup) throw badRequest(NOT_MODIFIED);
  delete message.entities;
  Object.assign(message, textContent(formatted), { edit_date: world.now() });
  if (markup !== undefined) message.reply_markup = markup;
  const result = structuredClone(message);
  ctx.record({ chat_id: target.chat.id, message: result });
  return result;
};

/** deleteMessage: the bot's own messages, incoming ones in private chats, any as group admin. */
export const deleteMessage: MethodHandler = (ctx) => {
  const { params, world, bot } = ctx;
  const target = resolveChat(world, bot, params, true);
  const messageId = requireMessageId(params);
  const stored = world.message(target.key, messageId);
  if (stored === undefined) throw badRequest("message to delete not found");
  const own = stored.senderId === bot.user.id;
  const allowed = own || target.chat.type === "private" || isAdmin(target.record, bot.user.id);
  if (!allowed) throw badRequest("message can't be deleted");
  world.deleteMessage(target.key, messageId);
  ctx.record({ chat_id: target.chat.id });
  return true;
};

/**
 * deleteBusinessMessages (https://core.telegram.org/bots/api#deletebusinessmessages): messages
 * of one chat of the business account. The fake lets the bot delete what it sent through the
 * connection (the `can_delete_sent_messages` right) and, when it may reply, any other message of
 * the chat; all ids must belong to one chat.
 */
export const deleteBusinessMessages: MethodHandler = (ctx) => {
  const { params, world, bot } = ctx;
  const id = params.str("business_connection_id") ?? "";
  const business = world.business.get(id);
  if (business === undefined || business.botToken !== bot.token)
    throw badRequest("business connection not found");
  const raw = params.json("message_ids", "message identifiers");
  if (!Array.isArray(raw) || raw.length === 0 || !raw.every((m) => Number.isInteger(m))) {
    throw badRequest("message identifiers are not specified");
  }
  const ids = raw as number[];
  const prefix = `business/${id}/`;
  const key = findBusinessChat(world, prefix, ids);
  if (key === undefined) throw badRequest("message to delete not found");
  for (const messageId of ids) {
    const stored = world.message(key, messageId);
    if (stored === undefined) continue;
    if (stored.senderId !== bot.user.id && !business.connection.can_reply)
      throw badRequest("message can't be deleted");
  }
  for (const messageId of ids) world.deleteMessage(key, messageId);
  ctx.record({ chat_id: Number(key.slice(prefix.length)) });
  return true;
};

/** The conversation key of the business chat holding the first of `ids`. */
function findBusinessChat(world: World, prefix: string, ids: number[]): string | undefined {
  for (const user of world.users.keys()) {
    const key = `${prefix}${user}`;
    if (ids.some((m) => world.message(key, m) !== undefined)) return key;
  }
  return undefined;
}

/**
 * The emoji a reaction may use ("Currently, it can be one of ..." in
 * https://core.telegram.org/bots/api#reactiontypeemoji).
 */
export const REACTION_EMOJI = new Set([
  "👍",
  "👎",
  "❤",
  "🔥",
  "🥰",
  "👏",
  "😁",
  "🤔",
  "🤯",
  "😱",
  "🤬",
  "😢",
  "🎉",
  "🤩",
  "🤮",
  "💩",
  "🙏",
  "👌",
  "🕊",
  "🤡",
  "🥱",
  "🥴",
  "😍",
  "🐳",
  "❤\u200d🔥",
  "🌚",
  "🌭",
  "💯",
  "🤣",
  "⚡",
  "🍌",
  "🏆",
  "💔",
  "🤨",
  "😐",
  "🍓",
  "🍾",
  "💋",
  "🖕",
  "😈",
  "😴",
  "😭",
  "🤓",
  "👻",
  "👨\u200d💻",
  "👀",
  "🎃",
  "🙈",
  "😇",
  "😨",
  "🤝",
  "✍",
  "🤗",
  "🫡",
  "🎅",
  "🎄",
  "☃",
  "💅",
  "🤪",
  "🗿",
  "🆒",
  "💘",
  "🙉",
  "🦄",
  "😘",
  "💊",
  "🙊",
  "😎",
  "👾",
  "🤷\u200d♂",
  "🤷",
  "🤷\u200d♀",
  "😡",
]);

/** setMessageReaction: a bot sets at most one reaction; an empty list removes it. */
export const setMessageReaction: MethodHandler = (ctx) => {
  const { params, world, bot } = ctx;
  const target = resolveChat(world, bot, params, true);
  const messageId = params.int("message_id");
  const stored = messageId > 0 ? world.message(target.key, messageId) : undefined;
  if (stored === undefined) throw badRequest("message to react not found");
  const raw = params.json("reaction", "reaction types") ?? [];
  if (!Array.isArray(raw)) throw badRequest("can't parse reaction types JSON object");
  const reactions: TgReaction[] = raw.map((item: unknown) => {
    const r = item as { type?: unknown; emoji?: unknown };
    if (r?.type !== "emoji" || typeof r.emoji !== "string" || !REACTION_EMOJI.has(r.emoji)) {
      throw badRequest("REACTION_INVALID");
    }
    return { type: "emoji", emoji: r.emoji };
  });
  if (reactions.length > 1) throw badRequest("REACTIONS_TOO_MANY");
  if (reactions.length === 0) stored.reactions.delete(bot.user.id);
  else stored.reactions.set(bot.user.id, reactions);
  ctx.record({ chat_id: target.chat.id });
  return true;
};

const CHAT_ACTIONS = new Set([
  "typing",
  "upload_photo",
  "record_video",
  "upload_video",
  "record_voice",
  "upload_voice",
  "upload_document",
  "choose_sticker",
  "find_location",
  "record_video_note",
  "upload_video_note",
]);

/** sendChatAction. */
export const sendChatAction: MethodHandler = (ctx) => {
  const target = resolveChat(ctx.world, ctx.bot, ctx.params, true);
  if (!CHAT_ACTIONS.has(ctx.params.str("action") ?? ""))
    throw badRequest("wrong parameter action in request");
  ctx.record({ chat_id: target.chat.id });
  return true;
};

/**
 * pinChatMessage: in groups only administrators may pin (the fake gives every admin
 * can_pin_messages); in private chats anyone. Pins in private chats are not kept.
 */
export const pinChatMessage: MethodHandler = (ctx) => {
  const { params, world, bot } = ctx;
  const target = resolveChat(world, bot, params, true);
  const messageId = requireMessageId(params);
  const stored = world.message(target.key, messageId);
  if (stored === undefined) throw badRequest("message to pin not found");
  if (target.record !== undefined) {
    if (!isAdmin(target.record, bot.user.id))
      throw badRequest("not enough rights to manage pinned messages in the chat");
    target.record.pinned = [...(target.record.pinned ?? []).filter((id) => id !== messageId), messageId];
  }
  ctx.record({ chat_id: target.chat.id, message: structuredClone(stored.message) });
  return true;
};

/** unpinChatMessage: a given message_id, or the most recent pin. */
export const unpinChatMessage: MethodHandler = (ctx) => {
  const { params, world, bot } = ctx;
  const target = resolveChat(world, bot, params, true);
  if (target.record !== undefined) {
    if (!isAdmin(target.record, bot.user.id))
      throw badRequest("not enough rights to manage pinned messages in the chat");
    const pinned = target.record.pinned ?? [];
    const id = params.str("message_id") !== undefined ? params.int("message_id") : pinned[pinned.length - 1];
    target.record.pinned = pinned.filter((p) => p !== id);
  }
  ctx.record({ chat_id: target.chat.id });
  return true;
};

/** The methods of this module by their documented names. */
export const MODIFY_METHODS: Record<string, MethodHandler> = {
  editMessageText,
  deleteMessage,
  setMessageReaction,
  sendChatAction,
  deleteBusinessMessages,
  pinChatMessage,
  unpinChatMessage,
};
