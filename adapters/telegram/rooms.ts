/**
 * What the session remembers about the Telegram groups of the user's bot, in the user's state:
 *
 * - per room, the members who have spoken and the nick each got (the Bot API cannot list a
 *   group's members, so the occupant list is built from who was seen), and the title;
 * - group → supergroup upgrades (`migrate_to_chat_id`): the room keeps the id of the group it
 *   started as, so the user's bookmark and archive stay; sends go to the supergroup and the
 *   supergroup's updates come back to the room.
 *
 * Nicks are unique per room: a second "Alex" becomes `Alex #<last 4 digits of the id>`.
 */
import { z } from "zod";
import type { KeyValueState, LegacyId } from "../../src/adapter/index.ts";

const recordSchema = z.object({
  title: z.string().optional(),
  type: z.string().optional(),
  /** Telegram user id → nick, in the order they were first seen. */
  members: z.record(z.string(), z.string()),
});
export type RoomRecord = z.output<typeof recordSchema>;

/** Members remembered per room; the oldest are forgotten beyond this. */
const MAX_MEMBERS = 500;

export class RoomBook {
  private readonly cache = new Map<LegacyId, RoomRecord>();

  constructor(
    private readonly state: KeyValueState,
    /** The bot's own nick, which no member may take. */
    private readonly selfNick: () => string,
  ) {}

  /** The room a chat's updates belong to (the original group after an upgrade). */
  async roomOf(chatId: number): Promise<LegacyId> {
    return (await this.state.get(`migrated-from:${chatId}`)) ?? String(chatId);
  }

  /** The chat to send to for a room (the supergroup after an upgrade). */
  async chatOf(room: LegacyId): Promise<string> {
    return (await this.state.get(`migrated-to:${room}`)) ?? room;
  }

  /** Records an upgrade of the group behind `room` to supergroup `newChatId`. */
  async migrate(room: LegacyId, newChatId: number): Promise<void> {
    await this.state.set(`migrated-to:${room}`, String(newChatId));
    await this.state.set(`migrated-from:${newChatId}`, room);
  }

  async get(room: LegacyId): Promise<RoomRecord | null> {
    const cached = this.cache.get(room);
    if (cached) return cached;
    const stored = await this.state.getJson(`room:${room}`, recordSchema);
    if (stored) this.cache.set(room, stored);
    return stored;
  }

  /** Creates the record on first sight; returns true if the room was new. */
  async ensure(room: LegacyId, chat: { title?: string; type?: string }): Promise<boolean> {
    const existing = await this.get(room);
    if (existing) return false;
    await this.save(room, {
      ...(chat.title ? { title: chat.title } : {}),
      ...(chat.type ? { type: chat.type } : {}),
      members: {},
    });
    return true;
  }

  async setTitle(room: LegacyId, title: string): Promise<void> {
    const record = (await this.get(room)) ?? { members: {} };
    await this.save(room, { ...record, title });
  }

  /** The nick of a member, assigning (and remembering) one on first sight. */
  async nickOf(
    room: LegacyId,
    user: { id: number; name: string },
  ): Promise<{ nick: string; isNew: boolean }> {
    const record = (await this.get(room)) ?? { members: {} };
    const key = String(user.id);
    const known = record.members[key];
    if (known !== undefined) return { nick: known, isNew: false };
    const taken = new Set([...Object.values(record.members), this.selfNick()]);
    let nick = user.name;
    if (taken.has(nick)) nick = `${user.name} #${key.slice(-4)}`;
    for (let n = 2; taken.has(nick); n++) nick = `${user.name} #${key.slice(-4)}-${n}`;
    const members = { ...record.members, [key]: nick };
    const ids = Object.keys(members);
    for (const old of ids.slice(0, Math.max(0, ids.length - MAX_MEMBERS))) delete members[old];
    await this.save(room, { ...record, members });
    return { nick, isNew: true };
  }

  /** Forgets a member who left; returns the nick they had. */
  async forget(room: LegacyId, userId: number): Promise<string | undefined> {
    const record = await this.get(room);
    const nick = record?.members[String(userId)];
    if (!record || nick === undefined) return undefined;
    const members = { ...record.members };
    delete members[String(userId)];
    await this.save(room, { ...record, members });
    return nick;
  }

  /** Forgets a room (the bot left it), so seeing it again joins it again. */
  async drop(room: LegacyId): Promise<void> {
    this.cache.delete(room);
    await this.state.delete(`room:${room}`);
  }

  private async save(room: LegacyId, record: RoomRecord): Promise<void> {
    this.cache.set(room, record);
    await this.state.setJson(`room:${room}`, record);
  }
}
