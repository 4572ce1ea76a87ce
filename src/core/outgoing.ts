/**
 * A message stanza from a user turned into what a network is asked to send: the text (XEP-0393
 * styling as spans, `/me` as an action), the message it replies to (XEP-0461, with the XEP-0428
 * quote cut from the text), and a file link (XEP-0066) as an attachment. Shared by sessions and
 * portal rooms, so both read a stanza the same way.
 */
import type { Element } from "@xmpp/component-core";
import type { Attachment } from "../adapter/attachments.ts";
import { type Capabilities, hasCapability } from "../adapter/capabilities.ts";
import type { OutgoingMessage } from "../adapter/session.ts";
import { NS } from "../xmpp/namespaces.ts";
import { xmppToStyled } from "../xmpp/styling.ts";

export type OutgoingContent = Omit<OutgoingMessage, "conversation">;

/**
 * @param legacyIdOf maps an XMPP id the user referred to onto the network's id, or throws
 *   `item-not-found` (ids of other users' conversations are simply unknown).
 */
export async function composeOutgoing(
  stanza: Element,
  body: string,
  capabilities: Capabilities,
  legacyIdOf: (stanzaId: string | undefined) => Promise<string>,
): Promise<OutgoingContent> {
  const clientId = stanza.getChild("origin-id", NS.stanzaId)?.attrs.id ?? stanza.attrs.id ?? "";
  let ownText = body;
  let replyTo: string | undefined;
  const reply = stanza.getChild("reply", NS.reply);
  if (reply && hasCapability(capabilities, "replies")) {
    replyTo = await legacyIdOf(reply.attrs.id);
    ownText = withoutFallback(stanza, body, NS.reply);
  }
  // Networks that take files get the link as an attachment (and no duplicate of the URL as
  // text); others get the body, which carries the URL, as clients send it.
  const oobUrl = stanza.getChild("x", NS.oob)?.getChildText("url")?.trim();
  let attachments: Attachment[] | undefined;
  if (oobUrl && hasCapability(capabilities, "attachments")) {
    attachments = [
      { url: oobUrl, name: oobUrl.split("/").pop() || "file", mediaType: "application/octet-stream" },
    ];
    if (ownText.trim() === oobUrl) ownText = "";
  }
  const isAction = ownText.startsWith("/me ");
  const text = xmppToStyled(isAction ? ownText.slice(4) : ownText);
  return { kind: isAction ? "action" : "normal", text, clientId, replyTo, attachments };
}

/**
 * The body without the part XEP-0428 marks as a fallback for `forNs` (e.g. the quoted text of a
 * reply), so a network that shows replies natively does not get the quote twice.
 */
function withoutFallback(stanza: Element, body: string, forNs: string): string {
  const fallback = stanza.getChildren("fallback", NS.fallback).find((f) => f.attrs.for === forNs);
  const range = fallback?.getChild("body");
  if (!range) return body;
  // Offsets count Unicode code points (XEP-0426), not UTF-16 units.
  const points = [...body];
  const start = Number(range.attrs.start ?? 0);
  const end = Number(range.attrs.end ?? points.length);
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > points.length)
    return body;
  return (points.slice(0, start).join("") + points.slice(end).join("")).trimStart();
}
