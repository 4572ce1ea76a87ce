/**
 * Incoming IRC lines → neutral events, one handler per command.
 *
 * Runs only after registration (MOTD and AUTH notices are not the user's business). What the
 * user sees:
 * - channel traffic: messages, actions, notices, joins/parts/quits/kicks/bans, nick and role
 *   changes, topics, away changes (away-notify);
 * - private messages and notices from nicks, as direct conversations;
 * - the server's own notices and the error numerics about what the user did, from the server
 *   contact (or in the room or chat the error is about).
 * CTCP VERSION/PING/TIME/CLIENTINFO are answered here and not forwarded; other CTCP is dropped.
 */
import type { IrcMessage } from "irc-framework";
import type { ConversationRef, MessageEvent, MessageKind } from "../../src/adapter/index.ts";
import type { ChannelState, Member } from "./channels.ts";
import { maskMatches, parseModeChanges } from "./modes.ts";
import { ctcpReplyLine, parseCtcp } from "./protocol/ctcp.ts";
import { ircToStyled } from "./protocol/formatting.ts";
import { parseNamesEntry, roleOf } from "./roles.ts";
import type { ServerLink } from "./server-link.ts";

type Handler = (link: ServerLink, m: IrcMessage) => void;

/** A +b followed by a KICK within this window is reported as a ban. */
const BAN_WINDOW_MS = 10_000;

/** Join refusals (RFC 2812 and common extensions). */
const JOIN_REFUSALS = ["403", "405", "437", "470", "471", "473", "474", "475", "476", "477", "489", "520"];

/** Numerics already handled (join replies, names, topic) or not worth showing (welcome, MOTD). */
const QUIET_NUMERICS = new Set([
  "433",
  "432",
  "436",
  "437",
  "442",
  "470",
  "471",
  "473",
  "474",
  "475",
  "476",
  "477",
  "489",
  "520",
  "403",
  "405",
]);

/** Dispatches one line to its handler; unhandled error numerics reach the user. */
export function handleLine(link: ServerLink, m: IrcMessage): void {
  const handler = HANDLERS[m.command];
  if (handler) handler(link, m);
  else if (/^[45]\d\d$|^90[24]$/.test(m.command) && !QUIET_NUMERICS.has(m.command)) serverNotice(link, m);
}

const HANDLERS: Readonly<Record<string, Handler>> = {
  PRIVMSG: (link, m) => onMessage(link, m, "normal"),
  NOTICE: (link, m) => onMessage(link, m, "notice"),
  JOIN: onJoin,
  PART: onPart,
  KICK: onKick,
  QUIT: onQuit,
  NICK: onNick,
  MODE: onMode,
  TOPIC: onTopic,
  AWAY: onAway,
  INVITE: (link, m) =>
    link.emit({
      type: "notice",
      text: `${m.nick} invites you to ${m.params[1] ?? "a channel"} on ${link.server}.`,
    }),
  "331": (link, m) => {
    const channel = link.channels.get(m.params[1] ?? "");
    if (channel) channel.topic = undefined;
  },
  "332": (link, m) => {
    const channel = link.channels.get(m.params[1] ?? "");
    if (channel) channel.topic = { text: ircToStyled(m.params[2] ?? "").text };
  },
  "333": (link, m) => {
    const channel = link.channels.get(m.params[1] ?? "");
    const setter = m.params[2]?.split("!")[0];
    if (channel?.topic && setter) channel.topic.by = setter;
  },
  ...Object.fromEntries(JOIN_REFUSALS.map((numeric) => [numeric, onJoinRefused])),
  "353": onNames,
  "366": onEndOfNames,
  // Away replies to our private messages: tell the user in that chat.
  "301": (link, m) =>
    link.emit({
      type: "notice",
      text: `${m.params[1]} is away: ${m.params[2] ?? ""}`,
      conversation: { kind: "direct", id: link.contactId(m.params[1] ?? "") },
    }),
  // No such nick / channel: the chat it concerns gets the error.
  "401": (link, m) => aboutTarget(link, m),
  "404": (link, m) => aboutTarget(link, m),
  "482": (link, m) => aboutTarget(link, m),
};

function timeOf(m: IrcMessage): Date | undefined {
  const time = m.tags.time;
  if (!time) return undefined;
  const date = new Date(time);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function isChannel(link: ServerLink, target: string): boolean {
  return target !== "" && link.connection.chantypes.includes(target.charAt(0));
}

/** The channel a message target names, with STATUSMSG prefixes (`@#chan`) removed. */
function channelTarget(link: ServerLink, target: string): string | undefined {
  if (isChannel(link, target)) return target;
  const stripped = target.replace(/^[~&@%+]+/, "");
  return stripped !== target && isChannel(link, stripped) ? stripped : undefined;
}

function onMessage(link: ServerLink, m: IrcMessage, baseKind: MessageKind): void {
  const target = m.params[0] ?? "";
  let body = m.params[m.params.length - 1] ?? "";
  let kind = baseKind;

  if (m.nick === "") {
    // From the server itself (no nick in the prefix).
    const event: MessageEvent = {
      type: "message",
      conversation: { kind: "direct", id: link.serverId() },
      from: { nick: link.server },
      kind: "notice",
      text: ircToStyled(body),
    };
    withMeta(event, m);
    link.emit(event);
    return;
  }

  const ctcp = parseCtcp(body);
  if (ctcp) {
    if (ctcp.command !== "ACTION") {
      if (baseKind === "normal" && !link.isSelf(m.nick)) answerCtcp(link, m.nick, ctcp.command, ctcp.args);
      return;
    }
    body = ctcp.args;
    kind = "action";
  }

  const channel = channelTarget(link, target);
  const self = link.isSelf(m.nick);
  let conversation: ConversationRef;
  if (channel !== undefined) {
    conversation = { kind: "room", id: link.roomId(link.channels.get(channel)?.name ?? channel) };
  } else {
    // A private message: the chat is with the other party (the target, for our own echo).
    conversation = { kind: "direct", id: link.contactId(self ? target : m.nick) };
    link.lastActivity = Date.now();
  }

  const event: MessageEvent = {
    type: "message",
    conversation,
    from: self ? { nick: m.nick, self: true } : { nick: m.nick, contactId: link.contactId(m.nick) },
    kind,
    text: ircToStyled(body),
  };
  withMeta(event, m);
  // IRCv3 client tag: the msgid this message answers (the core maps it through the id map).
  const replyTo = m.tags["+draft/reply"];
  if (replyTo) event.replyTo = replyTo;

  if (self) {
    // Our own line reflected by echo-message: report each sent message once, with its clientId.
    const echo = link.echoes.receive(link.fold(channel ?? target), withMeta({}, m));
    if (echo === "partial") return;
    if (echo) {
      event.text = echo.text;
      event.echoOf = echo.clientId;
      if (echo.id !== undefined) event.id = echo.id;
      if (echo.timestamp !== undefined) event.timestamp = echo.timestamp;
    }
  }
  link.emit(event);
}

/** Copies msgid and server-time from the line's tags. */
function withMeta<T extends { id?: string; timestamp?: Date }>(event: T, m: IrcMessage): T {
  const id = m.tags.msgid;
  if (id) event.id = id;
  const time = timeOf(m);
  if (time) event.timestamp = time;
  return event;
}

function answerCtcp(link: ServerLink, nick: string, command: string, args: string): void {
  const replies: Record<string, () => string> = {
    VERSION: () => link.options.settings.version,
    PING: () => args,
    TIME: () => new Date().toUTCString(),
    CLIENTINFO: () => "ACTION CLIENTINFO PING TIME VERSION",
  };
  const reply = replies[command];
  if (!reply) return;
  try {
    link.replyCtcp(ctcpReplyLine(nick, command, reply()));
  } catch {
    // A nick that is not a safe parameter gets no answer.
  }
}

function onJoin(link: ServerLink, m: IrcMessage): void {
  const name = m.params[0] ?? "";
  if (link.isSelf(m.nick)) {
    // Our own JOIN (asked for, a rejoin, or forced by the server): NAMES follows.
    const channel = link.channels.getOrCreate(name, undefined);
    channel.namesInProgress = [];
    return;
  }
  const channel = link.channels.get(name);
  if (!channel) return;
  const member: Member = { nick: m.nick, modes: new Set(), away: false, user: m.ident, host: m.hostname };
  channel.add(member);
  if (channel.synced)
    link.emit({
      type: "room.member",
      room: link.roomId(channel.name),
      change: "join",
      occupant: link.occupant(member),
    });
}

function onPart(link: ServerLink, m: IrcMessage): void {
  const name = m.params[0] ?? "";
  const channel = link.channels.get(name);
  if (!channel) return;
  const reason = m.params[1];
  if (link.isSelf(m.nick)) {
    // Not asked for by leaveRoom (that removes the channel first): e.g. a server-side SAPART.
    link.channels.delete(name);
    const self = channel.member(m.nick) ?? { nick: m.nick, modes: new Set<string>(), away: false };
    link.emit({
      type: "room.member",
      room: link.roomId(channel.name),
      change: "leave",
      occupant: link.occupant(self),
      self: true,
      ...(reason ? { reason } : {}),
    });
    return;
  }
  const member = channel.remove(m.nick);
  if (member && channel.synced) {
    link.emit({
      type: "room.member",
      room: link.roomId(channel.name),
      change: "leave",
      occupant: link.occupant(member),
      ...(reason ? { reason } : {}),
    });
  }
}

function onKick(link: ServerLink, m: IrcMessage): void {
  const name = m.params[0] ?? "";
  const kicked = m.params[1] ?? "";
  const channel = link.channels.get(name);
  if (!channel) return;
  const member = channel.remove(kicked) ?? { nick: kicked, modes: new Set<string>(), away: false };
  const self = link.isSelf(kicked);
  if (self) link.channels.delete(name);
  const change = wasBanned(link, channel, member, m.nick) ? "ban" : "kick";
  const reason = m.params[2];
  link.emit({
    type: "room.member",
    room: link.roomId(channel.name),
    change,
    occupant: link.occupant(member),
    actor: m.nick,
    ...(reason ? { reason } : {}),
    ...(self ? { self: true } : {}),
  });
}

/** Whether a recent +b in `channel` covers `member` (or, host unknown, was set by the kicker). */
function wasBanned(link: ServerLink, channel: ChannelState, member: Member, actor: string): boolean {
  const now = Date.now();
  const bans = (link.recentBans.get(link.fold(channel.name)) ?? []).filter((b) => now - b.at < BAN_WINDOW_MS);
  return bans.some((ban) =>
    member.host ? maskMatches(ban.mask, member.nick, member.user ?? "*", member.host) : ban.actor === actor,
  );
}

function onQuit(link: ServerLink, m: IrcMessage): void {
  const reason = m.params[0];
  for (const channel of link.channels.all()) {
    const member = channel.remove(m.nick);
    if (member && channel.synced) {
      link.emit({
        type: "room.member",
        room: link.roomId(channel.name),
        change: "leave",
        occupant: link.occupant(member),
        ...(reason ? { reason } : {}),
      });
    }
  }
}

function onNick(link: ServerLink, m: IrcMessage): void {
  const newNick = m.params[0] ?? "";
  const self = link.isSelf(m.nick);
  if (self) link.selfNick = newNick;
  for (const channel of link.channels.all()) {
    const member = channel.member(m.nick);
    if (!member) continue;
    const occupant = link.occupant(member);
    channel.rename(m.nick, newNick);
    link.emit({
      type: "room.member",
      room: link.roomId(channel.name),
      change: "nick",
      occupant,
      newNick,
      ...(self ? { self: true } : {}),
    });
  }
}

function onMode(link: ServerLink, m: IrcMessage): void {
  const channel = link.channels.get(m.params[0] ?? "");
  if (!channel) return; // user modes
  const prefixes = link.connection.prefixes;
  const prefixModes = prefixes.map((p) => p.mode).join("");
  const changes = parseModeChanges(
    m.params[1] ?? "",
    m.params.slice(2),
    prefixModes,
    link.connection.chanmodes,
  );
  for (const change of changes) {
    if (change.mode === "b" && change.add && change.param) {
      const key = link.fold(channel.name);
      const bans = (link.recentBans.get(key) ?? []).slice(-9);
      bans.push({ mask: change.param, actor: m.nick, at: Date.now() });
      link.recentBans.set(key, bans);
      continue;
    }
    if (!prefixModes.includes(change.mode) || !change.param) continue;
    const member = channel.member(change.param);
    if (!member) continue;
    const before = roleOf(member.modes, prefixes);
    if (change.add) member.modes.add(change.mode);
    else member.modes.delete(change.mode);
    const after = roleOf(member.modes, prefixes);
    if (before.role !== after.role || before.affiliation !== after.affiliation) {
      link.emit({
        type: "room.member",
        room: link.roomId(channel.name),
        change: "role",
        occupant: link.occupant(member),
        actor: m.nick,
        ...(link.isSelf(member.nick) ? { self: true } : {}),
      });
    }
  }
}

function onTopic(link: ServerLink, m: IrcMessage): void {
  const channel = link.channels.get(m.params[0] ?? "");
  if (!channel) return;
  const text = ircToStyled(m.params[1] ?? "").text;
  channel.topic = text === "" ? undefined : { text, by: m.nick };
  link.emit({ type: "room.topic", room: link.roomId(channel.name), topic: text, by: m.nick });
}

function onAway(link: ServerLink, m: IrcMessage): void {
  const away = (m.params[0] ?? "") !== "";
  for (const channel of link.channels.all()) {
    const member = channel.member(m.nick);
    if (!member || member.away === away) continue;
    member.away = away;
    if (channel.synced) {
      link.emit({
        type: "room.member",
        room: link.roomId(channel.name),
        change: "away",
        occupant: link.occupant(member),
      });
    }
  }
}

function onNames(link: ServerLink, m: IrcMessage): void {
  const channel = link.channels.get(m.params[2] ?? "");
  if (!channel) return;
  channel.namesInProgress ??= [];
  for (const entry of (m.params[3] ?? "").split(" ")) {
    if (entry === "") continue;
    const { nick, modes } = parseNamesEntry(entry, link.connection.prefixes);
    const known = channel.member(nick);
    channel.namesInProgress.push({
      nick,
      modes,
      away: known?.away ?? false,
      user: known?.user,
      host: known?.host,
    });
  }
}

/**
 * End of NAMES: the member list is complete. After a JOIN that joinRoom awaits, joinRoom reports
 * the snapshot; otherwise (a rejoin after reconnecting, a join forced by the server) the
 * differences from what the user last saw are reported as member events.
 */
function onEndOfNames(link: ServerLink, m: IrcMessage): void {
  const channel = link.channels.get(m.params[1] ?? "");
  if (!channel || channel.namesInProgress === undefined) return;
  const before = new Map(channel.members);
  channel.members.clear();
  for (const member of channel.namesInProgress) channel.add(member);
  channel.namesInProgress = undefined;
  const wasSynced = channel.synced;
  channel.synced = true;
  if (link.awaitedJoins.has(link.fold(channel.name)) || wasSynced) return;
  const room = link.roomId(channel.name);
  const prefixes = link.connection.prefixes;
  for (const [key, old] of before) {
    if (!channel.members.has(key) && !link.isSelf(old.nick)) {
      link.emit({ type: "room.member", room, change: "leave", occupant: link.occupant(old) });
    }
  }
  for (const [key, member] of channel.members) {
    const old = before.get(key);
    const self = link.isSelf(member.nick) ? { self: true } : {};
    if (!old) {
      link.emit({ type: "room.member", room, change: "join", occupant: link.occupant(member), ...self });
      continue;
    }
    const a = roleOf(old.modes, prefixes);
    const b = roleOf(member.modes, prefixes);
    if (a.role !== b.role || a.affiliation !== b.affiliation) {
      link.emit({ type: "room.member", room, change: "role", occupant: link.occupant(member), ...self });
    }
  }
}

/**
 * A JOIN was refused. joinRoom reports its own refusals; a refused rejoin after a reconnect
 * (banned meanwhile, key changed) means the user is no longer in the room: tell them so.
 */
function onJoinRefused(link: ServerLink, m: IrcMessage): void {
  const name = m.params[1] ?? "";
  const channel = link.channels.get(name);
  if (!channel || link.awaitedJoins.has(link.fold(name))) return;
  link.channels.delete(name);
  link.emit({
    type: "room.member",
    room: link.roomId(channel.name),
    change: "leave",
    occupant: { nick: link.selfNick, role: "none", affiliation: "none" },
    self: true,
    reason: `cannot rejoin: ${m.params[m.params.length - 1] ?? ""}`,
  });
}

/** An error numeric about a nick or channel we wrote to: shown in that chat. */
function aboutTarget(link: ServerLink, m: IrcMessage): void {
  const target = m.params[1] ?? "";
  const text = m.params[m.params.length - 1] ?? "";
  const conversation: ConversationRef = isChannel(link, target)
    ? { kind: "room", id: link.roomId(link.channels.get(target)?.name ?? target) }
    : { kind: "direct", id: link.contactId(target) };
  link.emit({ type: "notice", text: `${target}: ${text}`, conversation });
}

/** Any other error numeric: from the server contact, as a notice. */
function serverNotice(link: ServerLink, m: IrcMessage): void {
  const text = m.params.slice(1).join(" ");
  const event: MessageEvent = {
    type: "message",
    conversation: { kind: "direct", id: link.serverId() },
    from: { nick: link.server },
    kind: "notice",
    text: ircToStyled(text),
  };
  link.emit(withMeta(event, m));
}
