/**
 * Presence from XMPP users: to the gateway JID (subscriptions, probes, coming online and going
 * offline — which opens and closes their sessions) and to rooms (XEP-0045 join, nick change,
 * leave).
 */
import { xml } from "@xmpp/component-core";
import { hasCapability } from "../adapter/capabilities.ts";
import { rateScopes } from "../store/keys.ts";
import { parseJoinRequest } from "../xmpp/muc.ts";
import { NS } from "../xmpp/namespaces.ts";
import { StanzaError } from "../xmpp/stanza-error.ts";
import type { Envelope } from "./gateway.ts";
import type { GatewayContext } from "./gateway-context.ts";
import type { HandlerDeps } from "./handler-deps.ts";
import { callAdapter } from "./message-handler.ts";
import { logOutcome } from "./outcome.ts";
import type { UserSession } from "./user-session.ts";

const KNOWN_TYPES = new Set([
  "available",
  "unavailable",
  "subscribe",
  "subscribed",
  "unsubscribe",
  "unsubscribed",
  "probe",
  "error",
]);

/**
 * RELIABILITY.md S7 and corpus A #36: a user starts at most `limits.roomJoinsPer10sPerJid` new
 * room joins per 10 s, over all their resources; beyond that, resource-constraint (wait). Each
 * join costs the network a JOIN and the gateway a room's state and history.
 */
async function admitNewJoin(gw: GatewayContext, user: string): Promise<void> {
  const limit = gw.config.limits.roomJoinsPer10sPerJid;
  const hit = await gw.store.rateLimit.hit(rateScopes.roomJoins(gw.domain, user), limit, 10);
  if (!hit.allowed) {
    throw new StanzaError(
      "resource-constraint",
      `at most ${limit} new rooms per 10 seconds; try again in ${hit.retryAfterSeconds} s`,
      "wait",
    );
  }
}

export async function handlePresence(env: Envelope, deps: HandlerDeps): Promise<void> {
  const { stanza } = env;
  const { gw, users } = deps;
  const type = stanza.attrs.type ?? "available";
  if (!KNOWN_TYPES.has(type)) {
    logOutcome(gw.log, {
      direction: "to-network",
      what: "presence",
      user: env.user,
      result: "ignored",
      reason: `unknown type ${type}`,
    });
    return;
  }
  const resource = `${env.user}/${env.from.resource}`;
  if (type === "error") {
    await forgetBouncedResource(env, deps);
    return;
  }
  const target = gw.addressing.target(env.to);
  const to = stanza.attrs.from ?? env.user;

  if (type === "subscribe" || type === "unsubscribe" || type === "subscribed" || type === "unsubscribed") {
    if (!users.isAllowed(env.user)) {
      gw.sendQuietly(xml("presence", { from: stanza.attrs.to, to: env.user, type: "unsubscribed" }));
      return;
    }
    // Transports accept subscriptions to themselves and to contacts, and reciprocate.
    if (type === "subscribe") {
      gw.sendQuietly(xml("presence", { from: stanza.attrs.to, to: env.user, type: "subscribed" }));
      gw.sendQuietly(xml("presence", { from: stanza.attrs.to, to: env.user, type: "subscribe" }));
    } else if (type === "unsubscribe") {
      gw.sendQuietly(xml("presence", { from: stanza.attrs.to, to: env.user, type: "unsubscribed" }));
    }
    return;
  }

  if (target.kind === "gateway") {
    if (type === "probe") {
      const user = users.existing(env.user);
      gw.sendQuietly(
        user ? user.gatewayPresence(to) : xml("presence", { from: gw.domain, to, type: "unavailable" }),
      );
      return;
    }
    if (!users.isAllowed(env.user) || !env.from.resource) return;
    if (type === "available") {
      let user: UserSession;
      try {
        user = await users.obtain(env.user);
      } catch (err) {
        if (err instanceof StanzaError && err.condition === "registration-required") {
          logOutcome(gw.log, {
            direction: "to-network",
            what: "presence",
            user: env.user,
            result: "ignored",
            reason: "not registered",
          });
          return;
        }
        throw err;
      }
      const isNew = !user.resources.has(resource);
      user.resources.add(resource);
      await gw.store.online.add(gw.domain, env.user, resource);
      await user.open();
      if (isNew) gw.sendQuietly(user.gatewayPresence(resource));
      const show = stanza.getChildText("show");
      const session = user.adapterSession;
      if (session?.setPresence && hasCapability(gw.adapter.capabilities, "presence")) {
        const away = show === "away" || show === "xa" || show === "dnd" ? show : "available";
        await callAdapter(() => session.setPresence!(away, stanza.getChildText("status") ?? undefined));
      }
      return;
    }
    // unavailable
    await gw.store.online.remove(gw.domain, env.user, resource);
    const user = users.existing(env.user);
    if (!user) return;
    user.resources.delete(resource);
    await users.releaseIfUnused(user);
    return;
  }

  if (target.kind === "room" && deps.portals?.has(target.id)) {
    if (type === "probe") return;
    users.requireAllowed(env.user);
    if (type === "unavailable") return deps.portals.leave(resource, target.id);
    if (!target.nick) throw new StanzaError("jid-malformed", "join with room@service/nick");
    return deps.portals.join(resource, env.user, target.id, target.nick, parseJoinRequest(stanza).history);
  }

  if (target.kind === "room") {
    if (type === "probe") return;
    users.requireAllowed(env.user);
    if (!hasCapability(gw.adapter.capabilities, "rooms"))
      throw new StanzaError("feature-not-implemented", "this network has no rooms");
    if (type === "unavailable") {
      const user = users.existing(env.user);
      const present = user?.rooms.get(target.id)?.resources.has(resource) === true;
      if (user) {
        if (present) await user.leave(resource, target.id, stanza.getChildText("status") ?? undefined);
        await users.releaseIfUnused(user);
      }
      logOutcome(gw.log, {
        direction: "to-network",
        what: "leave",
        user: env.user,
        conversation: target.id,
        result: present ? "delivered" : "ignored",
        reason: present ? undefined : "not in the room",
      });
      return;
    }
    if (!target.nick) throw new StanzaError("jid-malformed", "join with room@service/nick");
    // Only joins that reach the network count, not another resource or a re-sent presence.
    // Checked before the session is touched: a refusal must not close it under the user's
    // other joins still in flight.
    if (!users.existing(env.user)?.rooms.get(target.id)?.joined) await admitNewJoin(gw, env.user);
    const user = await users.obtain(env.user);
    const room = user.rooms.get(target.id);
    if (room?.resources.has(resource) && room.nick !== target.nick) {
      // XEP-0045 §7.6: available presence with a new nick from an occupant = nick change.
      const session = await user.open();
      if (!session.changeNick || !hasCapability(gw.adapter.capabilities, "nickChange"))
        throw new StanzaError("not-acceptable", "this network does not allow nick changes");
      await callAdapter(() => session.changeNick!(target.nick, target.id));
      return;
    }
    const request = parseJoinRequest(stanza);
    try {
      await callAdapter(() =>
        user.join(resource, target.id, target.nick, { password: request.password, history: request.history }),
      );
    } catch (err) {
      // XEP-0045 §7.2.6+: the caller answers a failed join with an error presence from the room.
      await users.releaseIfUnused(user);
      throw err;
    }
    logOutcome(gw.log, {
      direction: "to-network",
      what: "join",
      user: env.user,
      conversation: target.id,
      result: "delivered",
    });
    return;
  }

  // A MUC join sent to an address that is not a room: say so (XEP-0045 clients wait otherwise).
  if (type === "available" && stanza.getChild("x", NS.muc)) {
    throw new StanzaError("item-not-found", "this address is not a room");
  }
  // Presence to a contact: probes are answered with what we know (nothing yet → unavailable).
  if (type === "probe") {
    gw.sendQuietly(xml("presence", { from: stanza.attrs.to, to, type: "unavailable" }));
  }
}

/**
 * A bounce (an error presence or message from one of the user's resources): that resource is
 * gone. Forgotten everywhere, and the session closed if it was all that kept it open (its network
 * connection would otherwise stay for nobody).
 */
export async function forgetBouncedResource(env: Envelope, deps: HandlerDeps): Promise<void> {
  if (!env.from.resource) return;
  const { gw, users } = deps;
  const resource = `${env.user}/${env.from.resource}`;
  const user = users.existing(env.user);
  if (user) {
    await user.forgetResource(resource);
    await gw.store.online.remove(gw.domain, env.user, resource);
    await users.releaseIfUnused(user);
  }
  await deps.portals?.forgetResource(resource);
}
