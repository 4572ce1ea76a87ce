/**
 * Neutral events → XMPP stanzas. Pure functions: given an event and the JIDs involved, build the
 * elements; the caller decides where they go.
 */
import { createHash, randomUUID } from "node:crypto";
import { type Element, xml } from "@xmpp/component-core";
import type { Attachment } from "../adapter/attachments.ts";
import type { MessageKind } from "../adapter/events.ts";
import type { StyledText } from "../adapter/text.ts";
import { delayElement } from "../xmpp/basic-iq.ts";
import { NS } from "../xmpp/namespaces.ts";
import { styledToXmpp } from "../xmpp/styling.ts";

/**
 * A stanza id that is the same every time the same legacy message is relayed, so a replay after a
 * crash can be recognised as a duplicate by anyone keeping ids; random when there is no legacy id.
 */
export function stanzaIdFor(parts: {
  gateway: string;
  user: string;
  conversation: string;
  legacyId?: string;
}): string {
  if (!parts.legacyId) return randomUUID();
  const hash = createHash("sha256")
    .update(`${parts.gateway}\u0000${parts.user}\u0000${parts.conversation}\u0000${parts.legacyId}`)
    .digest("base64url");
  return `pst-${hash.slice(0, 22)}`;
}

/** The body text a message event shows: `/me` for actions (XEP-0245), styling as XEP-0393. */
export function bodyText(kind: MessageKind, text: StyledText): string {
  const rendered = styledToXmpp(text);
  return kind === "action" ? `/me ${rendered}` : rendered;
}

export interface ChatMessageOptions {
  from: string;
  to: string;
  type: "chat" | "groupchat" | "normal" | "headline";
  id: string;
  body: string;
  timestamp?: Date;
  /** Who stamps the delay (the room or the gateway). */
  delayFrom?: string;
  /** XEP-0359 stanza-id, set by the room for archive references. */
  stanzaId?: { id: string; by: string };
  attachments?: Attachment[];
  /** XEP-0334: ask the user's server to archive and carbon-copy it. */
  store?: boolean;
  /** XEP-0461: the stanza id of the message this one answers. */
  replyTo?: string;
}

export function chatMessage(o: ChatMessageOptions): Element {
  const firstUrl = o.attachments?.find((a) => a.url)?.url;
  return xml(
    "message",
    { from: o.from, to: o.to, type: o.type, id: o.id },
    xml("body", {}, o.body),
    o.stanzaId ? xml("stanza-id", { xmlns: NS.stanzaId, id: o.stanzaId.id, by: o.stanzaId.by }) : null,
    // XEP-0066: clients show the file inline when the body is exactly the URL.
    firstUrl ? xml("x", { xmlns: NS.oob }, xml("url", {}, firstUrl)) : null,
    o.timestamp && o.delayFrom ? delayElement(o.timestamp, o.delayFrom) : null,
    o.store ? xml("store", { xmlns: NS.hints }) : null,
    o.replyTo ? xml("reply", { xmlns: NS.reply, id: o.replyTo }) : null,
  );
}

export function chatStateMessage(
  from: string,
  to: string,
  type: "chat" | "groupchat",
  state: string,
): Element {
  return xml(
    "message",
    { from, to, type, id: randomUUID() },
    xml(state, { xmlns: NS.chatStates }),
    xml("no-store", { xmlns: NS.hints }),
  );
}

export function correctionMessage(o: {
  from: string;
  to: string;
  type: "chat" | "groupchat";
  replaces: string;
  body: string;
}): Element {
  return xml(
    "message",
    { from: o.from, to: o.to, type: o.type, id: randomUUID() },
    xml("body", {}, o.body),
    xml("replace", { xmlns: NS.correction, id: o.replaces }),
  );
}

export function retractionMessage(o: {
  from: string;
  to: string;
  type: "chat" | "groupchat";
  target: string;
}): Element {
  return xml(
    "message",
    { from: o.from, to: o.to, type: o.type, id: randomUUID() },
    xml("retract", { xmlns: NS.retract, id: o.target }),
    xml("fallback", { xmlns: NS.fallback, for: NS.retract }),
    xml(
      "body",
      {},
      "This person attempted to retract a previous message, but it's unsupported by your client.",
    ),
    xml("store", { xmlns: NS.hints }),
  );
}

export function reactionsMessage(o: {
  from: string;
  to: string;
  type: "chat" | "groupchat";
  target: string;
  emojis: string[];
}): Element {
  return xml(
    "message",
    { from: o.from, to: o.to, type: o.type, id: randomUUID() },
    xml("reactions", { xmlns: NS.reactions, id: o.target }, ...o.emojis.map((e) => xml("reaction", {}, e))),
    xml("store", { xmlns: NS.hints }),
  );
}
