/**
 * What the user's contacts on the network are called and look like, remembered per user so
 * vCard queries and presence probes can be answered at any time (XEP-0054, XEP-0153, XEP-0172).
 */
import { z } from "zod";
import type { KeyValueState } from "../adapter/context.ts";
import type { ContactInfoEvent } from "../adapter/events.ts";
import { avatarHash } from "../xmpp/vcard.ts";
import { displayName } from "./display-name.ts";

/** Avatars larger than this are not kept (a vCard travels in one stanza). */
const MAX_AVATAR_BYTES = 96 * 1024;

const contactSchema = z.object({
  name: z.string().optional(),
  avatarHash: z.string().optional(),
  avatarType: z.string().optional(),
});

export type ContactRecord = z.infer<typeof contactSchema>;

export class ContactBook {
  constructor(private readonly state: KeyValueState) {}

  async get(id: string): Promise<ContactRecord | null> {
    return this.state.getJson(`contact:${id}`, contactSchema);
  }

  async avatar(id: string): Promise<{ data: Uint8Array; mediaType: string } | null> {
    const record = await this.get(id);
    const data = await this.state.get(`avatar:${id}`);
    if (!record?.avatarType || data === null) return null;
    return { data: Buffer.from(data, "base64"), mediaType: record.avatarType };
  }

  /** Stores what the event says; `isNew` when the contact was unknown until now. */
  async update(
    event: ContactInfoEvent,
  ): Promise<{ record: ContactRecord; isNew: boolean; changed: boolean }> {
    const previous = await this.get(event.contact);
    const record: ContactRecord = { ...(previous ?? {}) };
    if (event.name !== undefined) record.name = displayName(event.name);
    if (event.avatar === null) {
      delete record.avatarHash;
      delete record.avatarType;
      await this.state.delete(`avatar:${event.contact}`);
    } else if (event.avatar && event.avatar.data.byteLength <= MAX_AVATAR_BYTES) {
      record.avatarHash = avatarHash(event.avatar.data);
      record.avatarType = event.avatar.mediaType;
      await this.state.set(`avatar:${event.contact}`, Buffer.from(event.avatar.data).toString("base64"));
    }
    const changed = JSON.stringify(record) !== JSON.stringify(previous ?? {});
    if (changed) await this.state.setJson(`contact:${event.contact}`, record);
    return { record, isNew: previous === null, changed };
  }
}
