/**
 * One XMPP user's Telegram bot: the getUpdates poller that brings the bot's chats in, and the
 * session methods that act on Telegram for the user. Personal bot chats are `12345`, groups
 * `-100…`, and the user's own private chats through Telegram Business `b12345` (ids.ts).
 */
import type {
  ConversationRef,
  FileFetcher,
  FilePublisher,
  JoinedRoom,
  JoinRequest,
  Leases,
  LegacyId,
  Logger,
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
import { type BotIdentity, botIdentity, groupSnapshot } from "./group.ts";
import { businessUserOf } from "./ids.ts";
import { InboundRouter } from "./inbound.ts";
import { PollLease } from "./lease.ts";
import { UpdatePoller } from "./poller.ts";
import { RoomBook } from "./rooms.ts";
import type { TelegramSettings } from "./settings.ts";
import { type FileToSend, fileOfAttachment, MAX_CAPTION_LENGTH, uploadFile } from "./upload.ts";

/** What every session of the gateway shares. */
export interface GatewayShared {
  settings: TelegramSettings;
  /** The core's Redis-backed leases: one poller per bot across processes. */
  leases: Leases;
  /** Where received files are published; undefined when the operator set up no file proxy. */
  files: FilePublisher | undefined;
  /** Fetches the files users attach, with the operator's limits. */
  fetcher: FileFetcher;
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
  private readonly fetcher: FileFetcher;
  private readonly sendExpiryMs: number;
  private bot: BotIdentity | null = null;

  constructor(
    private readonly ctx: SessionContext,
    shared: GatewayShared,
    botId: string,
    private readonly onClosed: () => void = () => {},
  ) {
    const { settings } = shared;
    this.fetcher = shared.fetcher;
    this.sendExpiryMs = settings.sendExpiryMs;
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
      media: { client: this.client, files: shared.files, maxBytes: settings.maxFileBytes, log: this.log },
      emit: (event) => ctx.emit(event),
      log: this.log,
    });
    this.poller = new UpdatePoller({
      client: this.client,
      lease: new PollLease(shared.leases, `poller:${botId}`, settings.pollLeaseMs),
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
    // From its arrival at the gateway the message waits its turn at most sendExpiryMs, then its
    // sender is told.
    const deadline = (message.receivedAt ?? Date.now()) + this.sendExpiryMs;
    const text = message.kind === "action" ? actionText(message.text) : message.text;
    const attachment = message.attachments?.find((a) => a.url !== undefined || a.data !== undefined);
    if (!attachment) checkText(text);
    const { conversation } = message;
    const target = await this.target(conversation);
    const replyTo =
      message.replyTo && /^\d{1,15}$/.test(message.replyTo) ? Number(message.replyTo) : undefined;
    // Fetched once, before any retry or a move to a supergroup could ask for it again.
    const file = attachment ? await fileOfAttachment(this.fetcher, attachment) : undefined;
    const sent = await this.withMigration(conversation, target, (t) =>
      file && attachment
        ? this.sendFile(t, file, attachment.url, text, replyTo, deadline)
        : this.sendText(t, text, replyTo, deadline),
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
          ...(message.attachments ? { attachments: message.attachments } : {}),
        })
        .catch((err: unknown) =>
          this.log.warn({ err: String(err) }, "could not reflect a sent room message"),
        );
    }
    return { id };
  }

  private sendText(
    target: Target,
    text: StyledText,
    replyTo: number | undefined,
    deadline: number,
  ): Promise<T.Message> {
    const params: T.SendMessageParams = {
      chat_id: target.chatId,
      text: text.text,
      ...this.entitiesOf(text),
      ...(target.businessConnectionId ? { business_connection_id: target.businessConnectionId } : {}),
      ...(replyTo !== undefined
        ? { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } }
        : {}),
    };
    return this.client.call("sendMessage", (api, signal) => api.sendMessage(params, signal), {
      pace: { chatId: target.chatId, isPrivate: target.isPrivate },
      signal: this.closing.signal,
      deadline,
    });
  }

  /**
   * Sends an attached file with the message's text as its caption. A body that is only the file's
   * URL (the XEP-0066 convention) gives no caption; a text too long for a caption goes first as a
   * message of its own.
   */
  private async sendFile(
    target: Target,
    file: FileToSend,
    url: string | undefined,
    text: StyledText,
    replyTo: number | undefined,
    deadline: number,
  ): Promise<T.Message> {
    const own = text.text.trim() === url ? { text: "", spans: [] } : text;
    let caption: StyledText | undefined = own.text.trim() === "" ? undefined : own;
    if (caption && caption.text.length > MAX_CAPTION_LENGTH) {
      checkText(caption);
      await this.sendText(target, caption, replyTo, deadline);
      caption = undefined;
    }
    return uploadFile(this.client, {
      chatId: target.chatId,
      pace: { chatId: target.chatId, isPrivate: target.isPrivate },
      file,
      ...(caption ? { caption: { text: caption.text, entities: styledToEntities(caption) } } : {}),
      ...(target.businessConnectionId ? { businessConnectionId: target.businessConnectionId } : {}),
      ...(replyTo !== undefined ? { replyTo } : {}),
      signal: this.closing.signal,
      deadline,
    });
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
    return groupSnapshot(
      {
        client: this.client,
        rooms: this.rooms,
        bot,
        log: this.log,
        signal: this.closing.signal,
        whose: "your bot",
      },
      request.room,
    ).catch((err: unknown) => {
      throw explainFailure(err, "Joining the Telegram group");
    });
  }

  /** The bot stays in the Telegram group; only the XMPP side leaves. */
  async leaveRoom(): Promise<void> {}

  // ------------------------------------------------------------------ helpers

  /** The bot's own account (getMe), fetched once. */
  private async identity(): Promise<BotIdentity> {
    if (this.bot) return this.bot;
    this.bot = await botIdentity(this.client, this.closing.signal).catch((err: unknown) => {
      throw explainFailure(err, "Reaching your Telegram bot");
    });
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
