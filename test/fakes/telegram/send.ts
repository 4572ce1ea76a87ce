/**
 * The Bot API methods that create messages: sendMessage and the media methods
 * (sendPhoto, sendDocument, sendVoice, sendVideo, sendSticker). A media file is an
 * uploaded multipart part, an existing file_id, or an HTTP(S) URL. URLs are recorded
 * and never fetched: the message gets a file with no bytes whose `sourceUrl` is the URL.
 */
import { type ResolvedChat, resolveChat } from "./access.ts";
import {
  admitSend,
  CAPTION,
  MESSAGE_TEXT,
  readFormatted,
  readReply,
  storeOutgoing,
  textContent,
} from "./compose.ts";
import type { MethodContext, MethodHandler } from "./context.ts";
import { ApiError, badRequest } from "./errors.ts";
import { extensionFor, type StoredFile } from "./files.ts";
import type { TgMessage } from "./types.ts";

/** Bot API limits (https://core.telegram.org/bots/api#sendmessage, #sendphoto, #sending-files). */
export const LIMITS = {
  text: 4096,
  caption: 1024,
  uploadBytes: 50 * 1024 * 1024,
};

/** How long after the customer's last message a bot may still answer for a business account. */
const BUSINESS_REPLY_WINDOW_S = 24 * 60 * 60;

/**
 * Resolves the target of a send and checks a business connection may reply: the connection
 * allows replies, and the chat was active in the last 24 hours ("can act on behalf of the
 * business account in chats that were active in the last 24 hours",
 * https://core.telegram.org/bots/api#businessbotrights). The fake reads "active" as: the
 * customer wrote within 24 hours. The real server's refusal observed in the wild is
 * `Bad Request: BUSINESS_PEER_INVALID`; its exact rule is not documented.
 */
function sendTarget(ctx: MethodContext): ResolvedChat {
  const target = resolveChat(ctx.world, ctx.bot, ctx.params, true);
  const connection = target.business?.connection;
  if (connection !== undefined && (!connection.is_enabled || !connection.can_reply)) {
    throw badRequest("BUSINESS_CONNECTION_NOT_ALLOWED");
  }
  if (connection !== undefined) {
    const since = ctx.world.now() - BUSINESS_REPLY_WINDOW_S;
    const messages = ctx.world.conversation(target.key).messages.values();
    const active = [...messages].some((m) => m.senderId === target.chat.id && m.message.date >= since);
    if (!active) throw badRequest("BUSINESS_PEER_INVALID");
  }
  return target;
}

/** sendMessage. */
export const sendMessage: MethodHandler = (ctx) => {
  if ((ctx.params.str("text") ?? "") === "") throw badRequest("message text is empty");
  // The server parses markup before it looks at the chat.
  const formatted = readFormatted(ctx, MESSAGE_TEXT);
  const target = sendTarget(ctx);
  if (formatted.text.length === 0) throw badRequest("message text is empty");
  if (formatted.text.length > LIMITS.text) throw badRequest("message is too long");
  const reply = readReply(ctx, target);
  admitSend(ctx, target);
  return storeOutgoing(ctx, target, textContent(formatted), reply);
};

type MediaKind = "photo" | "document" | "voice" | "video" | "sticker";

const FOLDERS: Record<MediaKind, string> = {
  photo: "photos",
  document: "documents",
  voice: "voice",
  video: "videos",
  sticker: "stickers",
};

/** The file a media method sends, and what the request said about it. */
interface InputMedia {
  file: StoredFile;
  filename?: string;
  contentType?: string;
  /** True when the file was uploaded or given by URL in this request (not a file_id). */
  isNew: boolean;
}

/** Reads the file of a media method from an upload, a file_id or a URL. */
function readInputFile(ctx: MethodContext, kind: MediaKind): InputMedia {
  const { params, world } = ctx;
  const reference = params.str(kind);
  const attached = reference?.startsWith("attach://") ? params.file(reference.slice(9)) : undefined;
  const upload = params.file(kind) ?? attached;
  if (upload !== undefined) {
    if (upload.data.length > LIMITS.uploadBytes) throw new ApiError(413, "Request Entity Too Large");
    const extension = extensionFor(upload.filename, upload.contentType);
    return {
      file: world.files.add(upload.data, FOLDERS[kind], extension),
      filename: upload.filename,
      contentType: upload.contentType,
      isNew: true,
    };
  }
  if (reference === undefined || reference.trim() === "")
    throw badRequest(`there is no ${kind} in the request`);
  if (/^https?:\/\//i.test(reference)) {
    const name = new URL(reference).pathname.split("/").pop() || undefined;
    const file = world.files.add(Buffer.alloc(0), FOLDERS[kind], extensionFor(name, undefined), reference);
    return { file, ...(name !== undefined ? { filename: name } : {}), isNew: true };
  }
  const existing = world.files.get(reference.trim());
  if (existing === undefined) throw badRequest("wrong file identifier/HTTP URL specified");
  return { file: existing, isNew: false };
}

const MIME_BY_EXTENSION: Record<string, string> = {
  jpg: "image/jpeg",
  png: "image/png",
  pdf: "application/pdf",
  txt: "text/plain",
  mp4: "video/mp4",
  oga: "audio/ogg",
  ogg: "audio/ogg",
  mp3: "audio/mpeg",
  webp: "image/webp",
};

/** The message content for one media kind. */
function mediaContent(ctx: MethodContext, kind: MediaKind, media: InputMedia): Partial<TgMessage> {
  const { file } = media;
  const base = { file_id: file.fileId, file_unique_id: file.fileUniqueId };
  const fileSize = file.data.length > 0 ? { file_size: file.data.length } : {};
  const mimeType =
    media.contentType !== undefined && media.contentType !== "application/octet-stream"
      ? media.contentType
      : MIME_BY_EXTENSION[file.extension];
  switch (kind) {
    case "photo":
      return { photo: ctx.world.photo(media.file) };
    case "document":
      return {
        document: {
          ...base,
          ...(media.filename !== undefined ? { file_name: media.filename } : {}),
          ...(mimeType !== undefined ? { mime_type: mimeType } : {}),
          ...fileSize,
        },
      };
    case "voice":
      return {
        voice: { ...base, duration: ctx.params.int("duration"), mime_type: "audio/ogg", ...fileSize },
      };
    case "video":
      return {
        video: {
          ...base,
          width: ctx.params.int("width"),
          height: ctx.params.int("height"),
          duration: ctx.params.int("duration"),
          ...(media.filename !== undefined ? { file_name: media.filename } : {}),
          mime_type: "video/mp4",
          ...fileSize,
        },
      };
    case "sticker": {
      const emoji = ctx.params.str("emoji");
      return {
        sticker: {
          ...base,
          type: "regular",
          width: 512,
          height: 512,
          is_animated: file.extension === "tgs",
          is_video: file.extension === "webm",
          ...(emoji !== undefined ? { emoji } : {}),
          ...fileSize,
        },
      };
    }
  }
}

/** A media method: sendPhoto, sendDocument, sendVoice, sendVideo or sendSticker. */
function sendMedia(kind: MediaKind): MethodHandler {
  return (ctx) => {
    const caption = kind === "sticker" ? undefined : readFormatted(ctx, CAPTION);
    if (caption !== undefined && caption.text.length > LIMITS.caption) {
      throw badRequest("message caption is too long");
    }
    const target = sendTarget(ctx);
    const media = readInputFile(ctx, kind);
    const reply = readReply(ctx, target);
    admitSend(ctx, target);
    const content: Partial<TgMessage> = { ...mediaContent(ctx, kind, media) };
    if (caption !== undefined && caption.text.length > 0) {
      content.caption = caption.text;
      if (caption.entities.length > 0) content.caption_entities = caption.entities;
    }
    return storeOutgoing(ctx, target, content, reply);
  };
}

/** The message-creating methods by their documented names. */
export const SEND_METHODS: Record<string, MethodHandler> = {
  sendMessage,
  sendPhoto: sendMedia("photo"),
  sendDocument: sendMedia("document"),
  sendVoice: sendMedia("voice"),
  sendVideo: sendMedia("video"),
  sendSticker: sendMedia("sticker"),
};
