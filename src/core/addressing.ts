/**
 * JIDs in the gateway's domain ↔ legacy ids. The localpart is the adapter's id with XEP-0106
 * escaping, so `#chan%irc.example.org@gw` names a channel and `nick%irc.example.org@gw` a user
 * (Biboumi's scheme, kept so its users' bookmarks keep working).
 */
import type { Adapter } from "../adapter/adapter.ts";
import type { ConversationRef, LegacyId } from "../adapter/conversation.ts";
import { escapeLocal, type Jid, unescapeLocal } from "../xmpp/jid.ts";
import { StanzaError } from "../xmpp/stanza-error.ts";
import { displayName } from "./display-name.ts";

export type Target =
  | { kind: "gateway" }
  | { kind: "room"; id: LegacyId; nick: string }
  | { kind: "direct"; id: LegacyId };

export class Addressing {
  constructor(
    readonly domain: string,
    private readonly adapter: Pick<Adapter, "classify">,
  ) {}

  /** What a `to` JID in our domain names; throws `jid-malformed`/`item-not-found` otherwise. */
  target(to: Jid): Target {
    if (to.local === "") return { kind: "gateway" };
    const id = unescapeLocal(to.local);
    const kind = this.adapter.classify(id);
    if (kind === null)
      throw new StanzaError("jid-malformed", `"${to.local}" is not an address on this gateway`);
    if (kind === "room") return { kind: "room", id, nick: to.resource };
    return { kind: "direct", id };
  }

  jidOf(conversation: ConversationRef): string {
    return `${escapeLocal(conversation.id)}@${this.domain}`;
  }

  roomJid(room: LegacyId): string {
    return `${escapeLocal(room)}@${this.domain}`;
  }

  /** The occupant's JID; the nick is shown without invisible characters (see display-name.ts). */
  occupantJid(room: LegacyId, nick: string): string {
    return occupantOf(this.roomJid(room), nick);
  }

  contactJid(contact: LegacyId): string {
    return `${escapeLocal(contact)}@${this.domain}`;
  }
}

/** `room@gw/nick` for a room JID already built, with the nick as it may be shown. */
export function occupantOf(roomJid: string, nick: string): string {
  return `${roomJid}/${displayName(nick)}`;
}
