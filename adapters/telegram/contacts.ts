/**
 * Names and avatars of Telegram contacts, sent to the core as `contact.info` when a contact is
 * first seen and whenever their name or profile photo changes. What was last sent is kept in the
 * user's state, so a restart does not resend every avatar.
 *
 * Avatars come from getUserProfilePhotos → getFile → the file download, as bytes: the download
 * URL carries the bot token and never leaves client.ts.
 */
import { z } from "zod";
import type { ContactInfoEvent, KeyValueState, LegacyId, Logger } from "../../src/adapter/index.ts";
import type { BotClient } from "./client.ts";

const knownSchema = z.object({ name: z.string(), photo: z.string().optional() });

/** Profile photo size to fetch: the smallest at least this wide (XEP-0153 avatars are small). */
const AVATAR_MIN_WIDTH = 96;

export class ContactBook {
  constructor(
    private readonly state: KeyValueState,
    private readonly client: BotClient,
    private readonly maxAvatarBytes: number,
    private readonly log: Logger,
  ) {}

  /** The contact.info event to send for `contact`, or null when nothing changed. */
  async infoFor(contact: LegacyId, userId: number, name: string): Promise<ContactInfoEvent | null> {
    const field = `contact:${contact}`;
    const known = await this.state.getJson(field, knownSchema);
    const photo = await this.latestPhoto(userId);
    if (known && known.name === name && known.photo === photo?.uniqueId) return null;
    const event: ContactInfoEvent = { type: "contact.info", contact, name };
    if (photo && photo.uniqueId !== known?.photo) {
      const file = await this.client.download(photo.fileId, this.maxAvatarBytes).catch((err: unknown) => {
        this.log.info({ contact, err: String(err) }, "avatar download failed");
        return undefined;
      });
      if (file?.ok) event.avatar = { data: file.data, mediaType: "image/jpeg" };
    } else if (!photo && known?.photo) {
      event.avatar = null;
    }
    await this.state.setJson(field, { name, ...(photo ? { photo: photo.uniqueId } : {}) });
    return event;
  }

  private async latestPhoto(userId: number): Promise<{ fileId: string; uniqueId: string } | undefined> {
    try {
      const photos = await this.client.call("getUserProfilePhotos", (api, s) =>
        api.getUserProfilePhotos({ user_id: userId, limit: 1 }, s),
      );
      const sizes = photos.photos[0];
      if (!sizes || sizes.length === 0) return undefined;
      const sorted = [...sizes].sort((a, b) => a.width - b.width);
      const pick = sorted.find((s) => s.width >= AVATAR_MIN_WIDTH) ?? sorted[sorted.length - 1];
      return pick ? { fileId: pick.file_id, uniqueId: pick.file_unique_id } : undefined;
    } catch (err) {
      this.log.info({ userId, err: String(err) }, "could not read profile photos");
      return undefined;
    }
  }
}
