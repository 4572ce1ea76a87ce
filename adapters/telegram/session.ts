/**
 * One XMPP user's Telegram bot: the getUpdates poller that brings the bot's chats in, and the
 * session methods that act on Telegram for the user. Personal bot chats are `12345`, groups
 * `-100…`, and the user's own private chats through Telegram Business `b12345` (ids.ts).
 */
import type {
  ConversationRef,
  JoinedRoom,
  JoinRequest,
  KeyValueState,
  LegacyId,
  Logger,
  Occupant,
  OutgoingMessage,
  SendReceipt,
  Session,
  SessionContext,
  StyledText,
} from "../../src/adapter/index.ts";
import { AdapterError } from "../../src/adapter/index.ts";
import { BusinessBook } from "./business.ts";
import { BotClient, type T, TelegramFailure } from "./client.ts";
import { ContactBook } from "./contacts.ts";
import { MAX_TEXT_LENGTH, styledToEntities } from "./entities.ts";
import { explainFailure } from "./explain.ts";
import { businessUserOf, displayName } from "./ids.ts";
import { InboundRouter } from "./inbound.ts";
import { PollLease } from "./lease.ts";
import { UpdatePoller } from "./poller.ts";
import { RoomBook } from "./rooms.ts";
import type { TelegramSettings } from "./settings.ts";

/** What every session of the gateway shares. */
export interface GatewayShared {
  settings: TelegramSettings;
  /** Gateway-wide state: the poll leases live here, so every process sees them. */
  state: KeyValueState;
  /** This process's lease holder id. */
  holder: string;
}

interface BotIdentity {
  id: number;
  nick: string;
  /** Privacy mode off (BotFather /setprivacy): the bot sees every group message. */
  readsAll: boolean;
}

/** Where a conversation's messages go on Telegram. */
interface Target {
  chatId: string;
  isPrivate: boolean;
  businessConnectionId?: string;
}

/** Telegram shows "typing…" for about 5 s; sending it more often only costs requests. */
const TYPING_INTERVAL_MS = 4000;

export class TelegramSession implements Session {
  private readonly client: BotClient;
  private readonly rooms: RoomBook;
  private readonly business: BusinessBook;
  private readonly poller: UpdatePoller;
  private readonly closing = new AbortController();
  private readonly log: Logger;
  private readonly lastTyping = new Map<string, number>();
  private bot: BotIdentity | null = null;

  constructor(
    private readonly ctx: SessionContext,
    shared: GatewayShared,
    botId: string,
    private readonly onClosed: () => void = () => {},
  ) {
    const { settings } = shared;
    this.log = ctx.log.child({ bot: botId });
    const token = ctx.registration.token ?? "";
    this.client = new BotClient(token, settings, this.log);
    this.rooms = new RoomBook(ctx.state, () => this.bot?.nick ?? "bot");
    this.business = new BusinessBook(ctx.state, ctx.registration.owner);
    const router = new InboundRouter({
      bot: () => this.bot ?? { id: Number(botId), nick: "bot" },
      rooms: this.rooms,
      contacts: new ContactBook(ctx.state, this.client, settings.maxAvatarBytes, this.log),
      business: this.business,
      emit: (event) => ctx.emit(event),
      log: this.log,
    });
    this.poller = new UpdatePoller({
      client: this.client,
      lease: new PollLease(shared.state, `poller:${botId}`, shared.holder, settings.pollLeaseMs),
      leaseCheckMs: Math.max(200, Math.floor(settings.pollLeaseMs / 3)),
      timeoutSeconds: settings.pollTimeoutSeconds,
      readOffset: async () => {
        const raw = await ctx.state.get("offset");
        return raw === null ? undefined : Number(raw);
      },
      writeOffset: (offset) => ctx.state.set("offset", String(offset)),
      handle: async (update) => {
        await this.identity();
        await router.handle(update);
      },
      setState: (state, reason) =>
        ctx.emit({ type: "session.state", state, ...(reason ? { reason } : {}) }).catch(() => undefined),
      reportSkipped: (update, reason) =>
        ctx.emit({
          type: "notice",
          text: `A Telegram update (${Object.keys(update)
            .filter((k) => k !== "update_id")
            .join(", ")}) could not be delivered and was skipped: ${reason}`,
        }),
      log: this.log,
    });
  }

  /** Starts polling; progress is reported with session.state events. */
  start(): void {
    this.poller.start();
  }

  async close(): Promise<void> {
    this.onClosed();
    this.closing.abort(new Error("session closed"));
    await this.poller
      .stop()
      .catch((err: unknown) => this.log.warn({ err: String(err) }, "stopping the poller failed"));
  }

  // ------------------------------------------------------------------ sending

  async sendMessage(message: OutgoingMessage): Promise<SendReceipt> {
    const text = message.kind === "action" ? actionText(message.text) : message.text;
    checkText(text);
    const { conversation } = message;
    const target = await this.target(conversation);
    const params: T.SendMessageParams = {
      chat_id: target.chatId,
      text: text.text,
      ...this.entitiesOf(text),
      ...(target.businessConnectionId ? { business_connection_id: target.businessConnectionId } : {}),
      ...(message.replyTo && /^\d+$/.test(message.replyTo)
        ? { reply_parameters: { message_id: Number(message.replyTo), allow_sending_without_reply: true } }
        : {}),
    };
    const sent = await this.withMigration(conversation, target, (t) =>
      this.client.call(
        "sendMessage",
        (api, signal) => api.sendMessage({ ...params, chat_id: t.chatId }, signal),
        {
          pace: { chatId: t.chatId, isPrivate: t.isPrivate },
          signal: this.closing.signal,
        },
      ),
    ).catch((err: unknown) => {
      throw explainFailure(err, "Sending to Telegram");
    });
    const id = String(sent.message_id);
    if (conversation.kind === "room") {
      // MUC reflects a message to its sender; Telegram does not echo a bot's own messages.
      const bot = await this.identity();
      this.ctx
        .emit({
          type: "message",
          conversation,
          from: { nick: bot.nick, self: true },
          id,
          kind: message.kind,
          text: message.text,
          echoOf: message.clientId,
        })
        .catch((err: unknown) =>
          this.log.warn({ err: String(err) }, "could not reflect a sent room message"),
        );
    }
    return { id };
  }

  async editMessage(conversation: ConversationRef, target: LegacyId, text: StyledText): Promise<void> {
    checkText(text);
    const where = await this.target(conversation);
    const params: T.EditMessageTextParams = {
      chat_id: where.chatId,
      message_id: messageId(target),
      text: text.text,
      ...this.entitiesOf(text),
      ...(where.businessConnectionId ? { business_connection_id: where.businessConnectionId } : {}),
    };
    await this.client
      .call("editMessageText", (api, signal) => api.editMessageText(params, signal), {
        chatId: where.chatId,
        signal: this.closing.signal,
      })
      .catch((err: unknown) => {
        throw explainFailure(err, "Correcting the message on Telegram");
      });
  }

  async retractMessage(conversation: ConversationRef, target: LegacyId): Promise<void> {
    const where = await this.target(conversation);
    const id = messageId(target);
    const call = where.businessConnectionId
      ? this.client.call(
          "deleteBusinessMessages",
          (api, signal) =>
            api.deleteBusinessMessages(
              { business_connection_id: where.businessConnectionId ?? "", message_ids: [id] },
              signal,
            ),
          {
            chatId: where.chatId,
            signal: this.closing.signal,
          },
        )
      : this.client.call(
          "deleteMessage",
          (api, signal) => api.deleteMessage({ chat_id: where.chatId, message_id: id }, signal),
          { chatId: where.chatId, signal: this.closing.signal },
        );
    await call.catch((err: unknown) => {
      throw explainFailure(err, "Deleting the message on Telegram");
    });
  }

  async react(conversation: ConversationRef, target: LegacyId, emojis: string[]): Promise<void> {
    const where = await this.target(conversation);
    if (where.businessConnectionId) {
      throw new AdapterError(
        "feature-not-implemented",
        "Telegram does not let bots react on behalf of a Business account; react in the Telegram app",
      );
    }
    // A bot has one reaction per message: the newest wins. Telegram's list has no U+FE0F variants.
    const last = emojis[emojis.length - 1]?.replace(/\uFE0F/g, "");
    const reaction: T.ReactionType[] = last ? [{ type: "emoji", emoji: last }] : [];
    await this.client
      .call(
        "setMessageReaction",
        (api, signal) =>
          api.setMessageReaction({ chat_id: where.chatId, message_id: messageId(target), reaction }, signal),
        {
          chatId: where.chatId,
          signal: this.closing.signal,
        },
      )
      .catch((err: unknown) => {
        throw explainFailure(err, "Reacting on Telegram");
      });
  }

  /** Best effort: a lost "typing…" is not worth an error to the user. */
  async setTyping(conversation: ConversationRef, state: "composing" | "paused" | "active"): Promise<void> {
    if (state !== "composing") return; // Telegram's indicator simply runs out
    try {
      const where = await this.target(conversation);
      const last = this.lastTyping.get(where.chatId) ?? 0;
      if (Date.now() - last < TYPING_INTERVAL_MS) return;
      this.lastTyping.set(where.chatId, Date.now());
      const params: T.SendChatActionParams = {
        chat_id: where.chatId,
        action: "typing",
        ...(where.businessConnectionId ? { business_connection_id: where.businessConnectionId } : {}),
      };
      await this.client.call("sendChatAction", (api, signal) => api.sendChatAction(params, signal), {
        chatId: where.chatId,
        signal: this.closing.signal,
        retry: false,
      });
    } catch (err) {
      this.log.debug({ err: String(err) }, "typing notification not sent");
    }
  }

  // ------------------------------------------------------------------ rooms

  async joinRoom(request: JoinRequest): Promise<JoinedRoom> {
    const bot = await this.identity();
    const room = request.room;
    const chatId = await this.rooms.chatOf(room);
    const chat = await this.client
      .call("getChat", (api, signal) => api.getChat({ chat_id: chatId }, signal), {
        chatId,
        signal: this.closing.signal,
      })
      .catch((err: unknown) => {
        throw explainFailure(err, "Joining the Telegram group");
      });
    if (chat.type !== "group" && chat.type !== "supergroup")
      throw new AdapterError("item-not-found", "that Telegram chat is not a group");
    const admins = await this.client
      .call(
        "getChatAdministrators",
        (api, signal) => api.getChatAdministrators({ chat_id: chatId }, signal),
        { chatId, signal: this.closing.signal },
      )
      .catch((err: unknown) => {
        this.log.info({ err: String(err) }, "could not list group admins");
        return [] as T.ChatMember[];
      });
    await this.rooms.ensure(room, { title: chat.title, type: chat.type });
    const botIsAdmin = admins.some((a) => a.user.id === bot.id);
    const occupants: Occupant[] = [
      {
        nick: bot.nick,
        role: botIsAdmin ? "moderator" : "participant",
        affiliation: botIsAdmin ? "admin" : "member",
      },
    ];
    const listed = new Set<string>([bot.nick]);
    for (const admin of admins) {
      if (admin.user.id === bot.id || admin.user.is_bot) continue;
      const { nick } = await this.rooms.nickOf(room, { id: admin.user.id, name: displayName(admin.user) });
      occupants.push({
        nick,
        contactId: String(admin.user.id),
        role: "moderator",
        affiliation: admin.status === "creator" ? "owner" : "admin",
      });
      listed.add(nick);
    }
    const record = await this.rooms.get(room);
    for (const [id, nick] of Object.entries(record?.members ?? {})) {
      if (listed.has(nick)) continue;
      occupants.push({ nick, contactId: id, role: "participant", affiliation: "member" });
      listed.add(nick);
    }
    const title = chat.title ?? room;
    const sees =
      bot.readsAll || botIsAdmin
        ? "Your bot sees every message of this group."
        : "Privacy mode is on for your bot: in this group it only sees commands, messages that mention it and replies to it. Make the bot an admin of the group, or turn privacy off with @BotFather (/setprivacy) and re-add it, to see everything.";
    return {
      nick: bot.nick,
      occupants,
      topic: { text: title },
      name: title,
      description: `Telegram group "${title}". Telegram groups have no topic: the subject shows the group's title. ${sees} Bots cannot list a group's members: the occupants are its admins and the members seen so far. Telegram gives bots no history: only what arrived since the bot joined is here.`,
    };
  }

  /** The bot stays in the Telegram group; only the XMPP side leaves. */
  async leaveRoom(): Promise<void> {}

  // ------------------------------------------------------------------ helpers

  /** The bot's own account (getMe), fetched once. */
  private async identity(): Promise<BotIdentity> {
    if (this.bot) return this.bot;
    const me = await this.client.getMe(this.closing.signal).catch((err: unknown) => {
      throw explainFailure(err, "Reaching your Telegram bot");
    });
    this.bot = { id: me.id, nick: displayName(me), readsAll: me.can_read_all_group_messages === true };
    return this.bot;
  }

  private async target(conversation: ConversationRef): Promise<Target> {
    if (conversation.kind === "room")
      return { chatId: await this.rooms.chatOf(conversation.id), isPrivate: false };
    const businessUser = businessUserOf(conversation.id);
    if (businessUser === undefined) return { chatId: conversation.id, isPrivate: true };
    const connection = await this.business.forSending();
    return { chatId: String(businessUser), isPrivate: true, businessConnectionId: connection.id };
  }

  private entitiesOf(text: StyledText): { entities?: T.MessageEntity[] } {
    const entities = styledToEntities(text);
    return entities.length > 0 ? { entities } : {};
  }

  /**
   * Runs a send; when Telegram says the group became a supergroup (400 with migrate_to_chat_id),
   * records the move and sends once more to the supergroup.
   */
  private async withMigration<R>(
    conversation: ConversationRef,
    target: Target,
    run: (t: Target) => Promise<R>,
  ): Promise<R> {
    try {
      return await run(target);
    } catch (err) {
      const to = err instanceof TelegramFailure ? err.parameters.migrate_to_chat_id : undefined;
      if (conversation.kind !== "room" || to === undefined) throw err;
      await this.rooms.migrate(conversation.id, to);
      return run({ ...target, chatId: String(to) });
    }
  }
}

function checkText(text: StyledText): void {
  if (text.text.trim() === "")
    throw new AdapterError("not-acceptable", "Telegram does not accept empty messages");
  if (text.text.length > MAX_TEXT_LENGTH) {
    throw new AdapterError(
      "not-acceptable",
      `the message is ${text.text.length} characters long; Telegram accepts at most ${MAX_TEXT_LENGTH}`,
    );
  }
}

/** `/me waves` has no Telegram form; it goes as italic text. */
function actionText(text: StyledText): StyledText {
  return { text: text.text, spans: [{ kind: "italic", start: 0, end: text.text.length }, ...text.spans] };
}

function messageId(target: LegacyId): number {
  if (!/^\d{1,15}$/.test(target))
    throw new AdapterError("item-not-found", "that message is not a Telegram message");
  return Number(target);
}
