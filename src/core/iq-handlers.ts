/**
 * IQ handling: one handler per namespace (XEP-0030, 0050, 0077, 0092, 0100, 0199, 0202). A
 * returned element is the result payload; a thrown StanzaError becomes the error; an IQ nobody
 * handles gets `service-unavailable` (RFC 6120 §8.4).
 */
import { type Element, xml } from "@xmpp/component-core";
import { hasCapability } from "../adapter/capabilities.ts";
import { InvalidArchiveIdError } from "../store/index.ts";
import { VERSION } from "../version.ts";
import { commandErrorCondition, parseCommandRequest } from "../xmpp/adhoc.ts";
import { timeResult, versionResult } from "../xmpp/basic-iq.ts";
import { discoInfoResult, discoItemsResult } from "../xmpp/disco.ts";
import { renderForm } from "../xmpp/forms.ts";
import { escapeLocal } from "../xmpp/jid.ts";
import { mamFin, mamQueryForm, mamResultMessage, parseMamQuery } from "../xmpp/mam.ts";
import { NS } from "../xmpp/namespaces.ts";
import { parseRegistrationRequest, registrationQuery } from "../xmpp/register.ts";
import { StanzaError } from "../xmpp/stanza-error.ts";
import { vcardResult } from "../xmpp/vcard.ts";
import { occupantOf, type Target } from "./addressing.ts";
import { registrationForm } from "./commands.ts";
import { ContactBook } from "./contacts.ts";
import type { Envelope } from "./gateway.ts";
import type { HandlerDeps } from "./handler-deps.ts";
import { logOutcome } from "./outcome.ts";

type IqHandler = (
  payload: Element,
  env: Envelope,
  target: Target,
  deps: HandlerDeps,
) => Promise<Element | null>;

const handlers: Record<string, IqHandler> = {
  [`get ${NS.discoInfo}`]: discoInfo,
  [`get ${NS.discoItems}`]: discoItems,
  [`get ${NS.ping}`]: async () => null,
  [`get ${NS.version}`]: async () => versionResult("Postern", VERSION),
  [`get ${NS.time}`]: async () => timeResult(),
  [`get ${NS.register}`]: registerGet,
  [`set ${NS.register}`]: registerSet,
  [`get ${NS.gateway}`]: gatewayGet,
  [`set ${NS.gateway}`]: gatewaySet,
  [`set ${NS.commands}`]: commandsSet,
  [`get ${NS.vcardTemp}`]: vcardGet,
  [`get ${NS.mam}`]: mamFormGet,
  [`set ${NS.mam}`]: mamQuerySet,
};

/** Namespaces anyone may query, even from outside the allow-list (servers ping and disco us). */
const PUBLIC = new Set<string>([NS.discoInfo, NS.discoItems, NS.ping, NS.version, NS.time]);

/** The reply to an IQ, or undefined when none is due (results and errors to us). */
export async function handleIq(env: Envelope, deps: HandlerDeps): Promise<Element | undefined> {
  const { stanza } = env;
  const type = stanza.attrs.type;
  if (type === "result" || type === "error") return undefined;
  if (!stanza.attrs.id) throw new StanzaError("bad-request", "an iq needs an 'id'");
  if (type !== "get" && type !== "set")
    throw new StanzaError("bad-request", "an iq's type must be get, set, result or error");
  const children = stanza.getChildElements();
  if (children.length !== 1)
    throw new StanzaError("bad-request", "an iq get or set carries exactly one child element");
  const payload = children[0] as Element;
  const ns = payload.getNS() ?? "";
  const handler = handlers[`${type} ${ns}`];
  if (!handler) throw new StanzaError("service-unavailable");
  if (!PUBLIC.has(ns)) {
    // Servers and other components have no account here: nothing but the public queries.
    if (env.from.local === "") throw new StanzaError("forbidden", "only user accounts may do this");
    deps.users.requireAllowed(env.user);
  }
  const target = deps.gw.addressing.target(env.to);
  const result = await handler(payload, env, target, deps);
  logOutcome(deps.gw.log, {
    direction: "to-xmpp",
    what: `iq:${payload.name}`,
    user: env.user,
    result: "delivered",
  });
  return xml(
    "iq",
    { type: "result", id: stanza.attrs.id, from: stanza.attrs.to, to: stanza.attrs.from },
    result,
  );
}

async function discoInfo(
  payload: Element,
  env: Envelope,
  target: Target,
  { gw, commands, users, portals }: HandlerDeps,
): Promise<Element> {
  const node = payload.attrs.node;
  if (node === NS.commands) {
    return discoInfoResult(
      [{ category: "automation", type: "command-list", name: "Commands" }],
      [NS.discoInfo, NS.discoItems],
      node,
    );
  }
  if (node) {
    const command = (await commands.visibleTo(env.user, target.kind === "room" ? "room" : "gateway")).find(
      (c) => c.node === node,
    );
    if (!command) throw new StanzaError("item-not-found");
    return discoInfoResult(
      [{ category: "automation", type: "command-node", name: command.name }],
      [NS.commands, NS.dataForms],
      node,
    );
  }
  const caps = gw.adapter.capabilities;
  if (target.kind === "gateway") {
    const features: string[] = [
      NS.discoInfo,
      NS.discoItems,
      NS.ping,
      NS.version,
      NS.time,
      NS.register,
      NS.gateway,
      NS.commands,
    ];
    if (hasCapability(caps, "rooms")) features.push(NS.muc);
    return discoInfoResult(
      [
        { category: "gateway", type: gw.gatewayType, name: gw.name },
        ...(hasCapability(caps, "rooms") ? [{ category: "conference", type: "text", name: gw.name }] : []),
      ],
      features,
    );
  }
  if (target.kind === "room") {
    const features = [
      NS.discoInfo,
      NS.muc,
      "muc_open",
      "muc_semianonymous",
      "muc_unmoderated",
      "muc_unsecured",
      NS.ping,
      NS.mam,
      NS.commands,
    ];
    const result = discoInfoResult([{ category: "conference", type: "text", name: target.id }], features);
    // XEP-0128 room info: what the network says about the room (e.g. limits that bite there).
    const own = users.isAllowed(env.user) ? users.existing(env.user)?.rooms.get(target.id) : undefined;
    const room = portals?.has(target.id)
      ? portals.info(target.id)
      : own && { description: own.description, topic: own.topic?.text };
    if (room?.description || room?.topic) {
      result.append(
        renderForm(
          {
            fields: [
              { var: "FORM_TYPE", type: "hidden", value: "http://jabber.org/protocol/muc#roominfo" },
              { var: "muc#roominfo_description", type: "text-single", value: room.description ?? "" },
              { var: "muc#roominfo_subject", type: "text-single", value: room.topic ?? "" },
            ],
          },
          "result",
        ),
      );
    }
    return result;
  }
  const features: string[] = [NS.discoInfo, NS.ping, NS.chatStates];
  if (hasCapability(caps, "edits")) features.push(NS.correction);
  if (hasCapability(caps, "retractions")) features.push(NS.retract);
  if (hasCapability(caps, "reactions")) features.push(NS.reactions);
  if (hasCapability(caps, "replies")) features.push(NS.reply);
  return discoInfoResult([{ category: "client", type: "pc", name: target.id }], features);
}

async function discoItems(
  payload: Element,
  env: Envelope,
  target: Target,
  { gw, users, commands }: HandlerDeps,
): Promise<Element> {
  const node = payload.attrs.node;
  if (node === NS.commands) {
    if (target.kind === "direct") return discoItemsResult([], node);
    const list = await commands.visibleTo(env.user, target.kind);
    const jid = target.kind === "room" ? gw.addressing.roomJid(target.id) : gw.domain;
    return discoItemsResult(
      list.map((c) => ({ jid, node: c.node, name: c.name })),
      node,
    );
  }
  if (target.kind !== "gateway" || node) return discoItemsResult([], node);
  // The rooms this user is in: what a client shows when browsing the gateway.
  const live = users.isAllowed(env.user) ? users.existing(env.user) : undefined;
  const rooms = live ? [...live.rooms.values()] : [];
  return discoItemsResult(rooms.map((r) => ({ jid: `${escapeLocal(r.id)}@${gw.domain}`, name: r.id })));
}

function requireGateway(target: Target): void {
  if (target.kind !== "gateway") throw new StanzaError("service-unavailable");
}

async function registerGet(
  _payload: Element,
  env: Envelope,
  target: Target,
  { gw }: HandlerDeps,
): Promise<Element> {
  requireGateway(target);
  const current = await gw.store.registrations.load(gw.domain, env.user);
  return registrationQuery({
    instructions: gw.adapter.registration.instructions,
    form: registrationForm(gw, current?.values ?? null),
    registered: current !== null,
  });
}

async function registerSet(
  payload: Element,
  env: Envelope,
  target: Target,
  { users }: HandlerDeps,
): Promise<null> {
  requireGateway(target);
  const request = parseRegistrationRequest(payload);
  if (request.kind === "invalid") throw new StanzaError("bad-request", request.reason);
  if (request.kind === "remove") {
    await users.unregister(env.user);
    return null;
  }
  await users.register(env.user, request.values);
  return null;
}

async function gatewayGet(
  _payload: Element,
  _env: Envelope,
  target: Target,
  { gw }: HandlerDeps,
): Promise<Element> {
  requireGateway(target);
  const prompt = gw.adapter.gatewayPrompt;
  if (!prompt) throw new StanzaError("feature-not-implemented");
  return xml("query", { xmlns: NS.gateway }, xml("desc", {}, prompt.desc), xml("prompt", {}, prompt.prompt));
}

async function gatewaySet(
  payload: Element,
  _env: Envelope,
  target: Target,
  { gw }: HandlerDeps,
): Promise<Element> {
  requireGateway(target);
  const prompt = gw.adapter.gatewayPrompt;
  if (!prompt) throw new StanzaError("feature-not-implemented");
  const input = payload.getChildText("prompt") ?? "";
  if (input.length === 0 || input.length > 1024)
    throw new StanzaError("bad-request", "give the contact's legacy id");
  const id = prompt.toLegacyId(input);
  if (id === null) throw new StanzaError("item-not-found", `"${input}" is not a valid address on ${gw.name}`);
  return xml("query", { xmlns: NS.gateway }, xml("jid", {}, `${escapeLocal(id)}@${gw.domain}`));
}

async function commandsSet(
  payload: Element,
  env: Envelope,
  target: Target,
  { commands }: HandlerDeps,
): Promise<Element> {
  const request = parseCommandRequest(payload);
  if (!request)
    throw new StanzaError(
      "bad-request",
      "unknown action",
      "modify",
      commandErrorCondition("malformed-action"),
    );
  if (target.kind === "direct") throw new StanzaError("item-not-found", "no commands here");
  return commands.execute(
    env.user,
    request,
    target.kind === "room" ? { kind: "room", id: target.id } : undefined,
  );
}

/** XEP-0054 on the gateway (its name) or on a contact (the name and avatar the network gave). */
async function vcardGet(
  _payload: Element,
  env: Envelope,
  target: Target,
  { gw }: HandlerDeps,
): Promise<Element> {
  if (target.kind === "gateway") return vcardResult({ name: gw.name });
  if (target.kind === "room") return vcardResult({ name: target.id });
  const contacts = new ContactBook(gw.store.coreState(gw.domain, env.user));
  const record = await contacts.get(target.id);
  const avatar = await contacts.avatar(target.id);
  return vcardResult({
    name: record?.name ?? target.id,
    nickname: record?.name,
    avatar: avatar ?? undefined,
  });
}

async function mamFormGet(_payload: Element, _env: Envelope, target: Target): Promise<Element> {
  if (target.kind !== "room") throw new StanzaError("service-unavailable");
  return xml("query", { xmlns: NS.mam }, renderForm(mamQueryForm, "form"));
}

/**
 * XEP-0313 on a room JID: the user's own archive of that room (what their puppet saw), or a
 * portal room's shared archive, sent as result messages to the querying resource, then `<fin/>`.
 */
async function mamQuerySet(
  payload: Element,
  env: Envelope,
  target: Target,
  { gw, portals }: HandlerDeps,
): Promise<Element> {
  if (target.kind !== "room") throw new StanzaError("service-unavailable");
  const query = parseMamQuery(payload);
  if ("error" in query) throw new StanzaError("bad-request", query.error);
  const roomJid = gw.addressing.roomJid(target.id);
  const archive = portals?.has(target.id)
    ? portals.archive(target.id)
    : gw.store.userArchive(gw.domain, env.user, target.id);
  let page: Awaited<ReturnType<typeof archive.query>>;
  try {
    page = await archive.query({
      start: query.start,
      end: query.end,
      after: query.after,
      before: query.before,
      max: query.max,
    });
  } catch (err) {
    if (err instanceof InvalidArchiveIdError) throw new StanzaError("item-not-found", "no such archive id");
    throw err;
  }
  const to = env.stanza.attrs.from ?? env.user;
  const items = query.with
    ? page.items.filter((i) => occupantOf(roomJid, i.from) === query.with)
    : page.items;
  for (const item of items) {
    // Bodies are archived as shown (actions already carry their "/me ").
    const body = item.body;
    await gw.send(
      mamResultMessage({
        to,
        from: roomJid,
        queryId: query.queryId,
        archiveId: item.archiveId,
        stamp: new Date(item.timestamp),
        message: xml(
          "message",
          { type: "groupchat", from: occupantOf(roomJid, item.from), id: item.stanzaId },
          xml("body", {}, body),
        ),
      }),
    );
  }
  return mamFin({
    complete: page.complete,
    first: page.items[0]?.archiveId,
    last: page.items.at(-1)?.archiveId,
  });
}
