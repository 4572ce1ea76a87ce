/**
 * XEP-0045 Multi-User Chat, the room side: the presences an occupant sees and the parts of a join
 * request. The gateway is the room service; each legacy room is a MUC room in its domain.
 */
import { type Element, xml } from "@xmpp/component-core";
import type { MucAffiliation, MucRole } from "../adapter/conversation.ts";
import { NS } from "./namespaces.ts";

/** Status codes (XEP-0045 §15.6) Postern uses. */
export const MucStatus = {
  nonAnonymous: "100",
  banned: "301",
  nickChanged: "303",
  kicked: "307",
  selfPresence: "110",
  nickAssigned: "210",
  removedShutdown: "332",
  /** Removed because of a technical problem (e.g. its server says the resource is gone). */
  removedTechnical: "333",
  roomLogged: "170",
} as const;

export interface OccupantPresence {
  /** room@gw/nick */
  from: string;
  /** the receiving full JID */
  to: string;
  role: MucRole;
  affiliation: MucAffiliation;
  unavailable?: boolean;
  statuses?: string[];
  /** For nick changes (303): the new nick. */
  newNick?: string;
  /** The occupant's real JID, when the room reveals it. */
  realJid?: string;
  reason?: string;
  actor?: string;
  show?: "away" | "xa" | "dnd" | "chat";
  status?: string;
}

export function occupantPresence(p: OccupantPresence): Element {
  const item = xml(
    "item",
    { affiliation: p.affiliation, role: p.unavailable ? "none" : p.role, nick: p.newNick, jid: p.realJid },
    p.actor ? xml("actor", { nick: p.actor }) : null,
    p.reason ? xml("reason", {}, p.reason) : null,
  );
  return xml(
    "presence",
    { from: p.from, to: p.to, type: p.unavailable ? "unavailable" : undefined },
    p.show ? xml("show", {}, p.show) : null,
    p.status ? xml("status", {}, p.status) : null,
    xml("x", { xmlns: NS.mucUser }, item, ...(p.statuses ?? []).map((code) => xml("status", { code }))),
  );
}

export interface JoinRequest {
  password?: string;
  /** XEP-0045 §7.2.15; absent means "the room's default". */
  history?: { maxStanzas?: number; maxChars?: number; seconds?: number; since?: Date };
  /** True when the presence carries `<x xmlns="http://jabber.org/protocol/muc"/>`. */
  explicit: boolean;
}

function nonNegativeInt(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,9}$/.test(value)) return undefined;
  return Number(value);
}

/** Reads the join parameters of a presence sent to an occupant JID. */
export function parseJoinRequest(presence: Element): JoinRequest {
  const x = presence.getChild("x", NS.muc);
  if (!x) return { explicit: false };
  const password = x.getChildText("password") ?? undefined;
  const h = x.getChild("history");
  let history: JoinRequest["history"];
  if (h) {
    const since = h.attrs.since ? new Date(h.attrs.since) : undefined;
    history = {
      maxStanzas: nonNegativeInt(h.attrs.maxstanzas),
      maxChars: nonNegativeInt(h.attrs.maxchars),
      seconds: nonNegativeInt(h.attrs.seconds),
      since: since && !Number.isNaN(since.getTime()) ? since : undefined,
    };
  }
  return { explicit: true, password: password || undefined, history };
}

/** The subject message sent last in a join (XEP-0045 §7.2.15: always, empty when none). */
export function subjectMessage(from: string, to: string, subject: string, id: string): Element {
  return xml("message", { from, to, type: "groupchat", id }, xml("subject", {}, subject));
}
