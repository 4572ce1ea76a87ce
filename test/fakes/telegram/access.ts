/**
 * Which chat a Bot API call addresses and whether the bot may use it, with the
 * server's refusals: `chat_id is empty`, `chat not found`, `group chat was upgraded to
 * a supergroup chat` (with `migrate_to_chat_id`), `bot can't initiate conversation
 * with a user`, `bot was blocked by the user`, `bot is not a member of the ... chat`,
 * `need administrator rights in the channel chat`, `business connection not found`.
 */
import { badRequest, forbidden } from "./errors.ts";
import type { Params } from "./params.ts";
import type { TgChat } from "./types.ts";
import type { BotRecord, BusinessRecord, ChatRecord, World } from "./world.ts";

/** A chat the bot may use, and the key of its conversation. */
export interface ResolvedChat {
  chat: TgChat;
  key: string;
  /** The group record, for groups, supergroups and channels. */
  record?: ChatRecord;
  /** Set when the call goes through a business connection. */
  business?: BusinessRecord;
}

/** Reads `chat_id` and checks the bot may act in that chat (`write` for sending). */
export function resolveChat(world: World, bot: BotRecord, params: Params, write: boolean): ResolvedChat {
  const raw = params.str("chat_id")?.trim() ?? "";
  if (raw === "") throw badRequest("chat_id is empty");
  const businessId = params.str("business_connection_id");
  if (businessId !== undefined && businessId !== "") return resolveBusinessChat(world, bot, businessId, raw);
  const id = raw.startsWith("@") ? chatIdByUsername(world, raw.slice(1)) : parseChatId(raw);
  if (id === undefined) throw badRequest("chat not found");
  if (id > 0) return resolvePrivate(world, bot, id, write);
  const record = world.chats.get(id);
  if (record === undefined) throw badRequest("chat not found");
  if (record.migratedTo !== undefined) {
    throw badRequest("group chat was upgraded to a supergroup chat", {
      migrate_to_chat_id: record.migratedTo,
    });
  }
  if (!record.members.has(bot.user.id) && !record.admins.has(bot.user.id)) {
    throw forbidden(
      `bot is not a member of the ${record.chat.type === "group" ? "group" : record.chat.type} chat`,
    );
  }
  if (write && record.chat.type === "channel" && !record.admins.has(bot.user.id)) {
    throw badRequest("need administrator rights in the channel chat");
  }
  return {
    chat: structuredClone(record.chat),
    key: world.conversationKey(id, record.chat.type, bot.user.id),
    record,
  };
}

function resolvePrivate(world: World, bot: BotRecord, userId: number, write: boolean): ResolvedChat {
  const user = world.users.get(userId)?.user;
  if (user === undefined) throw badRequest("chat not found");
  // A bot can only talk to users who wrote to it first.
  if (!bot.privateChats.has(userId)) {
    if (write) throw forbidden("bot can't initiate conversation with a user");
    throw badRequest("chat not found");
  }
  if (write && bot.blockedBy.has(userId)) throw forbidden("bot was blocked by the user");
  return { chat: world.privateChat(user), key: world.conversationKey(userId, "private", bot.user.id) };
}

function resolveBusinessChat(world: World, bot: BotRecord, connectionId: string, raw: string): ResolvedChat {
  const business = world.business.get(connectionId);
  if (business === undefined || business.botToken !== bot.token)
    throw badRequest("business connection not found");
  const id = parseChatId(raw);
  const user = id === undefined ? undefined : world.users.get(id)?.user;
  if (user === undefined) throw badRequest("chat not found");
  return {
    chat: world.privateChat(user),
    key: world.conversationKey(user.id, "private", bot.user.id, connectionId),
    business,
  };
}

function parseChatId(raw: string): number | undefined {
  return /^-?\d+$/.test(raw) ? Number(raw) : undefined;
}

function chatIdByUsername(world: World, username: string): number | undefined {
  const wanted = username.toLowerCase();
  for (const record of world.chats.values()) {
    if (record.chat.username?.toLowerCase() === wanted) return record.chat.id;
  }
  return undefined;
}

/** Reads a required `message_id`, failing with the server's wording when it is missing. */
export function requireMessageId(params: Params): number {
  const id = params.int("message_id");
  if (id <= 0) throw badRequest("message identifier is not specified");
  return id;
}

/** Whether the bot is an administrator (or the creator) of the chat. */
export function isAdmin(record: ChatRecord | undefined, userId: number): boolean {
  return record !== undefined && (record.admins.has(userId) || record.creator === userId);
}
