/**
 * The state of the fake Telegram: bots, users, chats, the messages of every
 * conversation, business connections and files. Both sides act on it: the Bot API
 * methods (what the gateway does) and the scripting API (what Telegram users do).
 *
 * Message ids are per conversation and increase by one, as a bot sees them: a private
 * chat is one conversation per bot and user, a group/supergroup/channel is one
 * conversation shared by every bot in it, a business chat is one conversation per
 * business connection and customer.
 */
import { FileStore, type StoredFile } from "./files.ts";
import { imageSize, photoLadder } from "./media.ts";
import type {
  ChatType,
  TgBusinessConnection,
  TgChat,
  TgMessage,
  TgPhotoSize,
  TgReaction,
  TgUser,
} from "./types.ts";
import type { UpdateQueue } from "./updates.ts";

/** One thing a bot did, for `bot.sent()`. */
export interface SentMessage {
  /** The Bot API method, in its documented spelling (sendMessage, editMessageText, ...). */
  method: string;
  chat_id: number;
  /** The request parameters (files replaced by name, type and size). */
  params: Record<string, unknown>;
  /** The message sent or edited, when the method has one. */
  message?: TgMessage;
  /** Server time (ms since the epoch) when the request was handled. */
  at: number;
}

/** A stored message and who sent it. */
export interface StoredMessage {
  message: TgMessage;
  /** User or bot id of the author (for business messages sent by a bot: the bot). */
  senderId: number;
  /** Reactions by user or bot id. */
  reactions: Map<number, TgReaction[]>;
}

/** A conversation: its messages and the next message id. */
export interface Conversation {
  nextId: number;
  messages: Map<number, StoredMessage>;
}

/** A bot account. */
export interface BotRecord {
  token: string;
  user: TgUser;
  /** Privacy mode (on for new bots): in groups the bot sees only commands, mentions and replies. */
  privacy: boolean;
  queue: UpdateQueue;
  webhookUrl: string;
  sent: SentMessage[];
  /** Users who opened a private chat with the bot. */
  privateChats: Set<number>;
  /** Users who blocked the bot. */
  blockedBy: Set<number>;
}

/** A user account. */
export interface UserRecord {
  user: TgUser;
  /** Profile photos, newest first: the largest size of each (see World.photo). */
  photos: StoredFile[];
}

/** A group, supergroup or channel. */
export interface ChatRecord {
  chat: TgChat;
  creator?: number;
  admins: Set<number>;
  members: Set<number>;
  /** Set once a group was upgraded: sending to it fails with migrate_to_chat_id. */
  migratedTo?: number;
  /** The bot that last sent a message here (privacy mode lets it see general commands). */
  lastBotSender?: number;
  /** Pinned message ids, the most recent last (pinChatMessage). */
  pinned?: number[];
}

/** A business connection of one bot with one business account. */
export interface BusinessRecord {
  connection: TgBusinessConnection;
  botToken: string;
}

/** Everything the fake server knows. */
export class World {
  readonly bots = new Map<string, BotRecord>();
  readonly users = new Map<number, UserRecord>();
  readonly chats = new Map<number, ChatRecord>();
  readonly business = new Map<string, BusinessRecord>();
  readonly files = new FileStore();
  /** The PhotoSize array each photo file belongs to, so a reused file_id keeps its sizes. */
  readonly photoSets = new WeakMap<StoredFile, TgPhotoSize[]>();
  private readonly conversations = new Map<string, Conversation>();

  /** Current time in Unix seconds, the unit of every `date` field. */
  now(): number {
    return Math.floor(Date.now() / 1000);
  }

  /** The bot with this id, if any. */
  botById(id: number): BotRecord | undefined {
    for (const bot of this.bots.values()) if (bot.user.id === id) return bot;
    return undefined;
  }

  /** The User object of a user or bot id, if known. */
  userObject(id: number): TgUser | undefined {
    return this.users.get(id)?.user ?? this.botById(id)?.user;
  }

  /** The Chat object of the private chat with a user. */
  privateChat(user: TgUser): TgChat {
    return {
      id: user.id,
      type: "private",
      first_name: user.first_name,
      ...(user.last_name !== undefined ? { last_name: user.last_name } : {}),
      ...(user.username !== undefined ? { username: user.username } : {}),
    };
  }

  /** The conversation key of a chat as seen by `bot` (or a business connection). */
  conversationKey(chatId: number, type: ChatType, botId: number, businessConnectionId?: string): string {
    if (businessConnectionId !== undefined) return `business/${businessConnectionId}/${chatId}`;
    return type === "private" ? `private/${botId}/${chatId}` : `chat/${chatId}`;
  }

  /** The conversation for this key, created empty on first use. */
  conversation(key: string): Conversation {
    let conversation = this.conversations.get(key);
    if (conversation === undefined) {
      conversation = { nextId: 1, messages: new Map() };
      this.conversations.set(key, conversation);
    }
    return conversation;
  }

  /** Stores a new message: assigns its id and date, returns the stored copy. */
  store(key: string, senderId: number, build: (messageId: number, date: number) => TgMessage): StoredMessage {
    const conversation = this.conversation(key);
    const message = build(conversation.nextId++, this.now());
    const stored: StoredMessage = { message, senderId, reactions: new Map() };
    conversation.messages.set(message.message_id, stored);
    return stored;
  }

  /** A message of a conversation, if it exists and was not deleted. */
  message(key: string, messageId: number): StoredMessage | undefined {
    return this.conversations.get(key)?.messages.get(messageId);
  }

  /** Deletes a message; returns whether it existed. */
  deleteMessage(key: string, messageId: number): boolean {
    return this.conversations.get(key)?.messages.delete(messageId) ?? false;
  }

  /**
   * The PhotoSize array of a photo whose largest size is `original`: the known one for
   * a reused file, else a new ladder of sizes (each its own file with the same bytes:
   * the fake does not rescale images). Returns a copy.
   */
  photo(original: StoredFile): TgPhotoSize[] {
    const known = this.photoSets.get(original);
    if (known !== undefined) return structuredClone(known);
    // Without readable dimensions (a URL, an unknown format) assume a common camera size.
    const size = imageSize(original.data) ?? { width: 1280, height: 960 };
    const rungs = photoLadder(size.width, size.height);
    const files = rungs.map((rung, index) => ({
      ...rung,
      file:
        index === rungs.length - 1
          ? original
          : this.files.add(original.data, original.folder, original.extension, original.sourceUrl),
    }));
    const sizes = files.map(({ file, width, height }) => ({
      file_id: file.fileId,
      file_unique_id: file.fileUniqueId,
      width,
      height,
      ...(file.data.length > 0 ? { file_size: file.data.length } : {}),
    }));
    for (const { file } of files) this.photoSets.set(file, sizes);
    return structuredClone(sizes);
  }
}

/**
 * A message as it appears inside another one (reply_to_message, pinned_message): the
 * server leaves out the nested message's own reply_to_message.
 */
export function nested(message: TgMessage): TgMessage {
  const { reply_to_message: _omitted, ...rest } = message;
  return structuredClone(rest);
}
