/**
 * Portal rooms (mode 3): the operator's shared bot bridges a list of Telegram groups, each a
 * public room `<group id>@<gateway>` that any allowed XMPP user may join (the core's PortalRooms
 * keeps the XMPP side: occupants, fan-out, shared history).
 *
 * - Telegram → XMPP: one getUpdates poller for the shared bot (one per Redis, by lease; offset in
 *   the gateway's state, advanced after delivery as for personal bots). Updates of the listed
 *   groups go through the same InboundRouter as a personal bot's, so text, formatting, replies,
 *   edits, reactions, files, joins, leaves and title changes read alike; members appear as
 *   occupants when they first speak. Everything else (private chats with the shared bot, other
 *   groups) is ignored: nobody on XMPP owns those conversations.
 * - XMPP → Telegram: the bot sends each occupant's message with the operator's template (default
 *   `{nick}: {text}`, the nick in bold through an entity, so no markup the user types is parsed).
 * - Who is on XMPP: Telegram members cannot see the MUC, so the bot keeps ONE message per group,
 *   pinned, that it edits in place ("On XMPP (2): alice, bob"). Chosen over join/leave messages,
 *   which would flood the group with notifications every time someone's client reconnects, and
 *   over an on-demand command, which privacy mode hides from bots that are not admins. If the bot
 *   may not pin (not an admin), the message is still kept up to date where it was posted.
 */
import { z } from "zod";
import type {
  FileFetcher,
  FilePublisher,
  JoinedRoom,
  KeyValueState,
  Leases,
  LegacyId,
  Logger,
  OutgoingMessage,
  Portal,
  PortalContext,
  PortalEvent,
  PortalOccupant,
  SendReceipt,
  SessionEvent,
  StyledText,
  StyleSpan,
} from "../../src/adapter/index.ts";
import { AdapterError } from "../../src/adapter/index.ts";
import { BusinessBook } from "./business.ts";
import { BotClient, type T, TelegramFailure } from "./client.ts";
import { ContactBook } from "./contacts.ts";
import { MAX_TEXT_LENGTH, styledToEntities } from "./entities.ts";
import { explainFailure } from "./explain.ts";
import { type BotIdentity, botIdentity, groupSnapshot } from "./group.ts";
import { InboundRouter } from "./inbound.ts";
import { PollLease } from "./lease.ts";
import { UpdatePoller } from "./poller.ts";
import { botIdOf } from "./redact.ts";
import { RoomBook } from "./rooms.ts";
import type { PortalSettings, TelegramSettings } from "./settings.ts";
import { type FileToSend, fileOfAttachment, MAX_CAPTION_LENGTH, uploadFile } from "./upload.ts";

export interface PortalDeps {
  settings: TelegramSettings;
  portal: PortalSettings;
  /** The gateway's state; the portal keeps its part under a prefix. */
  state: KeyValueState;
  leases: Leases;
  files: FilePublisher | undefined;
  fetcher: FileFetcher;
  context: PortalContext;
}

/** Where a group's "On XMPP" message is and what it says now. */
const boardSchema = z.object({ chatId: z.string(), messageId: z.number(), text: z.string() });

/** The text of the pinned list when no XMPP user is in the room. */
const NOBODY = "On XMPP: nobody right now";

export class TelegramPortal implements Portal {
  readonly rooms: readonly LegacyId[];
  private readonly client: BotClient;
  private readonly book: RoomBook;
  private readonly poller: UpdatePoller;
  private readonly board: OccupantBoard | undefined;
  private readonly closing = new AbortController();
  private readonly log: Logger;
  private bot: BotIdentity | null = null;

  constructor(private readonly deps: PortalDeps) {
    const { settings, portal, context } = deps;
    const botId = botIdOf(portal.token) ?? "unknown";
    this.log = context.log.child({ portalBot: botId });
    this.rooms = [...new Set(portal.groups)];
    this.client = new BotClient(portal.token, settings, this.log);
    const state = prefixed(deps.state, "portal:");
    this.book = new RoomBook(state, () => this.bot?.nick ?? "bot");
    this.board = portal.pinOccupants
      ? new OccupantBoard(this.client, state, this.log, this.closing.signal)
      : undefined;
    const router = new InboundRouter({
      bot: () => this.bot ?? { id: Number(botId), nick: "bot" },
      rooms: this.book,
      // Private and business chats never reach the router (see `handle`); these stay unused.
      contacts: new ContactBook(state, this.client, settings.maxAvatarBytes, this.log),
      business: new BusinessBook(state, undefined),
      media: { client: this.client, files: deps.files, maxBytes: settings.maxFileBytes, log: this.log },
      emit: (event) => this.forward(event),
      log: this.log,
    });
    this.poller = new UpdatePoller({
      client: this.client,
      // The same lease name as a personal bot's: one poller per bot, whoever uses it.
      lease: new PollLease(deps.leases, `poller:${botId}`, settings.pollLeaseMs),
      leaseCheckMs: Math.max(200, Math.floor(settings.pollLeaseMs / 3)),
      timeoutSeconds: settings.pollTimeoutSeconds,
      readOffset: async () => {
        const raw = await state.get("offset");
        return raw === null ? undefined : Number(raw);
      },
      writeOffset: (offset) => state.set("offset", String(offset)),
      handle: async (update) => {
        await this.identity();
        if (await this.isPortalUpdate(update)) await router.handle(update);
      },
      setState: async (stateName, reason) => {
        const level = stateName === "failed" ? "error" : "info";
        this.log[level]({ state: stateName, reason }, "portal bot connection");
      },
      reportSkipped: async (update, reason) => {
        this.log.error(
          { update: update.update_id, reason },
          "skipped a portal update that cannot be delivered",
        );
      },
      log: this.log,
    });
  }

  start(): void {
    this.poller.start();
  }

  async close(): Promise<void> {
    this.closing.abort(new Error("portal closed"));
    await this.poller
      .stop()
      .catch((err: unknown) => this.log.warn({ err: String(err) }, "stopping the portal poller failed"));
  }

  async snapshot(room: LegacyId): Promise<JoinedRoom> {
    const bot = await this.identity();
    const joined = await groupSnapshot(
      {
        client: this.client,
        rooms: this.book,
        bot,
        log: this.log,
        signal: this.closing.signal,
        whose: "the gateway's bot",
      },
      room,
    );
    return {
      ...joined,
      description: `${joined.description} This is a shared room: every XMPP user here writes through the gateway's bot, and Telegram members see each message with the writer's nick in front; a pinned message in the group lists who is here on XMPP.`,
    };
  }

  async sendMessage(room: LegacyId, from: PortalOccupant, message: OutgoingMessage): Promise<SendReceipt> {
    this.requireRoom(room);
    const own = message.kind === "action" ? italic(message.text) : message.text;
    const attachment = message.attachments?.find((a) => a.url !== undefined || a.data !== undefined);
    const text = renderTemplate(this.deps.portal.template, { nick: from.nick, jid: from.jid, text: own });
    if (!attachment && own.text.trim() === "")
      throw new AdapterError("not-acceptable", "Telegram does not accept empty messages");
    if (text.text.length > MAX_TEXT_LENGTH)
      throw new AdapterError(
        "not-acceptable",
        `the message is too long for Telegram (at most ${MAX_TEXT_LENGTH} characters with your nick)`,
      );
    const replyTo =
      message.replyTo && /^\d{1,15}$/.test(message.replyTo) ? Number(message.replyTo) : undefined;
    // Many XMPP users share the group's 20/min: a message waits its turn at most sendExpiryMs.
    const deadline = Date.now() + this.deps.settings.sendExpiryMs;
    const file = attachment ? await fileOfAttachment(this.deps.fetcher, attachment) : undefined;
    const sent = await this.withMigration(room, (chatId) =>
      file
        ? this.sendFile(chatId, file, text, replyTo, deadline)
        : this.sendText(chatId, text, replyTo, deadline),
    ).catch((err: unknown) => {
      throw explainFailure(err, "Sending to the Telegram group");
    });
    return { id: String(sent.message_id) };
  }

  async occupantsChanged(room: LegacyId, occupants: PortalOccupant[]): Promise<void> {
    if (!this.board || !this.rooms.includes(room)) return;
    const nicks = [...new Set(occupants.map((o) => o.nick))].sort((a, b) => a.localeCompare(b));
    // Best effort: a list that could not be updated must not refuse anyone's join.
    await this.board
      .show(room, await this.book.chatOf(room), nicks)
      .catch((err: unknown) =>
        this.log.warn({ room, err: String(err) }, "could not update the occupant list"),
      );
  }

  // ------------------------------------------------------------------ helpers

  private async identity(): Promise<BotIdentity> {
    this.bot ??= await botIdentity(this.client, this.closing.signal).catch((err: unknown) => {
      throw explainFailure(err, "Reaching the portal bot");
    });
    return this.bot;
  }

  private requireRoom(room: LegacyId): void {
    if (!this.rooms.includes(room)) throw new AdapterError("item-not-found", "that is not a portal room");
  }

  /** Only updates about the listed groups are bridged. */
  private async isPortalUpdate(update: T.Update): Promise<boolean> {
    const chat =
      "message" in update
        ? update.message.chat
        : "edited_message" in update
          ? update.edited_message.chat
          : "message_reaction" in update
            ? update.message_reaction.chat
            : "my_chat_member" in update
              ? update.my_chat_member.chat
              : undefined;
    if (!chat || (chat.type !== "group" && chat.type !== "supergroup")) return false;
    // A supergroup's first message names the group it came from: that is how the move is learnt.
    const origin = "message" in update ? update.message.migrate_from_chat_id : undefined;
    const room = await this.book.roomOf(origin ?? chat.id);
    if (!this.rooms.includes(room)) {
      this.log.debug({ chat: chat.id }, "ignored an update of a group that is not a portal");
      return false;
    }
    return true;
  }

  /** Passes what the router reports on as portal events; what only a session can show is logged. */
  private async forward(event: SessionEvent): Promise<void> {
    const { emit } = this.deps.context;
    switch (event.type) {
      case "room.member":
        // The bot is the bridge, always present: its own joins are not news; losing the group is.
        if (!event.self) return emit(event);
        if (event.change === "join") return;
        return emit(
          this.notice(
            event.room,
            event.reason ?? "The gateway's bot left the Telegram group; messages no longer pass.",
          ),
        );
      case "notice":
        if (event.conversation?.kind === "room") return emit(this.notice(event.conversation.id, event.text));
        this.log.info({ text: event.text }, "portal notice not shown to anyone");
        return;
      case "message":
      case "edit":
      case "retraction":
      case "reaction":
      case "typing":
      case "room.topic":
        return emit(event satisfies PortalEvent);
      default:
        this.log.debug({ type: event.type }, "portal event not shown in rooms");
    }
  }

  /** A notice in a room, said by the bot (a portal room has no gateway voice of its own). */
  private notice(room: LegacyId, text: string): PortalEvent {
    return {
      type: "message",
      conversation: { kind: "room", id: room },
      from: { nick: this.bot?.nick ?? "bot" },
      kind: "notice",
      text: { text, spans: [] },
    };
  }

  private sendText(
    chatId: string,
    text: StyledText,
    replyTo: number | undefined,
    deadline: number,
  ): Promise<T.Message> {
    const entities = styledToEntities(text);
    const params: T.SendMessageParams = {
      chat_id: chatId,
      text: text.text,
      ...(entities.length > 0 ? { entities } : {}),
      ...(replyTo !== undefined
        ? { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } }
        : {}),
    };
    return this.client.call("sendMessage", (api, signal) => api.sendMessage(params, signal), {
      pace: { chatId, isPrivate: false },
      signal: this.closing.signal,
      deadline,
    });
  }

  private async sendFile(
    chatId: string,
    file: FileToSend,
    caption: StyledText,
    replyTo: number | undefined,
    deadline: number,
  ): Promise<T.Message> {
    let withCaption: StyledText | undefined = caption;
    if (caption.text.length > MAX_CAPTION_LENGTH) {
      await this.sendText(chatId, caption, replyTo, deadline);
      withCaption = undefined;
    }
    return uploadFile(this.client, {
      chatId,
      pace: { chatId, isPrivate: false },
      file,
      ...(withCaption
        ? { caption: { text: withCaption.text, entities: styledToEntities(withCaption) } }
        : {}),
      ...(replyTo !== undefined ? { replyTo } : {}),
      signal: this.closing.signal,
      deadline,
    });
  }

  /** A send to a group that became a supergroup is recorded and sent once more to the supergroup. */
  private async withMigration<R>(room: LegacyId, run: (chatId: string) => Promise<R>): Promise<R> {
    try {
      return await run(await this.book.chatOf(room));
    } catch (err) {
      const to = err instanceof TelegramFailure ? err.parameters.migrate_to_chat_id : undefined;
      if (to === undefined) throw err;
      await this.book.migrate(room, to);
      return run(String(to));
    }
  }
}

/**
 * `template` with `{nick}` (bold), `{jid}` and `{text}` (keeping its styling) filled in. Offsets
 * are UTF-16 code units, as Telegram's entities count them.
 */
export function renderTemplate(
  template: string,
  values: { nick: string; jid: string; text: StyledText },
): StyledText {
  let out = "";
  const spans: StyleSpan[] = [];
  for (const part of template.split(/(\{nick\}|\{jid\}|\{text\})/)) {
    const start = out.length;
    if (part === "{nick}") {
      out += values.nick;
      if (values.nick !== "") spans.push({ kind: "bold", start, end: out.length });
    } else if (part === "{jid}") {
      out += values.jid;
    } else if (part === "{text}") {
      out += values.text.text;
      for (const s of values.text.spans) spans.push({ ...s, start: s.start + start, end: s.end + start });
    } else {
      out += part;
    }
  }
  // A file with no text leaves "alice: " — keep just the nick.
  const trimmed = out.trimEnd();
  return {
    text: trimmed,
    spans: spans
      .filter((s) => s.start < trimmed.length)
      .map((s) => ({ ...s, end: Math.min(s.end, trimmed.length) })),
  };
}

/** `/me waves` has no Telegram form; it goes as italic text. */
function italic(text: StyledText): StyledText {
  return { text: text.text, spans: [{ kind: "italic", start: 0, end: text.text.length }, ...text.spans] };
}

/**
 * The pinned "On XMPP" message of each portal group: posted once, pinned silently, then edited in
 * place. Its message id lives in the gateway's state so a restart edits the same message.
 */
class OccupantBoard {
  private readonly chains = new Map<LegacyId, Promise<void>>();

  constructor(
    private readonly client: BotClient,
    private readonly state: KeyValueState,
    private readonly log: Logger,
    private readonly signal: AbortSignal,
  ) {}

  /** Updates the list of `room` (one update at a time per room, in call order). */
  show(room: LegacyId, chatId: string, nicks: string[]): Promise<void> {
    const next = (this.chains.get(room) ?? Promise.resolve()).then(() => this.update(room, chatId, nicks));
    const tail = next.catch(() => undefined);
    this.chains.set(room, tail);
    return next;
  }

  private async update(room: LegacyId, chatId: string, nicks: string[]): Promise<void> {
    const text = boardText(nicks);
    const field = `board:${room}`;
    const current = await this.state.getJson(field, boardSchema);
    if (current && current.chatId === chatId) {
      if (current.text === text) return;
      try {
        await this.client.call(
          "editMessageText",
          (api, signal) =>
            api.editMessageText({ chat_id: chatId, message_id: current.messageId, text }, signal),
          { chatId, signal: this.signal },
        );
        await this.state.setJson(field, { ...current, text });
        return;
      } catch (err) {
        // Deleted or too old to edit: post a fresh one below.
        if (!(err instanceof TelegramFailure) || err.code !== 400 || /not modified/i.test(err.description))
          throw err;
        this.log.info({ room, err: err.message }, "the occupant list message is gone; posting a new one");
      }
    }
    const sent = await this.client.call(
      "sendMessage",
      (api, signal) => api.sendMessage({ chat_id: chatId, text, disable_notification: true }, signal),
      { pace: { chatId, isPrivate: false }, signal: this.signal },
    );
    await this.state.setJson(field, { chatId, messageId: sent.message_id, text });
    await this.client
      .call(
        "pinChatMessage",
        (api, signal) =>
          api.pinChatMessage(
            { chat_id: chatId, message_id: sent.message_id, disable_notification: true },
            signal,
          ),
        { chatId, signal: this.signal, retry: false },
      )
      .catch((err: unknown) =>
        this.log.info(
          { room, err: String(err) },
          "could not pin the occupant list (the bot needs admin rights to pin)",
        ),
      );
  }
}

/** "On XMPP (2): alice, bob", cut to fit one Telegram message. */
export function boardText(nicks: string[]): string {
  if (nicks.length === 0) return NOBODY;
  const head = `On XMPP (${nicks.length}): `;
  let list = nicks.join(", ");
  if (head.length + list.length > MAX_TEXT_LENGTH) {
    const shown: string[] = [];
    let length = head.length + 20;
    for (const n of nicks) {
      if (length + n.length + 2 > MAX_TEXT_LENGTH) break;
      shown.push(n);
      length += n.length + 2;
    }
    list = `${shown.join(", ")} and ${nicks.length - shown.length} more`;
  }
  return head + list;
}

/** A view of `state` whose fields all start with `prefix` (the portal's part of the gateway state). */
function prefixed(state: KeyValueState, prefix: string): KeyValueState {
  return {
    get: (f) => state.get(prefix + f),
    set: (f, v) => state.set(prefix + f, v),
    delete: (f) => state.delete(prefix + f),
    entries: async () =>
      Object.fromEntries(
        Object.entries(await state.entries())
          .filter(([k]) => k.startsWith(prefix))
          .map(([k, v]) => [k.slice(prefix.length), v]),
      ),
    getJson: (f, schema) => state.getJson(prefix + f, schema),
    setJson: (f, v) => state.setJson(prefix + f, v),
    getSecret: (f) => state.getSecret(prefix + f),
    setSecret: (f, v) => state.setSecret(prefix + f, v),
  };
}
