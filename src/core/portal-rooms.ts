/**
 * Portal rooms in the core: real multi-user rooms on the gateway whose XMPP occupants are any
 * allowed users, bridged to one network room through the adapter's Portal. The core keeps who is
 * in each room (XMPP occupants and network members), fans network events out to every XMPP
 * occupant, reflects XMPP occupants' messages to each other, and archives the room once for all.
 */
import { type Element, xml } from "@xmpp/component-core";
import { z } from "zod";
import type { Attachment } from "../adapter/attachments.ts";
import type { LegacyId, Occupant } from "../adapter/conversation.ts";
import type { Portal, PortalEvent, PortalOccupant } from "../adapter/portal.ts";
import { delayElement } from "../xmpp/basic-iq.ts";
import { MucStatus, occupantPresence, subjectMessage } from "../xmpp/muc.ts";
import { NS } from "../xmpp/namespaces.ts";
import { StanzaError } from "../xmpp/stanza-error.ts";
import { occupantOf } from "./addressing.ts";
import { hasInvisibleCharacters } from "./display-name.ts";
import type { GatewayContext } from "./gateway-context.ts";
import { distinctNick } from "./nick-skeleton.ts";
import { logOutcome } from "./outcome.ts";
import type { OutgoingContent } from "./outgoing.ts";
import {
  bodyText,
  chatMessage,
  correctionMessage,
  reactionsMessage,
  retractionMessage,
  stanzaIdFor,
} from "./render.ts";
import type { KeyedSerialQueue } from "./serial-queue.ts";
import type { HistoryRequest } from "./user-session.ts";

/** One XMPP user in a portal room: their nick and the resources that joined. */
interface XmppOccupant {
  user: string;
  nick: string;
  resources: Set<string>;
}

const occupantsSchema = z.array(
  z.object({ user: z.string(), nick: z.string(), resources: z.array(z.string()) }),
);

/** The id map of portal rooms is kept under this pseudo-user, since the room belongs to no one user. */
const PORTAL_OWNER = "portal";

class PortalRoom {
  readonly xmpp = new Map<string, XmppOccupant>();
  readonly network = new Map<string, Occupant>();
  topic: { text: string; by?: string } | undefined;
  description: string | undefined;
  loaded = false;

  constructor(readonly id: LegacyId) {}

  byResource(resource: string): XmppOccupant | undefined {
    for (const o of this.xmpp.values()) if (o.resources.has(resource)) return o;
    return undefined;
  }

  byUser(user: string): XmppOccupant | undefined {
    for (const o of this.xmpp.values()) if (o.user === user) return o;
    return undefined;
  }

  allResources(): string[] {
    return [...this.xmpp.values()].flatMap((o) => [...o.resources]);
  }
}

export class PortalRooms {
  private readonly rooms = new Map<LegacyId, PortalRoom>();

  constructor(
    private readonly gw: GatewayContext,
    private readonly portal: Portal,
    private readonly queue: KeyedSerialQueue,
  ) {
    for (const id of portal.rooms) this.rooms.set(id, new PortalRoom(id));
  }

  has(room: LegacyId): boolean {
    return this.rooms.has(room);
  }

  ids(): LegacyId[] {
    return [...this.rooms.keys()];
  }

  /** Loads who was in each room before a restart (they still think they are). */
  async restore(): Promise<void> {
    for (const room of this.rooms.values()) {
      await this.load(room);
      // The network's view of who is here (e.g. a pinned list) may be stale after a restart.
      if (room.xmpp.size > 0) await this.portal.occupantsChanged?.(room.id, this.occupantList(room));
    }
  }

  async close(): Promise<void> {
    for (const room of this.rooms.values()) {
      for (const o of room.xmpp.values()) {
        for (const r of o.resources)
          this.gw.sendQuietly(
            this.presenceOf(room, o.nick, r, {
              unavailable: true,
              statuses: [MucStatus.selfPresence, MucStatus.removedShutdown],
            }),
          );
      }
    }
    await this.portal.close();
  }

  /** A resource joins (or re-sends presence). Nicks are unique per user; another user's nick is a conflict. */
  async join(
    resource: string,
    user: string,
    roomId: LegacyId,
    nick: string,
    history: HistoryRequest | undefined,
  ): Promise<void> {
    const room = await this.load(this.require(roomId));
    const snapshot = await this.portal.snapshot(roomId);
    room.network.clear();
    for (const o of snapshot.occupants) room.network.set(o.nick, o);
    if (snapshot.topic) room.topic = snapshot.topic;
    room.description = snapshot.description;

    if (hasInvisibleCharacters(nick)) {
      // Others on the network would see this nick as written: no hidden reversals or look-alikes.
      throw new StanzaError(
        "not-acceptable",
        "nicks may not contain invisible or direction-changing characters",
      );
    }
    let me = room.byUser(user);
    const requested = nick;
    if (me?.resources.has(resource) && me.nick !== nick) {
      throw new StanzaError("not-acceptable", "nick changes are not supported in this room");
    }
    if (!me) {
      const taken = room.xmpp.has(nick) || room.network.has(nick);
      if (taken) throw new StanzaError("conflict", "that nick is taken in this room; choose another");
      // A nick that only looks like an occupant's (`аlice` with a Cyrillic а, `ALICE`, `aIice`)
      // is let in with a visible suffix (status 210 tells the client), so nobody passes for another.
      const assigned = distinctNick(nick, [...room.xmpp.keys(), ...room.network.keys()]);
      me = { user, nick: assigned, resources: new Set() };
      room.xmpp.set(assigned, me);
    }
    const isNewOccupant = me.resources.size === 0;
    me.resources.add(resource);
    await this.save(room);

    // XEP-0045 §7.2.3: existing occupants first, then self-presence, history, subject.
    for (const o of room.network.values())
      this.gw.sendQuietly(
        this.presenceOf(room, o.nick, resource, { role: o.role, affiliation: o.affiliation }),
      );
    for (const o of room.xmpp.values())
      if (o !== me) this.gw.sendQuietly(this.presenceOf(room, o.nick, resource));
    const statuses: string[] = [MucStatus.selfPresence];
    if (me.nick !== requested) statuses.push(MucStatus.nickAssigned);
    await this.gw.send(this.presenceOf(room, me.nick, resource, { statuses }));
    if (isNewOccupant) {
      for (const r of room.allResources())
        if (!me.resources.has(r)) this.gw.sendQuietly(this.presenceOf(room, me.nick, r));
      await this.portal.occupantsChanged?.(roomId, this.occupantList(room));
    }
    await this.sendHistory(room, resource, history);
    await this.gw.send(
      subjectMessage(
        this.gw.addressing.roomJid(roomId),
        resource,
        room.topic?.text ?? "",
        `subject-${Date.now()}`,
      ),
    );
    logOutcome(this.gw.log, {
      direction: "to-network",
      what: "portal-join",
      user,
      conversation: roomId,
      result: "delivered",
    });
  }

  /** A resource leaves; `codes` are extra MUC status codes for everyone's presence (e.g. 333). */
  async leave(resource: string, roomId: LegacyId, codes: string[] = []): Promise<void> {
    const room = this.rooms.get(roomId);
    const me = room?.byResource(resource);
    if (!room || !me) return;
    me.resources.delete(resource);
    this.gw.sendQuietly(
      this.presenceOf(room, me.nick, resource, {
        unavailable: true,
        statuses: [MucStatus.selfPresence, ...codes],
      }),
    );
    if (me.resources.size === 0) {
      room.xmpp.delete(me.nick);
      for (const r of room.allResources())
        this.gw.sendQuietly(this.presenceOf(room, me.nick, r, { unavailable: true, statuses: codes }));
      await this.portal.occupantsChanged?.(roomId, this.occupantList(room));
    }
    await this.save(room);
  }

  /** Every XMPP resource in a portal room, with the room and its nick there. */
  occupancies(): { resource: string; roomId: LegacyId; nick: string }[] {
    return [...this.rooms.values()].flatMap((room) =>
      [...room.xmpp.values()].flatMap((o) =>
        [...o.resources].map((resource) => ({ resource, roomId: room.id, nick: o.nick })),
      ),
    );
  }

  /** A resource is gone everywhere (offline or bouncing). */
  async forgetResource(resource: string): Promise<void> {
    for (const room of this.rooms.values())
      if (room.byResource(resource)) await this.leave(resource, room.id);
  }

  /** An occupant's groupchat message: to the network, then reflected to every XMPP occupant. */
  async message(resource: string, roomId: LegacyId, body: string, content: OutgoingContent): Promise<void> {
    const room = this.require(roomId);
    const me = room.byResource(resource);
    if (!me) throw new StanzaError("not-acceptable", "you are not in this room; join it first");
    const from: PortalOccupant = { nick: me.nick, jid: me.user };
    const receipt = await this.portal.sendMessage(roomId, from, {
      conversation: { kind: "room", id: roomId },
      ...content,
    });
    const id =
      content.clientId || stanzaIdFor({ gateway: this.gw.domain, user: PORTAL_OWNER, conversation: roomId });
    const archiveId = await this.archive(roomId).append({
      stanzaId: id,
      legacyId: receipt.id,
      from: me.nick,
      body,
      timestamp: Date.now(),
      kind: content.kind === "action" ? "action" : "message",
    });
    if (receipt.id) await this.rememberIds(roomId, receipt.id, archiveId, id);
    const replyTo = content.replyTo ? await this.stanzaIdOf(roomId, content.replyTo) : undefined;
    await this.fanOut(room, (to) => this.groupchat(room, me.nick, to, { id, body, archiveId, replyTo }));
    logOutcome(this.gw.log, {
      direction: "to-network",
      what: "portal-message",
      user: me.user,
      conversation: roomId,
      result: "delivered",
    });
  }

  /** The network's id of a message in a portal room, from an XMPP id any occupant saw. */
  async legacyIdOf(roomId: LegacyId, stanzaId: string | undefined): Promise<string> {
    const legacyId = stanzaId
      ? await this.gw.store.idMap.legacyIdFor(this.gw.domain, PORTAL_OWNER, roomId, stanzaId)
      : null;
    if (!legacyId) throw new StanzaError("item-not-found", "the message referred to is unknown");
    return legacyId;
  }

  private async stanzaIdOf(roomId: LegacyId, legacyId: string): Promise<string | undefined> {
    return (
      (await this.gw.store.idMap.stanzaIdFor(this.gw.domain, PORTAL_OWNER, roomId, legacyId)) ?? undefined
    );
  }

  /** What disco#info shows about a portal room (XEP-0128 room info). */
  info(roomId: LegacyId): { description?: string; topic?: string } | undefined {
    const room = this.rooms.get(roomId);
    return room ? { description: room.description, topic: room.topic?.text } : undefined;
  }

  /** Network events, in order per room. */
  onEvent(event: PortalEvent): Promise<void> {
    const roomId =
      event.type === "room.member" || event.type === "room.topic" ? event.room : event.conversation.id;
    return this.queue.run(`portal\u0000${roomId}`, () => this.handle(roomId, event));
  }

  private async handle(roomId: LegacyId, event: PortalEvent): Promise<void> {
    const room = this.rooms.get(roomId);
    if (!room) {
      logOutcome(this.gw.log, {
        direction: "to-xmpp",
        what: event.type,
        conversation: roomId,
        result: "ignored",
        reason: "not a portal room",
      });
      return;
    }
    const roomJid = this.gw.addressing.roomJid(roomId);
    switch (event.type) {
      case "message": {
        const text = bodyText(event.kind, event.text);
        const urls = (event.attachments ?? []).map((a) => a.url).filter((u): u is string => Boolean(u));
        const body = [text, ...urls].filter(Boolean).join("\n");
        const id = stanzaIdFor({
          gateway: this.gw.domain,
          user: PORTAL_OWNER,
          conversation: roomId,
          legacyId: event.id,
        });
        const archiveId = await this.archive(roomId).append({
          stanzaId: id,
          legacyId: event.id,
          from: event.from.nick,
          body,
          timestamp: (event.timestamp ?? new Date()).getTime(),
          kind: event.kind === "action" ? "action" : event.kind === "notice" ? "notice" : "message",
        });
        if (event.id) await this.rememberIds(roomId, event.id, archiveId, id);
        const replyTo = event.replyTo ? await this.stanzaIdOf(roomId, event.replyTo) : undefined;
        await this.fanOut(room, (to) =>
          this.groupchat(room, event.from.nick, to, {
            id,
            body,
            archiveId,
            timestamp: event.timestamp,
            replyTo,
            attachments: event.attachments,
          }),
        );
        logOutcome(this.gw.log, {
          direction: "to-xmpp",
          what: "portal-message",
          conversation: roomId,
          result: "delivered",
        });
        return;
      }
      case "edit":
      case "retraction":
      case "reaction": {
        const target = (await this.stanzaIdOf(roomId, event.target)) ?? event.target;
        const from = occupantOf(roomJid, event.from.nick);
        await this.fanOut(room, (to) =>
          event.type === "edit"
            ? correctionMessage({
                from,
                to,
                type: "groupchat",
                replaces: target,
                body: bodyText("normal", event.text),
              })
            : event.type === "retraction"
              ? retractionMessage({ from, to, type: "groupchat", target })
              : reactionsMessage({ from, to, type: "groupchat", target, emojis: event.emojis }),
        );
        return;
      }
      case "room.member": {
        const o = event.occupant;
        if (event.change === "join" || event.change === "role" || event.change === "away") {
          room.network.set(o.nick, o);
          await this.fanOut(room, (to) =>
            this.presenceOf(room, o.nick, to, {
              role: o.role,
              affiliation: o.affiliation,
              show: o.away ? "away" : undefined,
            }),
          );
        } else if (event.change === "nick") {
          const newNick = event.newNick ?? o.nick;
          room.network.delete(o.nick);
          room.network.set(newNick, { ...o, nick: newNick });
          await this.fanOut(room, (to) =>
            this.presenceOf(room, o.nick, to, {
              unavailable: true,
              newNick,
              statuses: [MucStatus.nickChanged],
            }),
          );
          await this.fanOut(room, (to) =>
            this.presenceOf(room, newNick, to, { role: o.role, affiliation: o.affiliation }),
          );
        } else {
          room.network.delete(o.nick);
          const codes =
            event.change === "kick" ? [MucStatus.kicked] : event.change === "ban" ? [MucStatus.banned] : [];
          await this.fanOut(room, (to) =>
            this.presenceOf(room, o.nick, to, { unavailable: true, statuses: codes, reason: event.reason }),
          );
        }
        return;
      }
      case "room.topic":
        room.topic = { text: event.topic, by: event.by };
        await this.fanOut(room, (to) =>
          subjectMessage(
            event.by ? occupantOf(roomJid, event.by) : roomJid,
            to,
            event.topic,
            `subject-${Date.now()}`,
          ),
        );
        return;
      default: {
        // Edits, retractions, reactions and typing need the per-message id map; rendered as for sessions.
        logOutcome(this.gw.log, {
          direction: "to-xmpp",
          what: event.type,
          conversation: roomId,
          result: "ignored",
          reason: "not yet shown in portal rooms",
        });
      }
    }
  }

  private async fanOut(room: PortalRoom, build: (to: string) => Element): Promise<void> {
    for (const r of room.allResources()) await this.gw.send(build(r));
  }

  private groupchat(
    room: PortalRoom,
    nick: string,
    to: string,
    m: {
      id: string;
      body: string;
      archiveId: string;
      timestamp?: Date;
      replyTo?: string;
      attachments?: Attachment[];
    },
  ): Element {
    const roomJid = this.gw.addressing.roomJid(room.id);
    return chatMessage({
      from: occupantOf(roomJid, nick),
      to,
      type: "groupchat",
      id: m.id,
      body: m.body,
      timestamp: m.timestamp,
      delayFrom: roomJid,
      stanzaId: { id: m.archiveId, by: roomJid },
      replyTo: m.replyTo,
      attachments: m.attachments,
    });
  }

  private presenceOf(
    room: PortalRoom,
    nick: string,
    to: string,
    extra: Partial<Parameters<typeof occupantPresence>[0]> = {},
  ): Element {
    return occupantPresence({
      from: this.gw.addressing.occupantJid(room.id, nick),
      to,
      role: "participant",
      affiliation: "none",
      ...extra,
    });
  }

  private async sendHistory(
    room: PortalRoom,
    resource: string,
    request: HistoryRequest | undefined,
  ): Promise<void> {
    const max = request?.maxStanzas ?? 20;
    if (max === 0 || request?.maxChars === 0) return;
    const since =
      request?.since ??
      (request?.seconds !== undefined ? new Date(Date.now() - request.seconds * 1000) : undefined);
    const roomJid = this.gw.addressing.roomJid(room.id);
    for (const entry of await this.archive(room.id).recent({ limit: max, since })) {
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

  /** The room's shared archive (also what MAM on a portal room answers from). */
  archive(roomId: LegacyId) {
    return this.gw.store.sharedArchive(this.gw.domain, roomId);
  }

  private async rememberIds(
    roomId: LegacyId,
    legacyId: string,
    archiveId: string,
    id: string,
  ): Promise<void> {
    await this.gw.store.idMap.rememberAll(this.gw.domain, PORTAL_OWNER, roomId, legacyId, id, [archiveId]);
  }

  private occupantList(room: PortalRoom): PortalOccupant[] {
    return [...room.xmpp.values()].map((o) => ({ nick: o.nick, jid: o.user }));
  }

  private require(roomId: LegacyId): PortalRoom {
    const room = this.rooms.get(roomId);
    if (!room) throw new StanzaError("item-not-found", "no such room");
    return room;
  }

  private async load(room: PortalRoom): Promise<PortalRoom> {
    if (room.loaded) return room;
    room.loaded = true;
    const saved = await this.gw.store
      .coreGatewayState(this.gw.domain)
      .getJson(`portal:${room.id}`, occupantsSchema);
    for (const o of saved ?? [])
      room.xmpp.set(o.nick, { user: o.user, nick: o.nick, resources: new Set(o.resources) });
    return room;
  }

  private async save(room: PortalRoom): Promise<void> {
    const list = [...room.xmpp.values()].map((o) => ({
      user: o.user,
      nick: o.nick,
      resources: [...o.resources],
    }));
    await this.gw.store.coreGatewayState(this.gw.domain).setJson(`portal:${room.id}`, list);
  }
}
