/**
 * In-band registration with a gateway (XEP-0077) by its data form (XEP-0004), as a user's client
 * submits it: an iq set holding `<query xmlns='jabber:iq:register'>` with a submitted form. Built
 * here once, for tests that log in through Prosody (`registerWithForm`) and for those that play
 * the XMPP server and stamp the sender themselves (`registrationQuery`).
 */
import type { Element } from "@xmpp/component-core";
import { type XmppTestClient, xml } from "./xmpp-client.ts";

export const NS_REGISTER = "jabber:iq:register";
export const NS_DATA = "jabber:x:data";

/** A submitted data form (XEP-0004 `type="submit"`), one field with one value per entry. */
export function submittedForm(fields: Record<string, string>): Element {
  return xml(
    "x",
    { xmlns: NS_DATA, type: "submit" },
    ...Object.entries(fields).map(([name, value]) => xml("field", { var: name }, xml("value", {}, value))),
  );
}

/** The registration payload: `<query xmlns='jabber:iq:register'>` holding the submitted form. */
export function registrationQuery(fields: Record<string, string>): Element {
  return xml("query", { xmlns: NS_REGISTER }, submittedForm(fields));
}

/**
 * Registers `client` with the gateway at `gatewayJid` by submitting `fields`. Resolves with the
 * result iq; an error answer rejects with an `IqError` carrying the condition.
 */
export function registerWithForm(
  client: XmppTestClient,
  gatewayJid: string,
  fields: Record<string, string>,
  timeoutMs?: number,
): Promise<Element> {
  return client.iq(xml("iq", { type: "set", to: gatewayJid }, registrationQuery(fields)), timeoutMs);
}
