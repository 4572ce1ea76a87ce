/**
 * Messages from XMPP users: chat with a contact, groupchat in a room, a private message to an
 * occupant, a subject change. Each becomes one call on the user's adapter session; a failure goes
 * back to the sender as an error on the original stanza id.
 */
import type { Element } from "@xmpp/component-core";
import { hasCapability } from "../adapter/capabilities.ts";
import type { ConversationRef } from "../adapter/conversation.ts";
import { AdapterError } from "../adapter/session.ts";
import { NS } from "../xmpp/namespaces.ts";
import { StanzaError } from "../xmpp/stanza-error.ts";
import { xmppToStyled } from "../xmpp/styling.ts";
import type { Envelope } from "./gateway.ts";
import type { HandlerDeps } from "./handler-deps.ts";
import { logOutcome } from "./outcome.ts";
import { composeOutgoing } from "./outgoing.ts";
import { forgetBouncedResource } from "./presence-handler.ts";

const CHAT_STATES = ["active", "composing", "paused", "inactive", "gone"] as const;

/** What handling a message leaves behind: what the adapter still holds of it (SendReceipt.handedOver). */
export interface MessageHandled {
  handedOver?: Promise<void>;
}

export async function handleMessage(env: Envelope, deps: HandlerDeps): Promise<MessageHandled | undefined> {
  const { stanza } = env;
  const { gw, users } = deps;
  const type = stanza.attrs.type ?? "normal";
  if (type === "error") {
    // A bounce from the user's server: that resource is gone. Never answered (loop guard).
    await forgetBouncedResource(env, deps);
    logOutcome(gw.log, {
      direction: "to-network",
      what: "message-error",
      user: env.user,
      result: "ignored",
      reason: "bounce",
    });
    return;
  }
  const target = gw.addressing.target(env.to);
  if (target.kind === "gateway") {
    logOutcome(gw.log, {
      direction: "to-network",
      what: "message",
      user: env.user,
      result: "ignored",
      reason: "message to the gateway itself",
    });
    return;
  }
  users.requireAllowed(env.user);
  const body = firstBody(stanza);
  if (body !== undefined && Buffer.byteLength(body, "utf8") > gw.config.limits.maxBodyBytes) {
    throw new StanzaError(
      "not-acceptable",
      `the message is longer than ${gw.config.limits.maxBodyBytes} bytes`,
    );
  }

  if (target.kind === "room" && !target.nick && deps.portals?.has(target.id)) {
    if (type !== "groupchat")
      throw new StanzaError("bad-request", "messages to a room must be of type groupchat");
    if (body === undefined) return;
    const portals = deps.portals;
    if (
      stanza.getChild("replace", NS.correction) ||
      stanza.getChild("retract", NS.retract) ||
      stanza.getChild("reactions", NS.reactions)
    ) {
      throw new StanzaError(
        "feature-not-implemented",
        "corrections, retractions and reactions are not relayed in shared rooms yet",
      );
    }
    const content = await composeOutgoing(stanza, body, gw.adapter.capabilities, (id) =>
      portals.legacyIdOf(target.id, id),
    );
    await callAdapter(() => portals.message(`${env.user}/${env.from.resource}`, target.id, body, content));
    return;
  }

  let conversation: ConversationRef;
  const user = await users.obtain(env.user);
  const resource = `${env.user}/${env.from.resource}`;
  if (target.kind === "room") {
    const room = user.rooms.get(target.id);
    if (target.nick) {
      // XEP-0045 §7.5: a private message to an occupant goes to them directly when the network allows.
      const occupant = room?.occupants.get(target.nick);
      if (!room?.resources.has(resource)) throw new StanzaError("not-acceptable", "join the room first");
      if (!occupant?.contactId) throw new StanzaError("item-not-found", `${target.nick} is not in the room`);
      conversation = { kind: "direct", id: occupant.contactId };
    } else {
      if (!room?.resources.has(resource))
        throw new StanzaError("not-acceptable", "you are not in this room; join it first");
      if (type !== "groupchat")
        throw new StanzaError("bad-request", "messages to a room must be of type groupchat");
      conversation = { kind: "room", id: target.id };
      const subject = stanza.getChild("subject");
      if (subject && body === undefined) {
        const session = await user.open();
        if (!session.setTopic || !hasCapability(gw.adapter.capabilities, "topic"))
          throw new StanzaError("forbidden", "this network does not let you change the subject");
        await callAdapter(() => session.setTopic!(target.id, subject.getText()));
        logOutcome(gw.log, {
          direction: "to-network",
          what: "subject",
          user: env.user,
          conversation: target.id,
          result: "delivered",
        });
        return;
      }
    }
  } else {
    conversation = { kind: "direct", id: target.id };
  }

  const session = await user.open();
  const caps = gw.adapter.capabilities;
  /** The legacy id of a message the user refers to; unknown ids (or another user's) are not found. */
  const legacyIdOf = async (stanzaId: string | undefined): Promise<string> => {
    let legacyId = stanzaId
      ? await gw.store.idMap.legacyIdFor(gw.domain, env.user, conversation.id, stanzaId)
      : null;
    // A room message's stanza-id is its archive id, mapped back through the archive entry.
    if (!legacyId && stanzaId && conversation.kind === "room")
      legacyId =
        (await gw.store.userArchive(gw.domain, env.user, conversation.id).entry(stanzaId))?.legacyId ?? null;
    if (!legacyId) throw new StanzaError("item-not-found", "the message referred to is unknown");
    return legacyId;
  };
  const retract = stanza.getChild("retract", NS.retract);
  if (retract) {
    if (!session.retractMessage || !hasCapability(caps, "retractions"))
      throw new StanzaError("feature-not-implemented", "this network does not support retractions");
    const target = await legacyIdOf(retract.attrs.id);
    await callAdapter(() => session.retractMessage!(conversation, target));
    logOutcome(gw.log, {
      direction: "to-network",
      what: "retraction",
      user: env.user,
      conversation: conversation.id,
      result: "delivered",
    });
    return;
  }
  const reactions = stanza.getChild("reactions", NS.reactions);
  if (reactions) {
    if (!session.react || !hasCapability(caps, "reactions"))
      throw new StanzaError("feature-not-implemented", "this network does not support reactions");
    const target = await legacyIdOf(reactions.attrs.id);
    const emojis = reactions
      .getChildren("reaction")
      .map((r) => r.getText())
      .filter((e) => e.length > 0 && e.length <= 32)
      .slice(0, 20);
    await callAdapter(() => session.react!(conversation, target, emojis));
    logOutcome(gw.log, {
      direction: "to-network",
      what: "reactions",
      user: env.user,
      conversation: conversation.id,
      result: "delivered",
    });
    return;
  }
  if (body === undefined) {
    const state = CHAT_STATES.find((s) => stanza.getChild(s, NS.chatStates));
    if (state && session.setTyping && hasCapability(gw.adapter.capabilities, "typing")) {
      await callAdapter(() =>
        session.setTyping!(
          conversation,
          state === "composing" ? "composing" : state === "paused" ? "paused" : "active",
        ),
      );
    }
    logOutcome(gw.log, {
      direction: "to-network",
      what: "message",
      user: env.user,
      result: "ignored",
      reason: "no body",
    });
    return;
  }
  const replace = stanza.getChild("replace", NS.correction);
  if (replace) {
    if (!session.editMessage || !hasCapability(caps, "edits"))
      throw new StanzaError("feature-not-implemented", "this network does not support corrections");
    const legacyId = await legacyIdOf(replace.attrs.id);
    await callAdapter(() => session.editMessage!(conversation, legacyId, xmppToStyled(body)));
    return;
  }
  const content = await composeOutgoing(stanza, body, caps, legacyIdOf);
  const clientId = content.clientId;
  const receipt = await callAdapter(() =>
    session.sendMessage({ conversation, ...content, receivedAt: env.receivedAt }),
  );
  if (receipt.id && clientId) {
    // The message is out: a failure to remember its id (Redis away) must not tell the sender it
    // failed, or they would send it again. Only later corrections of it will not find it.
    await gw.store.idMap
      .remember(gw.domain, env.user, conversation.id, receipt.id, clientId)
      .catch((err: unknown) => {
        gw.log.warn({ err: String(err), user: env.user }, "message sent, but its id could not be stored");
      });
  }
  logOutcome(gw.log, {
    direction: "to-network",
    what: "message",
    user: env.user,
    conversation: conversation.id,
    result: "delivered",
  });
  return { handedOver: receipt.handedOver };
}

/** The first `<body/>` without xml:lang or in English; later ones are ignored (bounded cost). */
function firstBody(stanza: Element): string | undefined {
  const bodies = stanza.getChildren("body");
  if (bodies.length === 0) return undefined;
  const preferred = bodies.find((b) => !b.attrs["xml:lang"]) ?? bodies[0];
  return preferred?.getText();
}

/** Runs an adapter call, turning its failures into the stanza error the user sees. */
export async function callAdapter<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof AdapterError)
      throw new StanzaError(err.condition, err.message, err.retryable ? "wait" : undefined);
    throw err;
  }
}
