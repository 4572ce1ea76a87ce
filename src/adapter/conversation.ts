/**
 * Legacy-side addresses. An adapter names every chat, room and contact with a `LegacyId`: the
 * network's own spelling (e.g. `#chan%irc.libera.chat`, `12345`). The core turns it into a JID
 * localpart with XEP-0106 escaping and back; adapters never see JIDs.
 */

export type LegacyId = string;

export type ConversationKind = "room" | "direct";

/** One chat: a room (MUC on the XMPP side) or a direct conversation with a contact. */
export interface ConversationRef {
  kind: ConversationKind;
  id: LegacyId;
}

/** Who said something, as the legacy network tells it. */
export interface Sender {
  /** The nick or display name shown to the XMPP user (MUC occupant nick, contact nickname). */
  nick: string;
  /** The sender's own contact id, when they can be written to directly. */
  contactId?: LegacyId;
  /** True when the XMPP user themselves sent it (a reflection of their own message). */
  self?: boolean;
}

export type MucRole = "moderator" | "participant" | "visitor" | "none";
export type MucAffiliation = "owner" | "admin" | "member" | "outcast" | "none";

export interface Occupant {
  nick: string;
  contactId?: LegacyId;
  role: MucRole;
  affiliation: MucAffiliation;
  /** Presence show value for occupants the network reports as away. */
  away?: boolean;
}

export function roomRef(id: LegacyId): ConversationRef {
  return { kind: "room", id };
}

export function directRef(id: LegacyId): ConversationRef {
  return { kind: "direct", id };
}
