/**
 * Stanza errors (RFC 6120 §8.3): the one way Postern says "no" to a stanza. An error reply
 * swaps `from`/`to`, keeps the original `id`, and is never sent in answer to an error.
 */
import { type Element, xml } from "@xmpp/component-core";
import { parseJid } from "./jid.ts";
import { NS } from "./namespaces.ts";

export type ErrorType = "auth" | "cancel" | "continue" | "modify" | "wait";

/** The default error type of each condition (RFC 6120 §8.3.3). */
const DEFAULT_TYPE: Record<string, ErrorType> = {
  "bad-request": "modify",
  conflict: "cancel",
  "feature-not-implemented": "cancel",
  forbidden: "auth",
  gone: "cancel",
  "internal-server-error": "cancel",
  "item-not-found": "cancel",
  "jid-malformed": "modify",
  "not-acceptable": "modify",
  "not-allowed": "cancel",
  "not-authorized": "auth",
  "policy-violation": "modify",
  "recipient-unavailable": "wait",
  redirect: "modify",
  "registration-required": "auth",
  "remote-server-not-found": "cancel",
  "remote-server-timeout": "wait",
  "resource-constraint": "wait",
  "service-unavailable": "cancel",
  "subscription-required": "auth",
  "undefined-condition": "cancel",
  "unexpected-request": "wait",
};

export class StanzaError extends Error {
  readonly type: ErrorType;
  constructor(
    readonly condition: string,
    /** Human-readable text sent to the user; must never contain a secret. */
    readonly text?: string,
    type?: ErrorType,
    /** An application-specific condition element (e.g. XEP-0050 `<bad-sessionid/>`). */
    readonly appCondition?: Element,
  ) {
    super(text ? `${condition}: ${text}` : condition);
    this.name = "StanzaError";
    this.type = type ?? DEFAULT_TYPE[condition] ?? "cancel";
  }
}

/** The `<error/>` child for a stanza error. */
export function errorElement(error: StanzaError): Element {
  return xml(
    "error",
    { type: error.type },
    xml(error.condition, { xmlns: NS.stanzas }),
    error.text ? xml("text", { xmlns: NS.stanzas, "xml:lang": "en" }, error.text) : null,
    error.appCondition ?? null,
  );
}

/**
 * The error reply to `stanza`, or null when none may be sent (the stanza is itself an error, or
 * has no sender to answer).
 */
export function errorReply(stanza: Element, error: StanzaError, fallbackFrom?: string): Element | null {
  const { from, to, id, type } = stanza.attrs;
  if (type === "error" || !from) return null;
  // Answer from the address the stanza was sent to, unless that address is itself what is wrong
  // (a server validating `from` would drop our link for it): then from `fallbackFrom`.
  const replyFrom = to && parseJid(to) ? to : (fallbackFrom ?? to);
  // RFC 6120 §8.3.1: the error stanza SHOULD include the original payload only when useful; we
  // leave it out, so that a large hostile payload is not echoed back.
  return xml(stanza.name, { from: replyFrom, to: from, id, type: "error" }, errorElement(error));
}
