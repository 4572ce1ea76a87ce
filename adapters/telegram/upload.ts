/**
 * Files XMPP users attach → Telegram. The file behind the attachment's URL (an OOB link or an
 * HTTP upload URL) is fetched with the core's FileFetcher — which refuses private and loopback
 * addresses, caps the size and times out, with a reason the user can read — and uploaded as
 * multipart: images as photos, Ogg/Opus audio as voice messages, anything else as a document.
 * Uploading the bytes (rather than handing Telegram the URL) keeps the user's URL private and
 * works for URLs Telegram could not reach.
 */
import { InputFile } from "node-telegram-bot-api";
import { AdapterError, type Attachment, type FileFetcher } from "../../src/adapter/index.ts";
import type { BotClient, T } from "./client.ts";
import type { PaceTarget } from "./pacing.ts";

/** Bot API upload limits: 10 MB for photos, 50 MB for anything else. */
const MAX_PHOTO_BYTES = 10 * 1024 * 1024;
export const MAX_UPLOAD_BYTES = 50 * 1024 * 1024;
/** Telegram's limit for a caption, in UTF-16 code units after entity parsing. */
export const MAX_CAPTION_LENGTH = 1024;

export interface FileToSend {
  data: Uint8Array;
  name: string;
  mediaType: string;
}

export type UploadMethod = "sendPhoto" | "sendVoice" | "sendDocument";

/** How Telegram should show a file of this type and size. */
export function uploadMethodFor(file: FileToSend): UploadMethod {
  const type = file.mediaType.toLowerCase();
  if (/^image\/(jpeg|png|webp)$/.test(type) && file.data.byteLength <= MAX_PHOTO_BYTES) return "sendPhoto";
  if (/^audio\/(ogg|opus)$/.test(type)) return "sendVoice";
  return "sendDocument";
}

/** The bytes of an attachment, fetched safely when it is a URL; AdapterError when they cannot be had. */
export async function fileOfAttachment(fetcher: FileFetcher, attachment: Attachment): Promise<FileToSend> {
  let file: FileToSend;
  if (attachment.data)
    file = { data: attachment.data, name: attachment.name, mediaType: attachment.mediaType };
  else if (attachment.url) file = await fetcher.fetch(attachment.url);
  else throw new AdapterError("bad-request", "the attachment has neither a URL nor data");
  if (file.data.byteLength > MAX_UPLOAD_BYTES)
    throw new AdapterError("not-acceptable", "the file is larger than the 50 MB Telegram accepts from bots");
  if (file.data.byteLength === 0) throw new AdapterError("not-acceptable", "the file is empty");
  return file;
}

export interface UploadRequest {
  chatId: string;
  pace: PaceTarget;
  file: FileToSend;
  caption?: { text: string; entities: T.MessageEntity[] };
  businessConnectionId?: string;
  replyTo?: number;
  signal: AbortSignal;
  /** When the file stops waiting for its turn (CallOptions.deadline). */
  deadline?: number;
}

/** Uploads one file as a new message (paced and retried like any send). */
export function uploadFile(client: BotClient, request: UploadRequest): Promise<T.Message> {
  const { file, caption } = request;
  const input = new InputFile(file.data, { filename: file.name, contentType: file.mediaType });
  const common = {
    chat_id: request.chatId,
    ...(caption && caption.text !== "" ? { caption: caption.text } : {}),
    ...(caption && caption.entities.length > 0 ? { caption_entities: caption.entities } : {}),
    ...(request.businessConnectionId ? { business_connection_id: request.businessConnectionId } : {}),
    ...(request.replyTo !== undefined
      ? { reply_parameters: { message_id: request.replyTo, allow_sending_without_reply: true } }
      : {}),
  };
  const method = uploadMethodFor(file);
  const options = {
    pace: request.pace,
    signal: request.signal,
    ...(request.deadline !== undefined ? { deadline: request.deadline } : {}),
  };
  switch (method) {
    case "sendPhoto":
      return client.call(
        method,
        (api, signal) => api.sendPhoto({ ...common, photo: input }, signal),
        options,
      );
    case "sendVoice":
      return client.call(
        method,
        (api, signal) => api.sendVoice({ ...common, voice: input }, signal),
        options,
      );
    case "sendDocument":
      return client.call(
        method,
        (api, signal) => api.sendDocument({ ...common, document: input }, signal),
        options,
      );
  }
}
