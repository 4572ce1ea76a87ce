/**
 * One XMPP user on the IRC gateway. Holds one {@link ServerLink} per IRC server the user talks
 * to, opened on the first join or message to that server and closed when it has been idle (no
 * channel, no private chat) for `idleCloseMs`, or when the session closes.
 */
import {
  AdapterError,
  type JoinedRoom,
  type JoinRequest,
  type LegacyId,
  type OutgoingMessage,
  type SendReceipt,
  type Session,
  type SessionContext,
  type SessionEvent,
} from "../../src/adapter/index.ts";
import type { ConnectGate } from "./connect-gate.ts";
import { NetworkLimiter } from "./network-limiter.ts";
import { hasHiddenCharacters, registrationNick } from "./nick.ts";
import { type IrcAddress, parseIrcAddress } from "./protocol/address.ts";
import { ServerBans, ServerLink } from "./server-link.ts";
import { type IrcSettings, serverSettings } from "./settings.ts";
import { configuredServers, readUserServerSetup } from "./user-config.ts";

/** What all sessions of one gateway share. */
export interface GatewayShared {
  settings: IrcSettings;
  gate: ConnectGate;
  /** The per-server egress limit over all users; made on first use when the gateway has none yet. */
  network?: NetworkLimiter;
  /** Open sessions by bare JID (for limits and the admin commands). */
  sessions: Map<string, IrcSession>;
  /** Bans by IRC servers per user; they outlive sessions. Made on first use when absent. */
  bans?: ServerBans;
}

export class IrcSession implements Session {
  private readonly links = new Map<string, ServerLink>();
  private readonly idleTimer: NodeJS.Timeout;
  private closed = false;

  constructor(
    readonly context: SessionContext,
    private readonly shared: GatewayShared,
  ) {
    const every = Math.min(shared.settings.idleCloseMs, 60_000);
    this.idleTimer = setInterval(() => this.closeIdleLinks(), every);
    this.idleTimer.unref();
  }

  get user(): string {
    return this.context.user;
  }

  /** Connects to the servers where the user configured channels to join on connect. */
  async autojoin(): Promise<void> {
    for (const server of await configuredServers(this.context.state)) {
      const setup = await readUserServerSetup(this.context.state, server);
      for (const { channel, key } of setup.autojoin ?? []) {
        this.joinAndAnnounce(server, channel, key).catch((error: unknown) =>
          this.emit({
            type: "notice",
            text: `Could not join ${channel} on ${server}: ${(error as Error).message}`,
          }),
        );
      }
    }
  }

  /** Open links, for the "list connections" commands. */
  describe(): ReturnType<ServerLink["describe"]>[] {
    return [...this.links.values()].map((link) => link.describe());
  }

  get linkCount(): number {
    return this.links.size;
  }

  async sendMessage(message: OutgoingMessage): Promise<SendReceipt> {
    const address = this.resolve(message.conversation.id);
    const link = await this.link(address.server);
    switch (address.kind) {
      case "channel":
        if (message.conversation.kind !== "room")
          throw new AdapterError("bad-request", "a channel is a room");
        return link.say(address.channel, message.conversation, message);
      case "user":
        return link.say(address.nick, message.conversation, message);
      case "server":
        if (!this.shared.settings.allowRawCommands) {
          throw new AdapterError("not-allowed", "sending raw IRC commands is disabled on this gateway");
        }
        await link.sendRaw(message.text.text);
        break;
    }
    return {};
  }

  async joinRoom(request: JoinRequest): Promise<JoinedRoom> {
    const address = this.resolve(request.room);
    if (address.kind !== "channel") throw new AdapterError("item-not-found", "not an IRC channel");
    // Others would read this nick as written (S11): no hidden reversals or zero-width look-alikes.
    if (hasHiddenCharacters(request.nick)) {
      throw new AdapterError("not-acceptable", "the nick holds invisible or direction-changing characters");
    }
    const link = await this.link(address.server, request.nick);
    return link.join(address.channel, request.password);
  }

  async leaveRoom(room: LegacyId, reason?: string): Promise<void> {
    const address = this.resolve(room);
    if (address.kind !== "channel") return;
    await this.links.get(address.server)?.part(address.channel, reason);
  }

  async setTopic(room: LegacyId, topic: string): Promise<void> {
    const address = this.resolve(room);
    if (address.kind !== "channel") throw new AdapterError("item-not-found", "not an IRC channel");
    const link = this.links.get(address.server);
    if (!link) throw new AdapterError("not-acceptable", "join the channel first");
    await link.setTopic(address.channel, topic);
  }

  /** IRC nicks are per server: with a room, on that room's server; without, on every server. */
  async changeNick(nick: string, room?: LegacyId): Promise<void> {
    if (room !== undefined) {
      const address = this.resolve(room);
      const link = this.links.get(address.server);
      if (!link) throw new AdapterError("not-acceptable", "not connected to that server");
      await link.changeNick(nick);
      return;
    }
    await Promise.all([...this.links.values()].map((link) => link.changeNick(nick)));
  }

  async setPresence(show: "available" | "away" | "xa" | "dnd", status?: string): Promise<void> {
    const away = show === "available" ? undefined : (status ?? "Away");
    for (const link of this.links.values()) link.setAway(away);
  }

  async close(reason?: string): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.idleTimer);
    this.shared.sessions.delete(this.user);
    await Promise.all([...this.links.values()].map((link) => link.close(reason).catch(() => undefined)));
    this.links.clear();
  }

  /** Closes this user's connection to one server (the "Disconnect from a server" command). */
  async disconnect(server: string, reason?: string): Promise<boolean> {
    const link = this.links.get(server.toLowerCase());
    if (!link) return false;
    await link.close(reason);
    return true;
  }

  // ---- internals -----------------------------------------------------------------------------

  private emit(event: SessionEvent): void {
    this.context.emit(event).catch((error: unknown) => {
      this.context.log.warn({ err: error, event: event.type }, "event not delivered to XMPP");
    });
  }

  /** Reads a legacy id; the server must be one the user may reach. */
  private resolve(id: LegacyId): IrcAddress {
    const { fixedServer } = this.shared.settings;
    const options = fixedServer === undefined ? {} : { fixedServer };
    let address = parseIrcAddress(id, options);
    if (address) {
      const link = this.links.get(address.server);
      if (link) address = parseIrcAddress(id, { ...options, chantypes: link.connection.chantypes });
    }
    if (!address) throw new AdapterError("jid-malformed", "not an IRC address");
    if (!serverSettings(this.shared.settings, address.server)) {
      throw new AdapterError("item-not-found", `${address.server} is not an IRC server of this gateway`);
    }
    return address;
  }

  /** The link to `server`, opened (and connecting) if needed, within the connection limits. */
  private async link(server: string, requestedNick?: string): Promise<ServerLink> {
    if (this.closed) throw new AdapterError("recipient-unavailable", "the session is closed");
    const existing = this.links.get(server);
    if (existing) return existing;
    // A server that banned this user is not asked again before the ban has run out (R6).
    this.shared.bans ??= new ServerBans();
    const { bans } = this.shared;
    const ban = bans.check(this.user, server);
    if (ban) throw ban;
    const { settings } = this.shared;
    const serverConfig = serverSettings(settings, server);
    if (!serverConfig)
      throw new AdapterError("item-not-found", `${server} is not an IRC server of this gateway`);
    if (this.links.size >= settings.connections.maxPerUser) {
      throw new AdapterError(
        "resource-constraint",
        `at most ${settings.connections.maxPerUser} IRC servers at once`,
      );
    }
    const all = [...this.shared.sessions.values()];
    if (all.reduce((n, s) => n + s.linkCount, 0) >= settings.connections.maxTotal) {
      throw new AdapterError("service-unavailable", "the gateway has no free IRC connections", {
        retryable: true,
      });
    }
    const onServer = all.filter((s) => s.links.has(server)).length;
    if (serverConfig.maxConnections !== undefined && onServer >= serverConfig.maxConnections) {
      throw new AdapterError("service-unavailable", `the gateway has no free connections to ${server}`, {
        retryable: true,
      });
    }

    const setup = await readUserServerSetup(this.context.state, server);
    if (this.links.has(server)) return this.links.get(server)!; // opened meanwhile
    const registered = this.context.registration.nick;
    const nick = registrationNick(this.user, [setup.nick, registered, requestedNick]);
    this.shared.network ??= new NetworkLimiter(settings.flood.networkLinesPerSecond);
    const network = this.shared.network;
    const link = new ServerLink({
      server,
      serverSettings: setup.encoding ? { ...serverConfig, encodingFallback: setup.encoding } : serverConfig,
      settings,
      identity: {
        nick,
        username: safeUsername(setup.username ?? settings.username ?? nick),
        realname: (setup.realname ?? settings.realname).replace(/[\r\n\0]/g, " "),
        webircHostname: this.user.slice(this.user.indexOf("@") + 1),
        ...(setup.nickservPassword !== undefined ? { nickservPassword: setup.nickservPassword } : {}),
        ...(setup.saslPassword !== undefined ? { saslPassword: setup.saslPassword } : {}),
      },
      gate: this.shared.gate,
      user: this.user,
      bans,
      network: network.forServer(server),
      log: this.context.log.child({ server }),
      emit: (event) => this.emit(event),
      onClosed: (closed) => {
        if (this.links.get(server) === closed) this.links.delete(server);
      },
    });
    this.links.set(server, link);
    link.start();
    return link;
  }

  private async joinAndAnnounce(server: string, channel: string, key: string | undefined): Promise<void> {
    const link = await this.link(server);
    const joined = await link.join(channel, key);
    const room = link.roomId(channel);
    // The core did not ask for this room: tell it the user is in, then who else is.
    this.emit({
      type: "room.member",
      room,
      change: "join",
      occupant: joined.occupants.find((o) => o.nick === joined.nick) ?? {
        nick: joined.nick,
        role: "participant",
        affiliation: "none",
      },
      self: true,
    });
    for (const occupant of joined.occupants) {
      if (occupant.nick !== joined.nick) this.emit({ type: "room.member", room, change: "join", occupant });
    }
    if (joined.topic)
      this.emit({
        type: "room.topic",
        room,
        topic: joined.topic.text,
        ...(joined.topic.by ? { by: joined.topic.by } : {}),
      });
  }

  private closeIdleLinks(): void {
    for (const link of this.links.values()) {
      if (link.isIdle(this.shared.settings.idleCloseMs)) {
        this.context.log.info({ server: link.server }, "closing idle IRC connection");
        void link.close("Postern: idle");
      }
    }
  }
}

/** USER's username: one word of safe characters (servers prefix it with ~ without ident). */
function safeUsername(name: string): string {
  const clean = name.replace(/[^A-Za-z0-9_.-]/g, "").slice(0, 10);
  return clean === "" ? "postern" : clean;
}
