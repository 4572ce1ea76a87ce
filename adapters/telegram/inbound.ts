/**
 * One Telegram update → the neutral events it means, emitted in order. Each `emit` resolves once
 * the core wrote the stanzas, so when `handle` resolves the whole update is delivered and the
 * poller may store the offset past it.
 *
 * Groups: the first update from a group the user has not seen makes the bot "join" it (a self
 * `room.member` join: the core keeps the room and invites the user's clients, XEP-0249). Members
 * become occupants when they first speak or join. Service messages become presences (joins,
 * leaves), subject changes (title) and notices (pins, photo, upgrade).
 *
 * Media: the file of a message is downloaded and published by media.ts and arrives as an
 * attachment (an OOB link), with the caption as the text; a file that cannot be relayed becomes a
 * line saying what it was and why. Locations arrive as a geo: URI with a map link.
 */
import type {
  ConversationRef,
  LegacyId,
  Logger,
  Sender,
  SessionEvent,
  StyledText,
} from "../../src/adapter/index.ts";
import type { BusinessBook } from "./business.ts";
import type { T } from "./client.ts";
import type { ContactBook } from "./contacts.ts";
import { entitiesToStyled } from "./entities.ts";
import { businessContactId, displayName } from "./ids.ts";
import { fileOf, locationText, type MediaDeps, relayMedia } from "./media.ts";
import type { RoomBook } from "./rooms.ts";

/** Messages older than this carry their original time (XEP-0203 delay) to the user. */
const DELAYED_AFTER_MS = 30_000;

export interface InboundDeps {
  bot: () => { id: number; nick: string };
  rooms: RoomBook;
  contacts: ContactBook;
  business: BusinessBook;
  media: MediaDeps;
  emit(event: SessionEvent): Promise<void>;
  log: Logger;
}

export class InboundRouter {
  constructor(private readonly deps: InboundDeps) {}

  /** Delivers one update; rejects if any of its events could not be delivered. */
  async handle(update: T.Update): Promise<void> {
    if ("message" in update) return this.onMessage(update.message, false);
    if ("edited_message" in update) return this.onMessage(update.edited_message, true);
    if ("business_message" in update) return this.onBusinessMessage(update.business_message, false);
    if ("edited_business_message" in update)
      return this.onBusinessMessage(update.edited_business_message, true);
    if ("deleted_business_messages" in update)
      return this.onBusinessDeletion(update.deleted_business_messages);
    if ("business_connection" in update)
      return this.deps.emit(await this.deps.business.update(update.business_connection));
    if ("message_reaction" in update) return this.onReaction(update.message_reaction);
    if ("my_chat_member" in update) return this.onMyMembership(update.my_chat_member);
    this.deps.log.debug({ update: update.update_id, keys: Object.keys(update) }, "ignored update kind");
  }

  private async onMessage(msg: T.Message, edited: boolean): Promise<void> {
    const { chat } = msg;
    if (chat.type === "private") {
      const contact = String(chat.id);
      const name = displayName(msg.from ?? chat);
      await this.contactInfo(contact, chat.id, name);
      return this.deliver(msg, edited, { kind: "direct", id: contact }, { nick: name, contactId: contact });
    }
    if (chat.type !== "group" && chat.type !== "supergroup") {
      this.deps.log.debug({ chatType: chat.type }, "ignored channel post");
      return;
    }
    const { rooms } = this.deps;
    if (msg.migrate_from_chat_id !== undefined) {
      // The supergroup's first message: its room is the group it came from.
      const room = await rooms.roomOf(msg.migrate_from_chat_id);
      if ((await rooms.roomOf(chat.id)) !== room) await rooms.migrate(room, chat.id);
      return;
    }
    const room = await rooms.roomOf(chat.id);
    await this.seeRoom(room, chat);
    if (await this.serviceMessage(room, msg)) return;
    const from = await this.groupSender(room, msg);
    return this.deliver(msg, edited, { kind: "room", id: room }, from);
  }

  private async onBusinessMessage(msg: T.Message, edited: boolean): Promise<void> {
    const { business } = this.deps;
    if (!(await business.accepts(msg.business_connection_id))) {
      this.deps.log.info(
        { chat: "business" },
        "ignored a message of a business connection that is not the user's",
      );
      return;
    }
    // Our own sends through the connection come back marked with our bot: already shown.
    if (msg.sender_business_bot?.id === this.deps.bot().id) return;
    const contact = businessContactId(msg.chat.id);
    const customerName = displayName(msg.chat);
    const self = msg.from !== undefined && msg.from.id !== msg.chat.id;
    if (!self) await this.contactInfo(contact, msg.chat.id, customerName);
    const from: Sender = self
      ? { nick: displayName(msg.from ?? msg.chat), self: true }
      : { nick: customerName, contactId: contact };
    return this.deliver(msg, edited, { kind: "direct", id: contact }, from);
  }

  private async onBusinessDeletion(deleted: T.BusinessMessagesDeleted): Promise<void> {
    if (!(await this.deps.business.accepts(deleted.business_connection_id))) return;
    const contact = businessContactId(deleted.chat.id);
    const from: Sender = { nick: displayName(deleted.chat), contactId: contact };
    for (const id of deleted.message_ids) {
      await this.deps.emit({
        type: "retraction",
        conversation: { kind: "direct", id: contact },
        from,
        target: String(id),
      });
    }
  }

  private async onReaction(reaction: T.MessageReactionUpdated): Promise<void> {
    const emojis = reaction.new_reaction.flatMap((r) =>
      r.type === "emoji" && "emoji" in r ? [r.emoji] : [],
    );
    const target = String(reaction.message_id);
    const { chat } = reaction;
    if (chat.type === "private") {
      const contact = String(chat.id);
      const from: Sender = { nick: displayName(reaction.user ?? chat), contactId: contact };
      return this.deps.emit({
        type: "reaction",
        conversation: { kind: "direct", id: contact },
        from,
        target,
        emojis,
      });
    }
    const room = await this.deps.rooms.roomOf(chat.id);
    await this.seeRoom(room, chat);
    const from = reaction.user
      ? await this.member(room, reaction.user)
      : { nick: displayName(reaction.actor_chat ?? chat) };
    return this.deps.emit({
      type: "reaction",
      conversation: { kind: "room", id: room },
      from,
      target,
      emojis,
    });
  }

  /** The bot was added to or removed from a group. */
  private async onMyMembership(change: T.ChatMemberUpdated): Promise<void> {
    const { chat } = change;
    if (chat.type !== "group" && chat.type !== "supergroup") return;
    const room = await this.deps.rooms.roomOf(chat.id);
    const status = change.new_chat_member.status;
    if (status === "left" || status === "kicked")
      return this.botLeft(room, status === "kicked" ? "ban" : "leave");
    await this.seeRoom(room, chat);
  }

  /** Sends a message or edit event with the message's text. */
  private async deliver(
    msg: T.Message,
    edited: boolean,
    conversation: ConversationRef,
    from: Sender,
  ): Promise<void> {
    if (edited) {
      const text = messageText(msg);
      await this.deps.emit({ type: "edit", conversation, from, target: String(msg.message_id), text });
      return;
    }
    const media = await relayMedia(msg, this.deps.media);
    const text = messageText(msg, media.notes);
    const sentAt = new Date(msg.date * 1000);
    await this.deps.emit({
      type: "message",
      conversation,
      from,
      id: String(msg.message_id),
      kind: "normal",
      text,
      ...(Date.now() - sentAt.getTime() > DELAYED_AFTER_MS ? { timestamp: sentAt } : {}),
      ...(msg.reply_to_message ? { replyTo: String(msg.reply_to_message.message_id) } : {}),
      ...(media.attachments.length > 0 ? { attachments: media.attachments } : {}),
    });
  }

  private async contactInfo(contact: LegacyId, userId: number, name: string): Promise<void> {
    const event = await this.deps.contacts.infoFor(contact, userId, name);
    if (event) await this.deps.emit(event);
  }

  /** First sight of a group: the bot is in it, so the user is joined (and invited) to its room. */
  private async seeRoom(room: LegacyId, chat: T.Chat): Promise<void> {
    if (!(await this.deps.rooms.ensure(room, { title: chat.title, type: chat.type }))) return;
    const bot = this.deps.bot();
    await this.deps.emit({
      type: "room.member",
      room,
      change: "join",
      self: true,
      occupant: { nick: bot.nick, role: "participant", affiliation: "none" },
    });
  }

  private async botLeft(room: LegacyId, change: "leave" | "ban"): Promise<void> {
    const bot = this.deps.bot();
    await this.deps.rooms.drop(room);
    await this.deps.emit({
      type: "room.member",
      room,
      change,
      self: true,
      occupant: { nick: bot.nick, role: "none", affiliation: "none" },
      reason:
        change === "ban"
          ? "Your bot was removed from the Telegram group"
          : "Your bot left the Telegram group",
    });
  }

  /** The sender of a group message, announcing them as an occupant on first sight. */
  private async groupSender(room: LegacyId, msg: T.Message): Promise<Sender> {
    if (msg.sender_chat) return { nick: displayName(msg.sender_chat) };
    if (msg.from) return this.member(room, msg.from);
    return { nick: "Telegram" };
  }

  private async member(room: LegacyId, user: T.User): Promise<Sender> {
    const { nick, isNew } = await this.deps.rooms.nickOf(room, { id: user.id, name: displayName(user) });
    const contactId = String(user.id);
    if (isNew) {
      await this.deps.emit({
        type: "room.member",
        room,
        change: "join",
        occupant: { nick, contactId, role: "participant", affiliation: "member" },
      });
    }
    return { nick, contactId };
  }

  /** Handles a service message; false when `msg` is an ordinary message. */
  private async serviceMessage(room: LegacyId, msg: T.Message): Promise<boolean> {
    const { rooms, emit } = this.deps;
    const bot = this.deps.bot();
    const isService =
      msg.new_chat_members ||
      msg.left_chat_member ||
      msg.new_chat_title !== undefined ||
      msg.pinned_message ||
      msg.migrate_to_chat_id !== undefined ||
      msg.new_chat_photo ||
      msg.delete_chat_photo ||
      msg.group_chat_created ||
      msg.supergroup_chat_created;
    if (!isService) return false;
    // Who did it; a leaving member is not re-announced.
    const actor =
      msg.from && msg.from.id !== msg.left_chat_member?.id && msg.from.id !== bot.id
        ? (await this.member(room, msg.from)).nick
        : undefined;
    if (msg.new_chat_members) {
      for (const user of msg.new_chat_members) {
        if (user.id === bot.id) continue; // seeRoom already joined the bot
        await this.member(room, user);
      }
      return true;
    }
    if (msg.left_chat_member) {
      const user = msg.left_chat_member;
      if (user.id === bot.id) {
        await this.botLeft(room, msg.from?.id === user.id ? "leave" : "ban");
        return true;
      }
      const nick = await rooms.forget(room, user.id);
      if (nick !== undefined) {
        await emit({
          type: "room.member",
          room,
          change: msg.from?.id === user.id ? "leave" : "kick",
          occupant: { nick, contactId: String(user.id), role: "none", affiliation: "none" },
          ...(actor && msg.from?.id !== user.id ? { actor } : {}),
        });
      }
      return true;
    }
    if (msg.new_chat_title !== undefined) {
      await rooms.setTitle(room, msg.new_chat_title);
      await emit({ type: "room.topic", room, topic: msg.new_chat_title, ...(actor ? { by: actor } : {}) });
      return true;
    }
    if (msg.pinned_message) {
      const message =
        "date" in msg.pinned_message && msg.pinned_message.date !== 0
          ? (msg.pinned_message as T.Message)
          : undefined;
      const pinned = (message && (messageText(message).text || fileOf(message)?.label)) || "a message";
      await emit({
        type: "notice",
        conversation: { kind: "room", id: room },
        text: `${actor ?? "Someone"} pinned: «${pinned}»`,
      });
      return true;
    }
    if (msg.migrate_to_chat_id !== undefined) {
      await rooms.migrate(room, msg.migrate_to_chat_id);
      await emit({
        type: "notice",
        conversation: { kind: "room", id: room },
        text: "Telegram upgraded this group to a supergroup. This room stays its home: nothing changes for you.",
      });
      return true;
    }
    if (msg.new_chat_photo || msg.delete_chat_photo) {
      await emit({
        type: "notice",
        conversation: { kind: "room", id: room },
        text: `${actor ?? "Someone"} ${msg.new_chat_photo ? "changed" : "removed"} the group photo`,
      });
      return true;
    }
    return true;
  }
}

/**
 * The text of a message: its text or caption, after `notes` (what its file was, when it could not
 * be attached) and a description of content that is not a file (location, contact, poll, dice).
 * Empty when the message is just a file that is attached.
 */
export function messageText(msg: T.Message, notes: readonly string[] = []): StyledText {
  const body =
    msg.text !== undefined
      ? entitiesToStyled(msg.text, msg.entities)
      : entitiesToStyled(msg.caption ?? "", msg.caption_entities);
  const other = describeOther(msg);
  const lines = other === undefined ? [...notes] : [...notes, other];
  if (lines.length === 0) {
    if (body.text !== "" || fileOf(msg)) return body;
    return { text: "[a Telegram message this gateway cannot show]", spans: [] };
  }
  const prefix = lines.join("\n");
  if (body.text === "") return { text: prefix, spans: [] };
  const shift = prefix.length + 1;
  return {
    text: `${prefix}\n${body.text}`,
    spans: body.spans.map((s) => ({ ...s, start: s.start + shift, end: s.end + shift })),
  };
}

/** Content that is not a file, as a line of text. */
function describeOther(msg: T.Message): string | undefined {
  if (msg.location) return locationText(msg.location, msg.venue);
  if (msg.contact)
    return `[contact: ${[msg.contact.first_name, msg.contact.last_name].filter(Boolean).join(" ")} ${msg.contact.phone_number}]`;
  if (msg.poll) return `[poll: ${msg.poll.question}] (answer it in Telegram)`;
  if (msg.dice) return `[${msg.dice.emoji} ${msg.dice.value}]`;
  if (msg.sticker && !fileOf(msg)) return `[sticker${msg.sticker.emoji ? ` ${msg.sticker.emoji}` : ""}]`;
  return undefined;
}
