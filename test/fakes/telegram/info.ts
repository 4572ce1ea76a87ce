/**
 * The read-only Bot API methods: getMe, getChat, getChatAdministrators, getChatMember,
 * getUserProfilePhotos, getFile and getBusinessConnection.
 */
import { resolveChat } from "./access.ts";
import type { MethodHandler } from "./context.ts";
import { badRequest } from "./errors.ts";
import type { TgChat, TgUser } from "./types.ts";
import type { ChatRecord } from "./world.ts";

/** Largest file getFile hands out (https://core.telegram.org/bots/api#getfile). */
export const MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024;

/** getMe. */
export const getMe: MethodHandler = ({ bot }) => ({
  ...bot.user,
  can_join_groups: true,
  can_read_all_group_messages: !bot.privacy,
  supports_inline_queries: false,
  can_connect_to_business: true,
  has_main_web_app: false,
});

/** getChat: a ChatFullInfo with the fields the fake knows. */
export const getChat: MethodHandler = (ctx) => {
  const target = resolveChat(ctx.world, ctx.bot, ctx.params, false);
  const full: TgChat & Record<string, unknown> = {
    ...target.chat,
    // Required fields of ChatFullInfo.
    accent_color_id: 0,
    max_reaction_count: 11,
  };
  const pinned = target.record?.pinned?.at(-1);
  const pinnedMessage = pinned === undefined ? undefined : ctx.world.message(target.key, pinned);
  if (pinnedMessage !== undefined) full.pinned_message = structuredClone(pinnedMessage.message);
  if (target.record?.chat.type === "supergroup") {
    const origin = [...ctx.world.chats.values()].find((r) => r.migratedTo === target.chat.id);
    if (origin !== undefined) full.migrated_from_chat_id = origin.chat.id;
  }
  return full;
};

/** One ChatMember object (https://core.telegram.org/bots/api#chatmember). */
function chatMember(record: ChatRecord, user: TgUser): Record<string, unknown> {
  if (record.creator === user.id) return { user, status: "creator", is_anonymous: false };
  if (record.admins.has(user.id)) {
    return {
      user,
      status: "administrator",
      can_be_edited: false,
      is_anonymous: false,
      can_manage_chat: true,
      can_delete_messages: true,
      can_manage_video_chats: true,
      can_restrict_members: true,
      can_promote_members: false,
      can_change_info: true,
      can_invite_users: true,
      can_post_stories: false,
      can_edit_stories: false,
      can_delete_stories: false,
      can_pin_messages: true,
    };
  }
  if (record.members.has(user.id)) return { user, status: "member" };
  return { user, status: "left" };
}

/** getChatAdministrators: creator first, then the administrators. */
export const getChatAdministrators: MethodHandler = (ctx) => {
  const target = resolveChat(ctx.world, ctx.bot, ctx.params, false);
  const record = target.record;
  if (record === undefined) throw badRequest("there are no administrators in the private chat");
  const ids = [...new Set([...(record.creator !== undefined ? [record.creator] : []), ...record.admins])];
  return ids.flatMap((id) => {
    const user = ctx.world.userObject(id);
    return user === undefined ? [] : [chatMember(record, user)];
  });
};

/** getChatMember. */
export const getChatMember: MethodHandler = (ctx) => {
  const target = resolveChat(ctx.world, ctx.bot, ctx.params, false);
  const user = ctx.world.userObject(ctx.params.int("user_id"));
  if (user === undefined) throw badRequest("user not found");
  if (target.record === undefined) {
    // In a private chat the two parties are members.
    const inChat = user.id === target.chat.id || user.id === ctx.bot.user.id;
    return { user, status: inChat ? "member" : "left" };
  }
  return chatMember(target.record, user);
};

/** getUserProfilePhotos (offset and limit 1..100 as documented). */
export const getUserProfilePhotos: MethodHandler = (ctx) => {
  const record = ctx.world.users.get(ctx.params.int("user_id"));
  if (record === undefined) throw badRequest("user not found");
  const offset = Math.max(0, ctx.params.int("offset"));
  const limit = Math.min(Math.max(ctx.params.int("limit", 100), 1), 100);
  return {
    total_count: record.photos.length,
    photos: record.photos.slice(offset, offset + limit).map((file) => ctx.world.photo(file)),
  };
};

/** getFile: a File with a file_path for /file/bot<token>/<file_path>. */
export const getFile: MethodHandler = (ctx) => {
  const file = ctx.world.files.get((ctx.params.str("file_id") ?? "").trim());
  if (file === undefined) throw badRequest("invalid file_id");
  if (file.data.length > MAX_DOWNLOAD_BYTES) throw badRequest("file is too big");
  return {
    file_id: file.fileId,
    file_unique_id: file.fileUniqueId,
    ...(file.data.length > 0 ? { file_size: file.data.length } : {}),
    file_path: ctx.world.files.pathOf(file),
  };
};

/** getBusinessConnection. */
export const getBusinessConnection: MethodHandler = (ctx) => {
  const record = ctx.world.business.get(ctx.params.str("business_connection_id") ?? "");
  if (record === undefined || record.botToken !== ctx.bot.token) {
    throw badRequest("business connection not found");
  }
  return structuredClone(record.connection);
};

/** The methods of this module by their documented names. */
export const INFO_METHODS: Record<string, MethodHandler> = {
  getMe,
  getChat,
  getChatAdministrators,
  getChatMember,
  getUserProfilePhotos,
  getFile,
  getBusinessConnection,
};
