/**
 * Files in Telegram messages → files the XMPP user's client can fetch (XEP-0066 OOB links).
 *
 * A photo (its largest size), document, voice message, video, video message, audio, animation or
 * sticker (shown as an image: static stickers are WebP images; animated ones are replaced by
 * their still thumbnail) is downloaded with getFile inside client.ts — its URL carries the bot
 * token and never leaves there — and published with the core's FilePublisher (Postern's file
 * proxy: unguessable, expiring URLs). Whatever stops a file (no file proxy configured, over the
 * size cap or Telegram's 20 MB download limit, a failed download) becomes a line in the message
 * saying what the file was and why it is not attached: nothing vanishes silently.
 */
import type { Attachment, FilePublisher, Logger } from "../../src/adapter/index.ts";
import type { BotClient, T } from "./client.ts";
import { MAX_DOWNLOAD_BYTES } from "./settings.ts";

/** One file of a message, before download. */
export interface MessageFile {
  fileId: string;
  size?: number;
  name: string;
  mediaType: string;
  /** What the user is told it was when it cannot be attached, e.g. "photo", "file report.pdf". */
  label: string;
}

export interface MediaDeps {
  client: BotClient;
  files: FilePublisher | undefined;
  maxBytes: number;
  log: Logger;
}

/** The files of a message, attached, or a line explaining why each one is not. */
export interface RelayedMedia {
  attachments: Attachment[];
  notes: string[];
}

/** The file a message carries, if any (one per message in the Bot API, except albums, which arrive as separate messages). */
export function fileOf(msg: T.Message): MessageFile | undefined {
  if (msg.photo && msg.photo.length > 0) {
    const largest = msg.photo.reduce((a, b) => (b.width * b.height > a.width * a.height ? b : a));
    return {
      fileId: largest.file_id,
      ...(largest.file_size !== undefined ? { size: largest.file_size } : {}),
      name: `photo-${msg.message_id}.jpg`,
      mediaType: "image/jpeg",
      label: "photo",
    };
  }
  if (msg.document) {
    const d = msg.document;
    const name = d.file_name ?? "file";
    return withSize(d, name, d.mime_type ?? "application/octet-stream", `file ${name}`);
  }
  if (msg.voice) {
    const v = msg.voice;
    return withSize(
      v,
      `voice-${msg.message_id}.ogg`,
      v.mime_type ?? "audio/ogg",
      `voice message, ${v.duration} s`,
    );
  }
  if (msg.video) {
    const v = msg.video;
    return withSize(
      v,
      v.file_name ?? `video-${msg.message_id}.mp4`,
      v.mime_type ?? "video/mp4",
      `video, ${v.duration} s`,
    );
  }
  if (msg.video_note)
    return withSize(msg.video_note, `video-message-${msg.message_id}.mp4`, "video/mp4", "video message");
  if (msg.audio) {
    const a = msg.audio;
    const name = a.file_name ?? `audio-${msg.message_id}.mp3`;
    return withSize(a, name, a.mime_type ?? "audio/mpeg", `audio ${a.title ?? name}`);
  }
  if (msg.animation) {
    const a = msg.animation;
    return withSize(
      a,
      a.file_name ?? `animation-${msg.message_id}.mp4`,
      a.mime_type ?? "video/mp4",
      "animation",
    );
  }
  if (msg.sticker) {
    const s = msg.sticker;
    const label = `sticker${s.emoji ? ` ${s.emoji}` : ""}`;
    if (!s.is_animated && !s.is_video)
      return withSize(s, `sticker-${msg.message_id}.webp`, "image/webp", label);
    // Lottie and WebM stickers have no image form; their thumbnail is a still WebP or JPEG.
    const thumb = s.thumbnail;
    if (thumb) return withSize(thumb, `sticker-${msg.message_id}.webp`, "image/webp", label);
  }
  return undefined;
}

function withSize(
  file: { file_id: string; file_size?: number },
  name: string,
  mediaType: string,
  label: string,
): MessageFile {
  return {
    fileId: file.file_id,
    ...(file.file_size !== undefined ? { size: file.file_size } : {}),
    name,
    mediaType,
    label,
  };
}

/** Downloads and publishes the file of `msg`; never throws (a failure becomes a note). */
export async function relayMedia(msg: T.Message, deps: MediaDeps): Promise<RelayedMedia> {
  const file = fileOf(msg);
  if (!file) return { attachments: [], notes: [] };
  const note = (why: string) => ({ attachments: [], notes: [`[${file.label}] ${why}`] });
  if (!deps.files)
    return note("(this gateway does not relay files: its operator has not set up the file proxy)");
  if (file.size !== undefined && file.size > deps.maxBytes) return note(tooBig(file.size, deps.maxBytes));
  try {
    const download = await deps.client.download(file.fileId, deps.maxBytes);
    if (!download.ok) return note(tooBig(download.size, deps.maxBytes));
    const { url } = await deps.files.publish({
      data: download.data,
      name: file.name,
      mediaType: file.mediaType,
    });
    return {
      attachments: [{ url, name: file.name, mediaType: file.mediaType, size: download.data.byteLength }],
      notes: [],
    };
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    deps.log.info({ file: file.label, err: text }, "could not relay a telegram file");
    if (/limit/i.test(text)) return note("is too big for this gateway's file proxy; open it in Telegram");
    return note("could not be fetched from Telegram; open it in Telegram");
  }
}

function tooBig(size: number | undefined, maxBytes: number): string {
  const mb = (n: number) => `${(n / (1024 * 1024)).toFixed(1)} MB`;
  const ours = maxBytes < MAX_DOWNLOAD_BYTES ? ` and this gateway relays up to ${mb(maxBytes)}` : "";
  return `${size !== undefined ? `(${mb(size)}) ` : ""}is too big to relay: Telegram lets bots download files up to 20 MB${ours}; open it in Telegram`;
}

/** A location as a geo: URI (RFC 5870) and a map link for clients that do not open geo: URIs. */
export function locationText(location: { latitude: number; longitude: number }, venue?: T.Venue): string {
  const { latitude, longitude } = location;
  const place = venue ? `${venue.title}, ${venue.address}\n` : "";
  return `${place}[location] geo:${latitude},${longitude}\nhttps://www.openstreetmap.org/?mlat=${latitude}&mlon=${longitude}#map=16/${latitude}/${longitude}`;
}
