/**
 * Portal rooms: rooms shared by every allowed XMPP user of a gateway, bridged through ONE
 * network identity (e.g. an operator's Telegram bot in a community's group). Unlike a session,
 * a portal belongs to no single user: the core fans what the network says out to every XMPP
 * occupant, and passes each XMPP occupant's messages to the network with their nick, so the
 * adapter can show who wrote them (e.g. "[alice] hello").
 */
import type { Logger } from "./context.ts";
import type { LegacyId } from "./conversation.ts";
import type {
  EditEvent,
  MessageEvent,
  ReactionEvent,
  RetractionEvent,
  RoomMemberEvent,
  RoomTopicEvent,
  TypingEvent,
} from "./events.ts";
import type { JoinedRoom, OutgoingMessage, SendReceipt } from "./session.ts";

/** An XMPP occupant of a portal room, as the network may be told about them. */
export interface PortalOccupant {
  nick: string;
  /** The bare JID; show it on the network only if the operator configured so. */
  jid: string;
}

/** What happens in a portal room on the network. All events name a room (`conversation.kind` "room"). */
export type PortalEvent =
  | MessageEvent
  | EditEvent
  | RetractionEvent
  | ReactionEvent
  | TypingEvent
  | RoomMemberEvent
  | RoomTopicEvent;

export interface PortalContext {
  /** Reports a network event; resolves once the stanzas were written to the XMPP connection. */
  emit(event: PortalEvent): Promise<void>;
  log: Logger;
}

export interface Portal {
  /** The legacy ids of the portal rooms (fixed by the operator's configuration). */
  readonly rooms: readonly LegacyId[];
  /** The room as the network has it now: members, topic, description (`nick` is unused). */
  snapshot(room: LegacyId): Promise<JoinedRoom>;
  /** Sends an XMPP occupant's message; `from` says who wrote it. */
  sendMessage(room: LegacyId, from: PortalOccupant, message: OutgoingMessage): Promise<SendReceipt>;
  /** The XMPP occupants changed (someone joined or left): e.g. update a member list on the network. */
  occupantsChanged?(room: LegacyId, occupants: PortalOccupant[]): Promise<void>;
  close(): Promise<void>;
}
