/**
 * The Bot API objects the fake produces, as the Bot API documentation defines them
 * (https://core.telegram.org/bots/api#available-types). Only the fields the fake fills
 * are declared; every optional field is left out of the JSON when absent, as the real
 * server does.
 */

/** https://core.telegram.org/bots/api#user */
export interface TgUser {
  id: number;
  is_bot: boolean;
  first_name: string;
  last_name?: string;
  username?: string;
  language_code?: string;
  can_join_groups?: boolean;
  can_read_all_group_messages?: boolean;
  supports_inline_queries?: boolean;
  can_connect_to_business?: boolean;
  has_main_web_app?: boolean;
}

/** The four chat types of the Bot API. */
export type ChatType = "private" | "group" | "supergroup" | "channel";

/** https://core.telegram.org/bots/api#chat */
export interface TgChat {
  id: number;
  type: ChatType;
  title?: string;
  username?: string;
  first_name?: string;
  last_name?: string;
}

/** https://core.telegram.org/bots/api#messageentity */
export interface TgEntity {
  type: string;
  offset: number;
  length: number;
  url?: string;
  user?: TgUser;
  language?: string;
  custom_emoji_id?: string;
}

/** https://core.telegram.org/bots/api#photosize */
export interface TgPhotoSize {
  file_id: string;
  file_unique_id: string;
  width: number;
  height: number;
  file_size?: number;
}

/** https://core.telegram.org/bots/api#document */
export interface TgDocument {
  file_id: string;
  file_unique_id: string;
  file_name?: string;
  mime_type?: string;
  file_size?: number;
}

/** https://core.telegram.org/bots/api#voice */
export interface TgVoice {
  file_id: string;
  file_unique_id: string;
  duration: number;
  mime_type?: string;
  file_size?: number;
}

/** https://core.telegram.org/bots/api#video */
export interface TgVideo {
  file_id: string;
  file_unique_id: string;
  width: number;
  height: number;
  duration: number;
  file_name?: string;
  mime_type?: string;
  file_size?: number;
}

/** https://core.telegram.org/bots/api#sticker */
export interface TgSticker {
  file_id: string;
  file_unique_id: string;
  type: "regular" | "mask" | "custom_emoji";
  width: number;
  height: number;
  is_animated: boolean;
  is_video: boolean;
  emoji?: string;
  file_size?: number;
}

/** https://core.telegram.org/bots/api#location */
export interface TgLocation {
  latitude: number;
  longitude: number;
}

/** https://core.telegram.org/bots/api#reactiontype (emoji and custom emoji kinds). */
export type TgReaction = { type: "emoji"; emoji: string } | { type: "custom_emoji"; custom_emoji_id: string };

/** https://core.telegram.org/bots/api#message — the fields the fake fills. */
export interface TgMessage {
  message_id: number;
  from?: TgUser;
  sender_business_bot?: TgUser;
  date: number;
  business_connection_id?: string;
  chat: TgChat;
  reply_to_message?: TgMessage;
  edit_date?: number;
  text?: string;
  entities?: TgEntity[];
  caption?: string;
  caption_entities?: TgEntity[];
  photo?: TgPhotoSize[];
  document?: TgDocument;
  voice?: TgVoice;
  video?: TgVideo;
  sticker?: TgSticker;
  location?: TgLocation;
  new_chat_members?: TgUser[];
  left_chat_member?: TgUser;
  new_chat_title?: string;
  pinned_message?: TgMessage;
  migrate_to_chat_id?: number;
  migrate_from_chat_id?: number;
  reply_markup?: unknown;
}

/** https://core.telegram.org/bots/api#businessconnection */
export interface TgBusinessConnection {
  id: string;
  user: TgUser;
  user_chat_id: number;
  date: number;
  /** Deprecated by Bot API 9.0 in favour of `rights`, still sent by the real server. */
  can_reply: boolean;
  rights?: { can_reply: boolean };
  is_enabled: boolean;
}

/** https://core.telegram.org/bots/api#messagereactionupdated */
export interface TgMessageReactionUpdated {
  chat: TgChat;
  message_id: number;
  user?: TgUser;
  date: number;
  old_reaction: TgReaction[];
  new_reaction: TgReaction[];
}

/** https://core.telegram.org/bots/api#businessmessagesdeleted */
export interface TgBusinessMessagesDeleted {
  business_connection_id: string;
  chat: TgChat;
  message_ids: number[];
}

/** The update kinds the fake can produce (https://core.telegram.org/bots/api#update). */
export interface TgUpdatePayload {
  message?: TgMessage;
  edited_message?: TgMessage;
  channel_post?: TgMessage;
  edited_channel_post?: TgMessage;
  business_connection?: TgBusinessConnection;
  business_message?: TgMessage;
  edited_business_message?: TgMessage;
  deleted_business_messages?: TgBusinessMessagesDeleted;
  message_reaction?: TgMessageReactionUpdated;
}

/** https://core.telegram.org/bots/api#update */
export type TgUpdate = { update_id: number } & TgUpdatePayload;

/** https://core.telegram.org/bots/api#file */
export interface TgFile {
  file_id: string;
  file_unique_id: string;
  file_size?: number;
  file_path?: string;
}
