/**
 * Neutral events: what a session reports about its network. The core turns each one into XMPP
 * stanzas for the session's user. Events of one conversation must be emitted in the order they
 * happened; the core keeps that order.
 */
import type { Attachment } from "./attachments.ts";
import type { ConversationRef, LegacyId, MucAffiliation, MucRole, Occupant, Sender } from "./conversation.ts";
import type { StyledText } from "./text.ts";

export type MessageKind = "normal" | "action" | "notice";

export interface MessageEvent {
  type: "message";
  conversation: ConversationRef;
  from: Sender;
  /** The network's id for this message, when it has one (IRCv3 msgid, Telegram message_id). */
  id?: LegacyId;
  kind: MessageKind;
  text: StyledText;
  /** When the network says it was sent, if not now (IRCv3 server-time, history replay). */
  timestamp?: Date;
  /** The legacy id of the message this one replies to. */
  replyTo?: LegacyId;
  attachments?: Attachment[];
  /**
   * For the user's own messages reflected by the network (IRC echo-message): the XMPP stanza id
   * the user sent, when the adapter could match it, so every resource sees the same id.
   */
  echoOf?: string;
}

export interface EditEvent {
  type: "edit";
  conversation: ConversationRef;
  from: Sender;
  /** Legacy id of the message that was edited. */
  target: LegacyId;
  text: StyledText;
  timestamp?: Date;
}

export interface RetractionEvent {
  type: "retraction";
  conversation: ConversationRef;
  from: Sender;
  target: LegacyId;
}

export interface ReactionEvent {
  type: "reaction";
  conversation: ConversationRef;
  from: Sender;
  target: LegacyId;
  /** The full current set of this sender's reactions on the message (empty = all removed). */
  emojis: string[];
}

export interface TypingEvent {
  type: "typing";
  conversation: ConversationRef;
  from: Sender;
  state: "composing" | "paused" | "active";
}

/** Somebody (or the user themselves, `self: true`) joined, left or changed in a room. */
export interface RoomMemberEvent {
  type: "room.member";
  room: LegacyId;
  change: "join" | "leave" | "kick" | "ban" | "nick" | "role" | "away";
  occupant: Occupant;
  /** For `nick`: the new nick. */
  newNick?: string;
  /** Free text: part/quit/kick reason. */
  reason?: string;
  /** Who kicked or banned, when known. */
  actor?: string;
  self?: boolean;
}

export interface RoomTopicEvent {
  type: "room.topic";
  room: LegacyId;
  topic: string;
  /** Nick of who set it, when known. */
  by?: string;
}

/** Name and avatar of a contact, for rosters and vCards. */
export interface ContactInfoEvent {
  type: "contact.info";
  contact: LegacyId;
  name?: string;
  avatar?: { data: Uint8Array; mediaType: string } | null;
}

export interface PresenceEvent {
  type: "presence";
  contact: LegacyId;
  show: "available" | "away" | "xa" | "dnd" | "unavailable";
  status?: string;
}

export type SessionStateName = "connecting" | "online" | "reconnecting" | "failed" | "disconnected";

/** The connection of this session to its network. `reason` is shown to the user. */
export interface SessionStateEvent {
  type: "session.state";
  state: SessionStateName;
  reason?: string;
}

/** Something the gateway itself must tell the user (limits that bite, warnings). */
export interface GatewayNoticeEvent {
  type: "notice";
  text: string;
  /** The conversation it is about; without one the notice comes from the gateway JID. */
  conversation?: ConversationRef;
}

export type SessionEvent =
  | MessageEvent
  | EditEvent
  | RetractionEvent
  | ReactionEvent
  | TypingEvent
  | RoomMemberEvent
  | RoomTopicEvent
  | ContactInfoEvent
  | PresenceEvent
  | SessionStateEvent
  | GatewayNoticeEvent;

export type { MucAffiliation, MucRole };
