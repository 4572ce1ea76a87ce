/**
 * One XMPP user on one gateway: their adapter session, their online resources, the rooms they
 * joined. Events from the network come in through `onEvent` and leave as stanzas; commands from
 * the user's stanzas go out through the adapter session.
 */
import { type Element, xml } from "@xmpp/component-core";
import { z } from "zod";
import type { LegacyId, Occupant } from "../adapter/conversation.ts";
import type { MessageEvent, RoomMemberEvent, SessionEvent, SessionStateName } from "../adapter/events.ts";
import type { JoinedRoom, Session } from "../adapter/session.ts";
import { delayElement } from "../xmpp/basic-iq.ts";
import { MucStatus, occupantPresence, subjectMessage } from "../xmpp/muc.ts";
import { NS } from "../xmpp/namespaces.ts";
import { avatarUpdate } from "../xmpp/vcard.ts";
import { occupantOf } from "./addressing.ts";
import { ContactBook } from "./contacts.ts";
import type { GatewayContext } from "./gateway-context.ts";
import { logOutcome } from "./outcome.ts";
import {
  bodyText,
  chatMessage,
  chatStateMessage,
  correctionMessage,
  reactionsMessage,
  retractionMessage,
  stanzaIdFor,
} from "./render.ts";
import { type RoomRecord, RoomState } from "./room-state.ts";
import { awaitedLater, type KeyedSerialQueue } from "./serial-queue.ts";

const roomRecordsSchema = z.record(
  z.string(),
  z.object({ nick: z.string(), persistent: z.boolean(), resources: z.array(z.string()) }),
);

const nothingToSend = async (): Promise<void> => {};

/** How many archived messages a join replays when the client does not say. */
const DEFAULT_HISTORY = 20;

export class UserSession {
  readonly rooms = new Map<LegacyId, RoomState>();
  /** Full JIDs that sent available presence to the gateway JID. */
  readonly resources = new Set<string>();
  state: SessionStateName = "disconnected";
  stateReason: string | undefined;
  private session: Session | null = null;
  private opening: Promise<Session> | null = null;
  private closed = false;
  private stateReported = false;

  constructor(
    private readonly gw: GatewayContext,
    readonly user: string,
    private readonly registration: Record<string, string>,
    private readonly queue: KeyedSerialQueue,
  ) {}

  get adapterSession(): Session | null {
    return this.session;
  }

  /** Opens the adapter session once; concurrent callers share the same attempt. */
  open(): Promise<Session> {
    if (this.session) return Promise.resolve(this.session);
    if (!this.opening) {
      this.closed = false;
      this.state = "connecting";
      const { store, domain, log } = this.gw;
      this.opening = this.gw.adapter
        .openSession({
          user: this.user,
          registration: this.registration,
          state: store.userState(domain, this.user),
          log: log.child({ user: this.user }),
          emit: (event) => this.onEvent(event),
        })
        .then((session) => {
          this.session = session;
          // An adapter that connects lazily (IRC: per server, on first use) reports no state of
          // its own until then; its session is usable, so the gateway shows as online.
          if (!this.stateReported) this.state = "online";
          return session;
        })
        .finally(() => {
          this.opening = null;
        });
    }
    return this.opening;
  }

  /** Closes the adapter session and tells every resource that the rooms are gone. */
  async close(reason: string, opts: { notifyRooms: boolean }): Promise<void> {
    this.closed = true;
    const session = this.session ?? (this.opening ? await this.opening.catch(() => null) : null);
    this.session = null;
    if (opts.notifyRooms) {
      for (const room of this.rooms.values()) {
        for (const resource of room.resources)
          this.sendSelfUnavailable(room, resource, [MucStatus.removedShutdown], reason);
      }
    }
    for (const resource of this.resources) {
      this.gw.sendQuietly(
        xml(
          "presence",
          { from: this.gw.domain, to: resource, type: "unavailable" },
          xml("status", {}, reason),
        ),
      );
    }
    if (session) await session.close(reason);
  }

  /** Whether the session runs on exactly these registration values (checked after a Redis restore). */
  usesRegistration(values: Record<string, string>): boolean {
    const mine = Object.entries(this.registration);
    return (
      mine.length === Object.keys(values).length && mine.every(([field, value]) => values[field] === value)
    );
  }

  // ---------------------------------------------------------------- persistence of rooms

  async loadRooms(): Promise<void> {
    const records = await this.coreState().getJson("rooms", roomRecordsSchema);
    for (const [id, rec] of Object.entries(records ?? {}) as [string, RoomRecord][]) {
      const room = new RoomState(id, rec.nick);
      room.persistent = rec.persistent;
      for (const r of rec.resources) room.resources.add(r);
      this.rooms.set(id, room);
    }
  }

  async saveRooms(): Promise<void> {
    const records: Record<string, RoomRecord> = {};
    for (const room of this.rooms.values()) if (room.wanted) records[room.id] = room.record();
    await this.coreState().setJson("rooms", records);
  }

  /** Names and avatars of this user's contacts. */
  contacts(): ContactBook {
    return new ContactBook(this.coreState());
  }

  private coreState() {
    return this.gw.store.coreState(this.gw.domain, this.user);
  }

  /** Rejoins on the network every room that is still wanted (after a restart or reconnect). */
  async rejoinRooms(): Promise<void> {
    const session = await this.open();
    for (const room of this.rooms.values()) {
      if (!room.wanted || !session.joinRoom) continue;
      try {
        const joined = await session.joinRoom({ room: room.id, nick: room.nick });
        this.applyJoin(room, joined);
      } catch (err) {
        this.gw.log.warn({ user: this.user, room: room.id, err: String(err) }, "rejoin failed");
      }
    }
  }

  // ---------------------------------------------------------------- MUC, from the user

  /** A resource joins a room (or re-sends presence to it). Sends the full join to that resource. */
  async join(
    resource: string,
    roomId: LegacyId,
    nick: string,
    opts: { password?: string; history?: HistoryRequest },
  ): Promise<void> {
    const session = await this.open();
    if (!session.joinRoom) throw new Error("joinRoom missing although rooms are supported");
    let room = this.rooms.get(roomId);
    if (!room) {
      room = new RoomState(roomId, nick);
      this.rooms.set(roomId, room);
    }
    const askedNick = room.joined ? room.nick : nick;
    let joined: JoinedRoom;
    try {
      joined = await session.joinRoom({ room: roomId, nick: askedNick, password: opts.password });
    } catch (err) {
      if (!room.wanted) this.rooms.delete(roomId);
      throw err;
    }
    // The rest runs in the room's event queue: no network event can slip in between the history
    // and the resource becoming an occupant (it would be shown twice, or out of order).
    const joinedRoom = room;
    await this.queue.run(`${this.user}\u0000room:${roomId}`, () =>
      this.deliverJoin(joinedRoom, joined, resource, nick, opts.history),
    );
  }

  /** Occupants, self-presence (110, and 210 if the nick differs), history, subject: XEP-0045 §7.2. */
  private async deliverJoin(
    room: RoomState,
    joined: JoinedRoom,
    resource: string,
    askedNick: string,
    history: HistoryRequest | undefined,
  ): Promise<void> {
    this.applyJoin(room, joined);
    const roomJid = this.gw.addressing.roomJid(room.id);
    for (const occupant of room.occupants.values()) {
      if (occupant.nick === room.nick) continue;
      this.gw.sendQuietly(this.occupantPresenceFor(room, occupant, resource));
    }
    const self = room.occupants.get(room.nick) ?? {
      nick: room.nick,
      role: "participant",
      affiliation: "none",
    };
    const statuses: string[] = [MucStatus.selfPresence];
    if (room.nick !== askedNick) statuses.push(MucStatus.nickAssigned);
    await this.gw.send(
      occupantPresence({
        from: occupantOf(roomJid, room.nick),
        to: resource,
        role: self.role,
        affiliation: self.affiliation,
        statuses,
      }),
    );
    await this.sendHistory(room, resource, history);
    await this.gw.send(subjectMessage(roomJid, resource, room.topic?.text ?? "", `subject-${Date.now()}`));
    room.resources.add(resource);
    await this.saveRooms();
  }

  private applyJoin(room: RoomState, joined: JoinedRoom): void {
    room.joined = true;
    room.nick = joined.nick;
    room.occupants.clear();
    for (const o of joined.occupants) room.occupants.set(o.nick, o);
    if (joined.topic) room.topic = joined.topic;
    room.description = joined.description;
  }

  /**
   * A resource leaves. The network side is left when no resource remains and it is not persistent.
   * `codes` are extra MUC status codes for the resource's unavailable presence (e.g. 333).
   */
  async leave(resource: string, roomId: LegacyId, status?: string, codes: string[] = []): Promise<void> {
    const room = this.rooms.get(roomId);
    if (!room?.resources.has(resource)) return;
    room.resources.delete(resource);
    this.sendSelfUnavailable(room, resource, codes, status);
    if (!room.wanted) {
      this.rooms.delete(roomId);
      await this.session?.leaveRoom?.(roomId, status);
    }
    await this.saveRooms();
  }

  /** Forgets a resource everywhere (it went offline or bounced our stanzas). */
  async forgetResource(resource: string): Promise<void> {
    this.resources.delete(resource);
    for (const room of [...this.rooms.values()]) {
      if (room.resources.has(resource)) await this.leave(resource, room.id);
    }
  }

  async setPersistent(roomId: LegacyId, persistent: boolean): Promise<void> {
    const room = this.rooms.get(roomId);
    if (!room) return;
    room.persistent = persistent;
    if (!room.wanted) {
      this.rooms.delete(roomId);
      await this.session?.leaveRoom?.(roomId);
    }
    await this.saveRooms();
  }

  private async sendHistory(
    room: RoomState,
    resource: string,
    request: HistoryRequest | undefined,
  ): Promise<void> {
    const max = request?.maxStanzas ?? DEFAULT_HISTORY;
    if (max === 0 || request?.maxChars === 0) return;
    const since =
      request?.since ??
      (request?.seconds !== undefined ? new Date(Date.now() - request.seconds * 1000) : undefined);
    const entries = await this.archive(room.id).recent({ limit: max, since });
    const roomJid = this.gw.addressing.roomJid(room.id);
    for (const entry of entries) {
      await this.gw.send(
        xml(
          "message",
          { from: occupantOf(roomJid, entry.from), to: resource, type: "groupchat", id: entry.stanzaId },
          xml("body", {}, entry.body),
          xml("stanza-id", { xmlns: NS.stanzaId, id: entry.archiveId, by: roomJid }),
          delayElement(new Date(entry.timestamp), roomJid),
        ),
      );
    }
  }

  private archive(roomId: LegacyId) {
    return this.gw.store.userArchive(this.gw.domain, this.user, roomId);
  }

  private sendSelfUnavailable(room: RoomState, resource: string, extra: string[], status?: string): void {
    const self = room.occupants.get(room.nick);
    this.gw.sendQuietly(
      occupantPresence({
        from: this.gw.addressing.occupantJid(room.id, room.nick),
        to: resource,
        role: "none",
        affiliation: self?.affiliation ?? "none",
        unavailable: true,
        statuses: [MucStatus.selfPresence, ...extra],
        status,
      }),
    );
  }

  private occupantPresenceFor(
    room: RoomState,
    occupant: Occupant,
    to: string,
    extra: Partial<Parameters<typeof occupantPresence>[0]> = {},
  ) {
    return occupantPresence({
      from: this.gw.addressing.occupantJid(room.id, occupant.nick),
      to,
      role: occupant.role,
      affiliation: occupant.affiliation,
      show: occupant.away ? "away" : undefined,
      ...extra,
    });
  }

  // ---------------------------------------------------------------- events, from the network

  /**
   * Handles one event; events of one conversation are processed in order. Messages are
   * pipelined: their store writes go out back to back and each stanza leaves, in order, once its
   * own writes are answered (see KeyedSerialQueue.runPipelined); the promise settles then.
   */
  onEvent(event: SessionEvent): Promise<void> {
    const key = `${this.user}\u0000${conversationKey(event)}`;
    if (event.type === "message") return this.queue.runPipelined(key, () => this.startMessage(event));
    return this.queue.run(key, () => this.handleEvent(event));
  }

  private async handleEvent(event: Exclude<SessionEvent, MessageEvent>): Promise<void> {
    const { addressing, domain } = this.gw;
    switch (event.type) {
      case "room.member":
        return this.onRoomMember(event);
      case "room.topic": {
        const room = this.rooms.get(event.room);
        if (!room) return this.ignored("room.topic", event.room, "room not joined");
        room.topic = { text: event.topic, by: event.by };
        const from = event.by ? addressing.occupantJid(event.room, event.by) : addressing.roomJid(event.room);
        for (const r of room.resources)
          await this.gw.send(subjectMessage(from, r, event.topic, `subject-${Date.now()}`));
        return;
      }
      case "session.state":
        return this.onSessionState(event.state, event.reason);
      case "notice": {
        const conversation = event.conversation;
        const room = conversation?.kind === "room" ? this.rooms.get(conversation.id) : undefined;
        if (conversation?.kind === "room") {
          // A notice about a room comes from the room itself, to the resources in it.
          const roomJid = addressing.roomJid(conversation.id);
          for (const r of room?.resources ?? []) {
            await this.gw.send(
              chatMessage({
                from: roomJid,
                to: r,
                type: "groupchat",
                id: stanzaIdFor({ gateway: domain, user: this.user, conversation: conversation.id }),
                body: event.text,
              }),
            );
          }
          if (room?.resources.size) return;
        }
        const from = conversation?.kind === "direct" ? addressing.jidOf(conversation) : domain;
        await this.gw.send(
          chatMessage({
            from,
            to: this.user,
            type: "chat",
            id: stanzaIdFor({ gateway: domain, user: this.user, conversation: "notice" }),
            body: event.text,
          }),
        );
        return;
      }
      case "typing": {
        if (event.from.self) return;
        const { from, to } = this.routeFor(event.conversation, event.from.nick);
        for (const target of to)
          await this.gw.send(
            chatStateMessage(
              from,
              target,
              event.conversation.kind === "room" ? "groupchat" : "chat",
              event.state,
            ),
          );
        return;
      }
      case "edit":
      case "retraction":
      case "reaction": {
        const stanzaId =
          (await this.gw.store.idMap.stanzaIdFor(domain, this.user, event.conversation.id, event.target)) ??
          event.target;
        const { from, to } = this.routeFor(event.conversation, event.from.nick);
        const type = event.conversation.kind === "room" ? "groupchat" : "chat";
        for (const target of to) {
          if (event.type === "edit")
            await this.gw.send(
              correctionMessage({
                from,
                to: target,
                type,
                replaces: stanzaId,
                body: bodyText("normal", event.text),
              }),
            );
          else if (event.type === "retraction")
            await this.gw.send(retractionMessage({ from, to: target, type, target: stanzaId }));
          else
            await this.gw.send(
              reactionsMessage({ from, to: target, type, target: stanzaId, emojis: event.emojis }),
            );
        }
        return;
      }
      case "presence": {
        const from = addressing.contactJid(event.contact);
        await this.gw.send(
          xml(
            "presence",
            { from, to: this.user, type: event.show === "unavailable" ? "unavailable" : undefined },
            event.show !== "available" && event.show !== "unavailable" ? xml("show", {}, event.show) : null,
            event.status ? xml("status", {}, event.status) : null,
          ),
        );
        return;
      }
      case "contact.info": {
        const { record, isNew, changed } = await this.contacts().update(event);
        const from = addressing.contactJid(event.contact);
        const nick = record.name ? xml("nick", { xmlns: NS.nick }, record.name) : null;
        // A new contact asks to be in the roster, as transports do (XEP-0100 §5.1), with its
        // nickname (XEP-0172); a changed avatar is announced by its hash (XEP-0153).
        if (isNew) await this.gw.send(xml("presence", { from, to: this.user, type: "subscribe" }, nick));
        if (changed)
          await this.gw.send(
            xml(
              "presence",
              { from, to: this.user, type: "unavailable" },
              nick,
              avatarUpdate(record.avatarHash),
            ),
          );
        return;
      }
    }
  }

  /** Where a conversation's stanzas go: a room's resources, or the user's bare JID. */
  private routeFor(
    conversation: { kind: "room" | "direct"; id: LegacyId },
    nick: string,
  ): { from: string; to: string[] } {
    const { addressing } = this.gw;
    if (conversation.kind === "room") {
      const room = this.rooms.get(conversation.id);
      return { from: addressing.occupantJid(conversation.id, nick), to: room ? [...room.resources] : [] };
    }
    return { from: addressing.contactJid(conversation.id), to: [this.user] };
  }

  /**
   * The first phase of a message: issues its store requests (the reply target's lookup, the id
   * map, the room archive) and returns the second phase, which waits for their answers and sends.
   */
  private async startMessage(event: MessageEvent): Promise<() => Promise<void>> {
    const { domain, addressing, store } = this.gw;
    const conv = event.conversation;
    const body = bodyText(event.kind, event.text);
    const replyTarget = event.replyTo;
    const replyTo = awaitedLater(
      replyTarget
        ? store.idMap.stanzaIdFor(domain, this.user, conv.id, replyTarget).then((id) => id ?? undefined)
        : Promise.resolve(undefined),
    );
    const withFiles = event.attachments?.length
      ? `${body}${body ? "\n" : ""}${event.attachments
          .map((a) => a.url)
          .filter(Boolean)
          .join("\n")}`
      : body;
    if (conv.kind === "direct") {
      // The user's own messages in a 1:1 chat reach their other clients as carbons already.
      if (event.from.self) {
        this.ignored("message", conv.id, "own message (carbons cover it)");
        return nothingToSend;
      }
      const id = stanzaIdFor({ gateway: domain, user: this.user, conversation: conv.id, legacyId: event.id });
      const legacyId = event.id;
      // The id map is written before the stanza leaves: a crash in between then replays a message
      // the user can recognise by its (deterministic) id, never one we cannot map back.
      const mapped = awaitedLater(
        legacyId ? store.idMap.remember(domain, this.user, conv.id, legacyId, id) : Promise.resolve(),
      );
      return async () => {
        await mapped;
        await this.gw.send(
          chatMessage({
            from: addressing.contactJid(conv.id),
            to: this.user,
            type: "chat",
            id,
            body: withFiles,
            timestamp: event.timestamp,
            delayFrom: domain,
            attachments: event.attachments,
            store: true,
            replyTo: await replyTo,
          }),
        );
        logOutcome(this.gw.log, {
          direction: "to-xmpp",
          what: "message",
          user: this.user,
          conversation: conv.id,
          result: "delivered",
        });
      };
    }
    const room = this.rooms.get(conv.id);
    if (!room) {
      this.ignored("message", conv.id, "room not joined");
      return nothingToSend;
    }
    const id =
      event.echoOf ??
      stanzaIdFor({ gateway: domain, user: this.user, conversation: conv.id, legacyId: event.id });
    const nick = event.from.self ? room.nick : event.from.nick;
    const legacyId = event.id;
    // The archive entry and the id map are written together, and the stanza leaves once both
    // are answered: it never carries an archive id that does not exist. Clients refer to a room
    // message by its id or by the room's stanza-id (XEP-0359), which is the archive id: that one
    // maps back through the archive entry's legacy id (message-handler.ts), so no second round
    // trip is needed to map it.
    const archived = awaitedLater(
      this.archive(conv.id).append({
        stanzaId: id,
        legacyId,
        from: nick,
        body: withFiles,
        timestamp: (event.timestamp ?? new Date()).getTime(),
        kind: event.kind === "action" ? "action" : event.kind === "notice" ? "notice" : "message",
      }),
    );
    const mapped = awaitedLater(
      legacyId ? store.idMap.remember(domain, this.user, conv.id, legacyId, id) : Promise.resolve(),
    );
    return async () => {
      const [archiveId] = await Promise.all([archived, mapped]);
      const roomJid = addressing.roomJid(conv.id);
      for (const resource of room.resources) {
        await this.gw.send(
          chatMessage({
            from: occupantOf(roomJid, nick),
            to: resource,
            type: "groupchat",
            id,
            body: withFiles,
            timestamp: event.timestamp,
            delayFrom: roomJid,
            stanzaId: { id: archiveId, by: roomJid },
            attachments: event.attachments,
            replyTo: await replyTo,
          }),
        );
      }
      logOutcome(this.gw.log, {
        direction: "to-xmpp",
        what: "groupchat",
        user: this.user,
        conversation: conv.id,
        result: room.resources.size > 0 ? "delivered" : "ignored",
        reason: room.resources.size > 0 ? undefined : "no resource joined: archived for later",
      });
    };
  }

  private async onRoomMember(event: RoomMemberEvent): Promise<void> {
    let room = this.rooms.get(event.room);
    if (!room && event.self && event.change === "join") {
      // The network joined the user without an XMPP join (auto-join settings, a forced join):
      // keep the room, archive what is said, and invite the user's clients (XEP-0249).
      room = new RoomState(event.room, event.occupant.nick);
      room.joined = true;
      room.persistent = true;
      this.rooms.set(event.room, room);
      await this.saveRooms();
      const roomJid = this.gw.addressing.roomJid(event.room);
      await this.gw.send(
        xml(
          "message",
          {
            from: roomJid,
            to: this.user,
            id: stanzaIdFor({ gateway: this.gw.domain, user: this.user, conversation: event.room }),
          },
          xml("x", {
            xmlns: NS.conference,
            jid: roomJid,
            reason: "You were joined to this room on the network",
          }),
        ),
      );
    }
    if (!room) return this.ignored("room.member", event.room, "room not joined");
    const o = event.occupant;
    const self = event.self === true || o.nick === room.nick;
    const statusesFor = (base: string[]) => (self ? [MucStatus.selfPresence, ...base] : base);
    const send = async (build: (to: string) => Element) => {
      for (const r of room.resources) await this.gw.send(build(r));
    };
    switch (event.change) {
      case "join":
      case "role":
      case "away":
        room.occupants.set(o.nick, o);
        await send((to) => this.occupantPresenceFor(room, o, to, { statuses: statusesFor([]) }));
        return;
      case "nick": {
        const newNick = event.newNick ?? o.nick;
        room.occupants.delete(o.nick);
        const renamed = { ...o, nick: newNick };
        room.occupants.set(newNick, renamed);
        await send((to) =>
          this.occupantPresenceFor(room, o, to, {
            unavailable: true,
            newNick,
            statuses: statusesFor([MucStatus.nickChanged]),
          }),
        );
        if (self) room.nick = newNick;
        await send((to) => this.occupantPresenceFor(room, renamed, to, { statuses: statusesFor([]) }));
        if (self) await this.saveRooms();
        return;
      }
      case "leave":
      case "kick":
      case "ban": {
        room.occupants.delete(o.nick);
        const codes =
          event.change === "kick" ? [MucStatus.kicked] : event.change === "ban" ? [MucStatus.banned] : [];
        await send((to) =>
          this.occupantPresenceFor(room, o, to, {
            unavailable: true,
            statuses: statusesFor(codes),
            reason: event.reason,
            actor: event.actor,
            status: event.change === "leave" ? event.reason : undefined,
          }),
        );
        if (self) {
          this.rooms.delete(room.id);
          await this.saveRooms();
        }
        return;
      }
    }
  }

  private async onSessionState(state: SessionStateName, reason: string | undefined): Promise<void> {
    this.stateReported = true;
    this.state = state;
    this.stateReason = reason;
    if (this.closed) return;
    for (const resource of this.resources) this.gw.sendQuietly(this.gatewayPresence(resource));
    if (state === "failed") {
      await this.gw.send(
        chatMessage({
          from: this.gw.domain,
          to: this.user,
          type: "chat",
          id: stanzaIdFor({ gateway: this.gw.domain, user: this.user, conversation: "" }),
          body: `Connection failed: ${reason ?? "unknown reason"}`,
        }),
      );
    }
  }

  /** The gateway JID's presence as this user should see it. */
  gatewayPresence(to: string): Element {
    const { domain } = this.gw;
    switch (this.state) {
      case "online":
        return xml("presence", { from: domain, to });
      case "connecting":
      case "reconnecting":
        return xml(
          "presence",
          { from: domain, to },
          xml("show", {}, "xa"),
          xml("status", {}, this.stateReason ?? `${this.state}…`),
        );
      case "failed":
        return xml(
          "presence",
          { from: domain, to },
          xml("show", {}, "dnd"),
          xml("status", {}, `Failed: ${this.stateReason ?? "unknown reason"}`),
        );
      default:
        return xml(
          "presence",
          { from: domain, to, type: "unavailable" },
          this.stateReason ? xml("status", {}, this.stateReason) : null,
        );
    }
  }

  private ignored(what: string, conversation: string, reason: string): void {
    logOutcome(this.gw.log, {
      direction: "to-xmpp",
      what,
      user: this.user,
      conversation,
      result: "ignored",
      reason,
    });
  }

  /** Text for the "Status" command. */
  describe(): string {
    const rooms = [...this.rooms.values()].map(
      (r) => `  ${r.id} as ${r.nick}${r.persistent ? " (persistent)" : ""}, ${r.resources.size} client(s)`,
    );
    return [
      `Connection: ${this.state}${this.stateReason ? ` (${this.stateReason})` : ""}`,
      `Clients online: ${this.resources.size}`,
      rooms.length ? "Rooms:" : "Rooms: none",
      ...rooms,
    ].join("\n");
  }
}

export interface HistoryRequest {
  maxStanzas?: number;
  maxChars?: number;
  seconds?: number;
  since?: Date;
}

function conversationKey(event: SessionEvent): string {
  switch (event.type) {
    case "room.member":
    case "room.topic":
      return `room:${event.room}`;
    case "presence":
    case "contact.info":
      return `direct:${event.contact}`;
    case "session.state":
      return "session";
    case "notice":
      return event.conversation ? `${event.conversation.kind}:${event.conversation.id}` : "session";
    default:
      return `${event.conversation.kind}:${event.conversation.id}`;
  }
}
