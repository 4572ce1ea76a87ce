/**
 * What Telegram users do, for tests: send, edit and react to messages, change groups,
 * upgrade a group to a supergroup, and run a business account connected to a bot. Each
 * action stores the message in the world and queues the update for every bot that would
 * receive it.
 *
 * Who sees a group message (https://core.telegram.org/bots/features#privacy-mode):
 * bots that are members, and among those, in privacy mode (the default for new bots),
 * only administrators see everything; the others see commands addressed to them
 * (`/cmd@thisbot`), general commands (`/cmd`) if they were the last bot to send a
 * message to the group or no bot has sent one yet (simplified: the real rule needs the
 * last sender), messages that mention them, replies to their messages, and service
 * messages. Bots never see messages of other bots. A private message reaches only the
 * bot it was sent to. message_reaction updates reach the bot of a private chat and
 * administrator bots of a group, and only if the bot asked for them in allowed_updates.
 */
import { isAdmin } from "./access.ts";
import { finishText } from "./formatted-text.ts";
import type { TgChat, TgEntity, TgMessage, TgReaction, TgUpdatePayload, TgUser } from "./types.ts";
import { type BotRecord, type ChatRecord, nested, type StoredMessage, type World } from "./world.ts";

/** A document a user sends. */
export interface DocumentSpec {
  data: Buffer;
  file_name: string;
  mime_type: string;
}

/** What a user sends: text, or one kind of media with an optional caption. */
export interface UserMessageSpec {
  from: number;
  /** The chat: a group id, or (for a private chat with the bot) the user's id. Default: private. */
  chat?: number;
  text?: string;
  /** Explicit entities; without them the server's detection runs (mentions, commands, ...). */
  entities?: TgEntity[];
  caption?: string;
  reply_to_message_id?: number;
  photo?: Buffer;
  document?: DocumentSpec;
  voice?: { data: Buffer; duration?: number };
  video?: { data: Buffer; width?: number; height?: number; duration?: number };
  sticker?: { data: Buffer; emoji?: string };
  location?: { latitude: number; longitude: number };
}

/** Thrown when a test scripts something Telegram would not allow (unknown user, ...). */
export class ScriptError extends Error {}

function requireUser(world: World, id: number): TgUser {
  const user = world.users.get(id)?.user;
  if (user === undefined) throw new ScriptError(`unknown user ${id}; call addUser first`);
  return user;
}

function requireBot(world: World, token: string): BotRecord {
  const bot = world.bots.get(token);
  if (bot === undefined) throw new ScriptError("unknown bot token; call addBot first");
  return bot;
}

function requireGroup(world: World, chatId: number): ChatRecord {
  const record = world.chats.get(chatId);
  if (record === undefined) throw new ScriptError(`unknown chat ${chatId}; call addChat first`);
  if (record.migratedTo !== undefined) {
    throw new ScriptError(`chat ${chatId} was upgraded to ${record.migratedTo}; use the supergroup`);
  }
  return record;
}

/** The content fields of a user message (text or media), storing any files. */
function content(world: World, spec: UserMessageSpec): Partial<TgMessage> {
  const out: Partial<TgMessage> = {};
  const add = (data: Buffer, folder: string, extension: string) => world.files.add(data, folder, extension);
  const ids = (file: { fileId: string; fileUniqueId: string; data: Buffer }) => ({
    file_id: file.fileId,
    file_unique_id: file.fileUniqueId,
    file_size: file.data.length,
  });
  if (spec.text !== undefined) {
    const formatted = finishText({ text: spec.text, entities: spec.entities ?? [] });
    out.text = formatted.text;
    if (formatted.entities.length > 0) out.entities = formatted.entities;
  }
  if (spec.photo !== undefined) out.photo = world.photo(add(spec.photo, "photos", "jpg"));
  if (spec.document !== undefined) {
    const extension = /\.([a-z0-9]+)$/i.exec(spec.document.file_name)?.[1] ?? "bin";
    out.document = {
      ...ids(add(spec.document.data, "documents", extension)),
      file_name: spec.document.file_name,
      mime_type: spec.document.mime_type,
    };
  }
  if (spec.voice !== undefined) {
    out.voice = {
      ...ids(add(spec.voice.data, "voice", "oga")),
      duration: spec.voice.duration ?? 1,
      mime_type: "audio/ogg",
    };
  }
  if (spec.video !== undefined) {
    out.video = {
      ...ids(add(spec.video.data, "videos", "mp4")),
      width: spec.video.width ?? 640,
      height: spec.video.height ?? 480,
      duration: spec.video.duration ?? 1,
      mime_type: "video/mp4",
    };
  }
  if (spec.sticker !== undefined) {
    out.sticker = {
      ...ids(add(spec.sticker.data, "stickers", "webp")),
      type: "regular",
      width: 512,
      height: 512,
      is_animated: false,
      is_video: false,
      ...(spec.sticker.emoji !== undefined ? { emoji: spec.sticker.emoji } : {}),
    };
  }
  if (spec.location !== undefined) out.location = { ...spec.location };
  if (spec.caption !== undefined && spec.text === undefined) {
    const caption = finishText({ text: spec.caption, entities: [] });
    out.caption = caption.text;
    if (caption.entities.length > 0) out.caption_entities = caption.entities;
  }
  if (Object.keys(out).length === 0) throw new ScriptError("a message needs text or media");
  return out;
}

/** Whether `bot` receives a (non-service) user message in a group. */
function botSees(bot: BotRecord, record: ChatRecord, stored: StoredMessage): boolean {
  const botId = bot.user.id;
  if (!record.members.has(botId) && !record.admins.has(botId)) return false;
  if (!bot.privacy || isAdmin(record, botId)) return true;
  const message = stored.message;
  const text = message.text ?? message.caption ?? "";
  const entities = message.entities ?? message.caption_entities ?? [];
  const username = (bot.user.username ?? "").toLowerCase();
  if (message.reply_to_message?.from?.id === botId) return true;
  for (const entity of entities) {
    const value = text.slice(entity.offset, entity.offset + entity.length).toLowerCase();
    if (entity.type === "mention" && value === `@${username}`) return true;
    if (entity.type === "text_mention" && entity.user?.id === botId) return true;
    if (entity.type === "bot_command" && entity.offset === 0) {
      const target = value.split("@")[1];
      if (target === username) return true;
      if (target === undefined && (record.lastBotSender === undefined || record.lastBotSender === botId))
        return true;
    }
  }
  return false;
}

/** The bots of a group that are members (or admins). */
function botsIn(world: World, record: ChatRecord): BotRecord[] {
  return [...world.bots.values()].filter(
    (b) => record.members.has(b.user.id) || record.admins.has(b.user.id),
  );
}

/** Sends a message from a user. Returns the message as bots see it. */
export function userSends(world: World, botToken: string, spec: UserMessageSpec): TgMessage {
  const bot = requireBot(world, botToken);
  const user = requireUser(world, spec.from);
  const chatId = spec.chat ?? user.id;
  if (chatId > 0) {
    if (chatId !== user.id) throw new ScriptError("a private chat with the bot has the user's id");
    bot.privateChats.add(user.id);
    const key = world.conversationKey(user.id, "private", bot.user.id);
    const stored = storeUserMessage(world, key, user, world.privateChat(user), spec);
    bot.queue.push("message", { message: structuredClone(stored.message) });
    return structuredClone(stored.message);
  }
  const record = requireGroup(world, chatId);
  if (!record.members.has(user.id) && !record.admins.has(user.id)) {
    throw new ScriptError(`user ${user.id} is not a member of chat ${chatId}`);
  }
  if (record.chat.type === "channel") throw new ScriptError("channel posts are not modelled");
  const key = world.conversationKey(chatId, record.chat.type, bot.user.id);
  const stored = storeUserMessage(world, key, user, structuredClone(record.chat), spec);
  for (const other of botsIn(world, record)) {
    if (botSees(other, record, stored))
      other.queue.push("message", { message: structuredClone(stored.message) });
  }
  return structuredClone(stored.message);
}

function storeUserMessage(
  world: World,
  key: string,
  user: TgUser,
  chat: TgChat,
  spec: UserMessageSpec,
  extra: Partial<TgMessage> = {},
): StoredMessage {
  const body = content(world, spec);
  let reply: TgMessage | undefined;
  if (spec.reply_to_message_id !== undefined) {
    const target = world.message(key, spec.reply_to_message_id);
    if (target === undefined) throw new ScriptError(`no message ${spec.reply_to_message_id} to reply to`);
    reply = nested(target.message);
  }
  return world.store(key, user.id, (messageId, date) => ({
    message_id: messageId,
    from: user,
    date,
    ...extra,
    chat,
    ...(reply !== undefined ? { reply_to_message: reply } : {}),
    ...body,
  }));
}

/** What a user edits: the new text of one of their text messages. */
export interface UserEditSpec {
  from: number;
  chat?: number;
  message_id: number;
  text: string;
  entities?: TgEntity[];
}

/** Edits a user's message; queues edited_message for the bots that see the new version. */
export function userEdits(world: World, botToken: string, spec: UserEditSpec): TgMessage {
  const bot = requireBot(world, botToken);
  const user = requireUser(world, spec.from);
  const chatId = spec.chat ?? user.id;
  const record = chatId > 0 ? undefined : requireGroup(world, chatId);
  const key = world.conversationKey(chatId, record?.chat.type ?? "private", bot.user.id);
  const stored = world.message(key, spec.message_id);
  if (stored === undefined || stored.senderId !== user.id) {
    throw new ScriptError(`user ${user.id} has no message ${spec.message_id} in chat ${chatId}`);
  }
  const formatted = finishText({ text: spec.text, entities: spec.entities ?? [] });
  delete stored.message.entities;
  stored.message.text = formatted.text;
  if (formatted.entities.length > 0) stored.message.entities = formatted.entities;
  stored.message.edit_date = world.now();
  const payload = (): TgUpdatePayload => ({ edited_message: structuredClone(stored.message) });
  if (record === undefined) bot.queue.push("edited_message", payload());
  else
    for (const other of botsIn(world, record)) {
      if (botSees(other, record, stored)) other.queue.push("edited_message", payload());
    }
  return structuredClone(stored.message);
}

/** A user's reaction change: the complete new list of emoji (empty to remove). */
export interface UserReactionSpec {
  from: number;
  chat?: number;
  message_id: number;
  emoji: string[];
}

/** Changes a user's reactions to a message; queues message_reaction where it is delivered. */
export function userReacts(world: World, botToken: string, spec: UserReactionSpec): void {
  const bot = requireBot(world, botToken);
  const user = requireUser(world, spec.from);
  const chatId = spec.chat ?? user.id;
  const record = chatId > 0 ? undefined : requireGroup(world, chatId);
  const key = world.conversationKey(chatId, record?.chat.type ?? "private", bot.user.id);
  const stored = world.message(key, spec.message_id);
  if (stored === undefined) throw new ScriptError(`no message ${spec.message_id} in chat ${chatId}`);
  const old = stored.reactions.get(user.id) ?? [];
  const next: TgReaction[] = spec.emoji.map((emoji) => ({ type: "emoji", emoji }));
  if (next.length === 0) stored.reactions.delete(user.id);
  else stored.reactions.set(user.id, next);
  const chat = record === undefined ? world.privateChat(user) : structuredClone(record.chat);
  const payload = (): TgUpdatePayload => ({
    message_reaction: {
      chat,
      message_id: spec.message_id,
      user,
      date: world.now(),
      old_reaction: old,
      new_reaction: next,
    },
  });
  if (record === undefined) bot.queue.push("message_reaction", payload());
  else
    for (const other of botsIn(world, record)) {
      if (isAdmin(record, other.user.id)) other.queue.push("message_reaction", payload());
    }
}

/** A service event in a group, performed by user `from`. Exactly one kind per call. */
export interface GroupEventSpec {
  chat: number;
  from: number;
  new_chat_members?: number[];
  left_chat_member?: number;
  new_chat_title?: string;
  /** Pins this message of the chat. */
  pinned_message_id?: number;
  /** Upgrades the group to a new supergroup with this id (e.g. -1001234567890). */
  migrate_to_chat_id?: number;
}

/**
 * Performs a service event and queues the service message for every member bot. For
 * migrate_to_chat_id, the group gets a message with migrate_to_chat_id and the new
 * supergroup (same title, members and admins) a message with migrate_from_chat_id;
 * from then on the Bot API refuses the old id with `group chat was upgraded to a
 * supergroup chat`. Returns the service message of `chat`.
 */
export function groupEvent(world: World, spec: GroupEventSpec): TgMessage {
  const user = requireUser(world, spec.from);
  const record = requireGroup(world, spec.chat);
  let body: Partial<TgMessage>;
  if (spec.new_chat_members !== undefined) {
    const members = spec.new_chat_members.map((id) => {
      const member = world.userObject(id);
      if (member === undefined) throw new ScriptError(`unknown user ${id}`);
      record.members.add(id);
      return member;
    });
    body = { new_chat_members: members };
  } else if (spec.left_chat_member !== undefined) {
    const member = world.userObject(spec.left_chat_member);
    if (member === undefined) throw new ScriptError(`unknown user ${spec.left_chat_member}`);
    body = { left_chat_member: member };
  } else if (spec.new_chat_title !== undefined) {
    record.chat.title = spec.new_chat_title;
    body = { new_chat_title: spec.new_chat_title };
  } else if (spec.pinned_message_id !== undefined) {
    const key = world.conversationKey(spec.chat, record.chat.type, 0);
    const pinned = world.message(key, spec.pinned_message_id);
    if (pinned === undefined) throw new ScriptError(`no message ${spec.pinned_message_id} to pin`);
    body = { pinned_message: nested(pinned.message) };
  } else if (spec.migrate_to_chat_id !== undefined) {
    return migrate(world, record, user, spec.migrate_to_chat_id);
  } else {
    throw new ScriptError("groupEvent needs one event");
  }
  const message = postService(world, record, user, body);
  // The bots that just left still get the service message about it; then they are gone.
  if (spec.left_chat_member !== undefined) {
    record.members.delete(spec.left_chat_member);
    record.admins.delete(spec.left_chat_member);
  }
  return message;
}

function postService(world: World, record: ChatRecord, user: TgUser, body: Partial<TgMessage>): TgMessage {
  const key = world.conversationKey(record.chat.id, record.chat.type, 0);
  const chat = structuredClone(record.chat);
  const stored = world.store(key, user.id, (messageId, date) => ({
    message_id: messageId,
    from: user,
    date,
    chat,
    ...body,
  }));
  for (const bot of botsIn(world, record))
    bot.queue.push("message", { message: structuredClone(stored.message) });
  return structuredClone(stored.message);
}

function migrate(world: World, group: ChatRecord, user: TgUser, supergroupId: number): TgMessage {
  if (group.chat.type !== "group") throw new ScriptError("only a basic group can be upgraded");
  if (world.chats.has(supergroupId)) throw new ScriptError(`chat ${supergroupId} already exists`);
  const supergroup: ChatRecord = {
    chat: {
      id: supergroupId,
      type: "supergroup",
      ...(group.chat.title !== undefined ? { title: group.chat.title } : {}),
    },
    ...(group.creator !== undefined ? { creator: group.creator } : {}),
    admins: new Set(group.admins),
    members: new Set(group.members),
  };
  world.chats.set(supergroupId, supergroup);
  const message = postService(world, group, user, { migrate_to_chat_id: supergroupId });
  postService(world, supergroup, user, { migrate_from_chat_id: group.chat.id });
  group.migratedTo = supergroupId;
  return message;
}

/** A business account connecting (or reconfiguring its connection to) a bot. */
export interface BusinessConnectSpec {
  userId: number;
  can_reply: boolean;
  is_enabled: boolean;
}

/** Connects a business account to a bot; queues business_connection. Returns the connection id. */
export function connectBusiness(world: World, botToken: string, spec: BusinessConnectSpec): string {
  const bot = requireBot(world, botToken);
  const user = requireUser(world, spec.userId);
  const existing = [...world.business.values()].find(
    (b) => b.botToken === botToken && b.connection.user.id === user.id,
  );
  const id =
    existing?.connection.id ?? `biz${world.business.size + 1}${Math.random().toString(36).slice(2, 10)}`;
  const connection = {
    id,
    user,
    user_chat_id: user.id,
    date: world.now(),
    can_reply: spec.can_reply,
    rights: { can_reply: spec.can_reply },
    is_enabled: spec.is_enabled,
  };
  world.business.set(id, { connection, botToken });
  bot.queue.push("business_connection", { business_connection: structuredClone(connection) });
  return id;
}

/** A message in a chat of a business account: from the customer or from the account owner. */
export interface BusinessMessageSpec extends UserMessageSpec {
  connection_id: string;
  /** The customer's user id (the chat of the business account with them). */
  chat: number;
}

function businessContext(world: World, botToken: string, connectionId: string) {
  const bot = requireBot(world, botToken);
  const record = world.business.get(connectionId);
  if (record === undefined || record.botToken !== botToken)
    throw new ScriptError(`unknown business connection ${connectionId}`);
  return { bot, connection: record.connection };
}

/** A message in a business chat; queues business_message with business_connection_id. */
export function businessUserSends(world: World, botToken: string, spec: BusinessMessageSpec): TgMessage {
  const { bot, connection } = businessContext(world, botToken, spec.connection_id);
  const customer = requireUser(world, spec.chat);
  const author = requireUser(world, spec.from);
  if (author.id !== customer.id && author.id !== connection.user.id) {
    throw new ScriptError("a business message comes from the customer or the business account");
  }
  const key = world.conversationKey(customer.id, "private", bot.user.id, connection.id);
  const stored = storeUserMessage(world, key, author, world.privateChat(customer), spec, {
    business_connection_id: connection.id,
  });
  bot.queue.push("business_message", { business_message: structuredClone(stored.message) });
  return structuredClone(stored.message);
}

/** Edits a business message; queues edited_business_message. */
export function businessEdits(
  world: World,
  botToken: string,
  spec: { connection_id: string; chat: number; message_id: number; text: string },
): TgMessage {
  const { bot, connection } = businessContext(world, botToken, spec.connection_id);
  const key = world.conversationKey(spec.chat, "private", bot.user.id, connection.id);
  const stored = world.message(key, spec.message_id);
  if (stored === undefined) throw new ScriptError(`no business message ${spec.message_id}`);
  const formatted = finishText({ text: spec.text, entities: [] });
  delete stored.message.entities;
  stored.message.text = formatted.text;
  if (formatted.entities.length > 0) stored.message.entities = formatted.entities;
  stored.message.edit_date = world.now();
  bot.queue.push("edited_business_message", { edited_business_message: structuredClone(stored.message) });
  return structuredClone(stored.message);
}

/** Deletes business messages; queues deleted_business_messages. */
export function businessDeletes(
  world: World,
  botToken: string,
  spec: { connection_id: string; chat: number; message_ids: number[] },
): void {
  const { bot, connection } = businessContext(world, botToken, spec.connection_id);
  const customer = requireUser(world, spec.chat);
  const key = world.conversationKey(customer.id, "private", bot.user.id, connection.id);
  for (const id of spec.message_ids) world.deleteMessage(key, id);
  bot.queue.push("deleted_business_messages", {
    deleted_business_messages: {
      business_connection_id: connection.id,
      chat: world.privateChat(customer),
      message_ids: [...spec.message_ids],
    },
  });
}
