/**
 * A user's presence on one IRC server: the connection plus what we know about our channels, and
 * the session operations for that server (join, part, say, topic, nick, away).
 *
 * Everything from XMPP is checked before it is written: channel names and nicks against the
 * server's rules (CHANTYPES, CHANNELLEN, NICKLEN), keys with `assertSafeParam`, and all text
 * through `splitForIrc`, so no CR, LF or NUL reaches the wire and no line exceeds 512 bytes.
 * Incoming lines are turned into neutral events by `inbound.ts`.
 */
import type { IrcMessage } from "irc-framework";
import {
  AdapterError,
  type ConversationRef,
  type JoinedRoom,
  type Logger,
  type OutgoingMessage,
  type SessionEvent,
  type SessionStateName,
} from "../../src/adapter/index.ts";
import { ChannelTable, type Member, occupantOf } from "./channels.ts";
import type { ConnectGate } from "./connect-gate.ts";
import { type ConnectionIdentity, type ConnectionLoss, IrcConnection } from "./connection.ts";
import { EchoTracker } from "./echo.ts";
import { handleLine } from "./inbound.ts";
import { hasHiddenCharacters } from "./nick.ts";
import { byConversation, Outbox, type PendingMessage } from "./outbox.ts";
import { formatIrcAddress } from "./protocol/address.ts";
import { foldCase, sameName } from "./protocol/casemap.ts";
import { styledToIrc } from "./protocol/formatting.ts";
import { splitForIrc } from "./protocol/line-splitter.ts";
import { assertSafeParam, isValidChannelName, isValidNick, utf8Length } from "./protocol/params.ts";
import { type LinePacer, TokenBucket } from "./protocol/token-bucket.ts";
import type { IrcServerSettings, IrcSettings } from "./settings.ts";

/** What the link needs from its session. */
export interface LinkOptions {
  server: string;
  serverSettings: IrcServerSettings;
  settings: IrcSettings;
  identity: ConnectionIdentity;
  gate: ConnectGate;
  /** The XMPP user (bare JID) and the gateway's record of server bans, which outlives links. */
  user: string;
  bans: ServerBans;
  /** The egress limit shared by every connection of this gateway to this server. */
  network: LinePacer;
  log: Logger;
  /** Reports an event to the user; ordered, never throws. */
  emit(event: SessionEvent): void;
  /** Called once the link is closed for good (by the session, a command or the idle close). */
  onClosed(link: ServerLink): void;
}

/** What a pending operation waits for in the incoming lines. */
type LineVerdict = "done" | AdapterError | undefined;

interface LineWaiter {
  check(message: IrcMessage): boolean;
  fail(error: AdapterError): void;
}

/** Join errors (RFC 2812 and common extensions) → the condition the XMPP user gets. */
const JOIN_ERRORS: Readonly<Record<string, { condition: AdapterError["condition"]; retryable?: boolean }>> = {
  "403": { condition: "item-not-found" }, // no such channel
  "405": { condition: "resource-constraint" }, // too many channels
  "437": { condition: "resource-constraint", retryable: true }, // temporarily unavailable
  "470": { condition: "item-not-found" }, // forwarded elsewhere
  "471": { condition: "service-unavailable" }, // +l full
  "473": { condition: "registration-required" }, // +i invite only (XEP-0045: members-only)
  "474": { condition: "forbidden" }, // banned
  "475": { condition: "not-authorized" }, // +k bad key
  "476": { condition: "jid-malformed" }, // bad channel mask
  "477": { condition: "not-allowed" }, // needs a registered nick
  "489": { condition: "not-allowed" }, // TLS only
  "520": { condition: "forbidden" }, // InspIRCd: opers only
};

/** Nick change errors → conditions. */
const NICK_ERRORS: Readonly<Record<string, AdapterError["condition"]>> = {
  "431": "not-acceptable",
  "432": "not-acceptable",
  "433": "conflict",
  "436": "conflict",
  "437": "conflict",
  "484": "not-allowed",
};

/**
 * Bans by IRC servers (K-line, G-line, 465), per user and server. They outlive the link: the
 * core closes a session nobody uses (as after the join the ban made fail), and the user's next
 * join must not open a new connection before the ban has run out. Otherwise every retry knocks
 * again, and servers answer a gateway that keeps knocking by banning its whole address (R6).
 */
export class ServerBans {
  private readonly bans = new Map<string, { reason: string; until: number }>();

  /** Remembers a ban for `forMs`; returns the error users get meanwhile (none when `forMs` is 0). */
  record(user: string, server: string, reason: string, forMs: number): AdapterError | undefined {
    const now = Date.now();
    for (const [key, ban] of this.bans) if (ban.until <= now) this.bans.delete(key);
    if (forMs > 0) this.bans.set(`${user}\0${server}`, { reason, until: now + forMs });
    return this.check(user, server);
  }

  /** The ban in force on `user` at `server`, as the error they get; undefined when none is. */
  check(user: string, server: string): AdapterError | undefined {
    const key = `${user}\0${server}`;
    const ban = this.bans.get(key);
    if (ban === undefined) return undefined;
    const left = ban.until - Date.now();
    if (left <= 0) {
      this.bans.delete(key);
      return undefined;
    }
    return new AdapterError(
      "forbidden",
      `banned by ${server} (${ban.reason}); no new connection to ${server} for ${Math.ceil(left / 1000)} s`,
    );
  }
}

const JOIN_TIMEOUT_MS = 30_000;
const REPLY_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 45_000;

export class ServerLink {
  /** Message lines carry their outbox entry, so a lost link can hand the message back (R8). */
  readonly connection: IrcConnection<PendingMessage>;
  readonly channels: ChannelTable;
  readonly echoes = new EchoTracker();
  /** Our nick, tracked from 001 and our own NICK lines (irc-framework updates its copy first). */
  selfNick: string;
  /** Channels whose JOIN was sent by joinRoom and whose end of NAMES we await (folded names). */
  readonly awaitedJoins = new Set<string>();
  /** Recent +b per channel, to tell a ban from a kick when the KICK follows. */
  readonly recentBans = new Map<string, { mask: string; actor: string; at: number }[]>();
  /** When a direct conversation or a channel was last active, for the idle close. */
  lastActivity = Date.now();
  private readonly waiters = new Set<LineWaiter>();
  private readonly readyWaiters: { resolve(): void; reject(error: AdapterError): void }[] = [];
  private readonly ctcpBucket = new TokenBucket({ capacity: 3, refillEveryMs: 5_000 });
  /** Messages said while the connection was not up, sent once it is (R5). */
  private readonly outbox = new Outbox();
  private outboxTimer: NodeJS.Timeout | undefined;
  private registeredOnce = false;
  /** What a 465 (ERR_YOUREBANNEDCREEP) on this connection said; it names the ban's reason. */
  private banNotice: string | undefined;
  private state: SessionStateName = "connecting";

  constructor(readonly options: LinkOptions) {
    this.selfNick = options.identity.nick;
    this.channels = new ChannelTable(() => this.connection.casemapping);
    this.connection = new IrcConnection({
      server: options.server,
      serverSettings: options.serverSettings,
      settings: options.settings,
      identity: options.identity,
      gate: options.gate,
      network: options.network,
      log: options.log,
      events: {
        line: (message) => this.onLine(message),
        registered: (nick) => this.onRegistered(nick),
        state: (state, reason) => this.onState(state, reason),
        notice: (text) => this.emit({ type: "notice", text }),
        lost: (loss) => this.onLost(loss),
        settled: (pending) => pending.settle?.(),
      },
    });
  }

  get server(): string {
    return this.options.server;
  }

  get stateName(): SessionStateName {
    return this.state;
  }

  start(): void {
    this.connection.start();
  }

  emit(event: SessionEvent): void {
    this.options.emit(event);
  }

  // ---- addressing ---------------------------------------------------------------------------

  private get addressOptions(): { fixedServer?: string } {
    const { fixedServer } = this.options.settings;
    return fixedServer === undefined ? {} : { fixedServer };
  }

  roomId(channel: string): string {
    return formatIrcAddress({ kind: "channel", channel, server: this.server }, this.addressOptions);
  }

  contactId(nick: string): string {
    return formatIrcAddress({ kind: "user", nick, server: this.server }, this.addressOptions);
  }

  serverId(): string {
    return formatIrcAddress({ kind: "server", server: this.server }, this.addressOptions);
  }

  isSelf(nick: string): boolean {
    return nick !== "" && sameName(nick, this.selfNick, this.connection.casemapping);
  }

  fold(name: string): string {
    return foldCase(name, this.connection.casemapping);
  }

  occupant(member: Member) {
    return occupantOf(member, this.connection.prefixes, (nick) => this.contactId(nick));
  }

  // ---- operations ---------------------------------------------------------------------------

  /** Joins `channel` (or returns the current snapshot when already in it). */
  async join(channel: string, key: string | undefined): Promise<JoinedRoom> {
    await this.ready();
    this.checkChannel(channel);
    if (key !== undefined && key !== "") this.checkParam(key, "channel key");
    const existing = this.channels.get(channel);
    if (existing?.synced) return this.snapshot(channel);
    const folded = this.fold(channel);
    const joining = !this.awaitedJoins.has(folded);
    this.awaitedJoins.add(folded);
    this.channels.getOrCreate(channel, key || undefined);
    if (joining && !this.connection.send([key ? `JOIN ${channel} ${key}` : `JOIN ${channel}`])) {
      this.awaitedJoins.delete(folded);
      this.channels.delete(channel);
      throw new AdapterError("resource-constraint", "too many IRC lines queued; try again shortly", {
        retryable: true,
      });
    }
    try {
      await this.waitForLine(`end of NAMES for ${channel}`, JOIN_TIMEOUT_MS, (m) => {
        if (m.command === "366" && this.sameChannel(m.params[1], channel)) return "done";
        const error = JOIN_ERRORS[m.command];
        if (error && this.sameChannel(m.params[1], channel)) {
          const text = m.params[m.params.length - 1] ?? "";
          return new AdapterError(error.condition, `cannot join ${channel}: ${text}`, {
            retryable: error.retryable ?? false,
          });
        }
        return undefined;
      });
    } catch (error) {
      this.channels.delete(channel);
      throw error;
    } finally {
      this.awaitedJoins.delete(folded);
    }
    this.lastActivity = Date.now();
    return this.snapshot(channel);
  }

  /** The room as we know it now. */
  snapshot(channel: string): JoinedRoom {
    const state = this.channels.get(channel);
    const room: JoinedRoom = {
      nick: this.selfNick,
      occupants: state ? state.occupants(this.connection.prefixes, (nick) => this.contactId(nick)) : [],
    };
    if (state?.topic) room.topic = { ...state.topic };
    return room;
  }

  /** Parts `channel`; resolves once the server confirmed or after a bound. */
  async part(channel: string, reason: string | undefined): Promise<void> {
    const state = this.channels.get(channel);
    if (!state) return;
    this.channels.delete(channel);
    this.lastActivity = Date.now();
    if (!this.connection.isRegistered) return;
    const text = oneLine(reason ?? "", 200);
    this.connection.send([text ? `PART ${state.name} :${text}` : `PART ${state.name}`]);
    await this.waitForLine(`PART of ${channel}`, REPLY_TIMEOUT_MS, (m) =>
      (m.command === "PART" && this.isSelf(m.nick) && this.sameChannel(m.params[0], channel)) ||
      (m.command === "442" && this.sameChannel(m.params[1], channel))
        ? "done"
        : undefined,
    ).catch(() => undefined);
  }

  /**
   * Sends a message to a channel or nick; reports the user's own copy as an event. While the
   * connection is not up (registering, or waiting to reconnect) the message waits in the outbox
   * and this resolves at once: the core's queue for the conversation is not held up, and the
   * user's copy is reported when the message really goes out. `handedOver` settles once the
   * server has read it (unconfirmed.ts) or it was given up and the user told.
   */
  async say(
    target: string,
    conversation: ConversationRef,
    message: OutgoingMessage,
  ): Promise<{ handedOver: Promise<void> }> {
    if (conversation.kind === "room") this.checkChannel(target);
    else this.checkNick(target);
    // Before anything is queued: a long paste would hold the flood limiter for a minute and
    // read badly on IRC, where each line is a message of its own.
    const lineCount = this.linesOf(target, message).length;
    const { maxLinesPerMessage } = this.options.settings.flood;
    if (lineCount > maxLinesPerMessage) {
      throw new AdapterError(
        "not-acceptable",
        `message not sent: it would take ${lineCount} IRC lines and this gateway sends at most ${maxLinesPerMessage} per message; put long text on a paste service and send the link`,
      );
    }
    // Banned: say so now, rather than keep the message for a connection that will not come soon.
    const ban = this.options.bans.check(this.options.user, this.server);
    if (ban) throw ban;
    if (this.connection.isClosed) {
      throw new AdapterError("recipient-unavailable", `not connected to ${this.server}`);
    }
    this.lastActivity = Date.now();
    let settle = () => {};
    const handedOver = new Promise<void>((resolve) => {
      settle = resolve;
    });
    if (!this.connection.isRegistered || this.outbox.size > 0) {
      // Behind what already waits, so the conversation keeps its order.
      if (!this.outbox.add({ target, conversation, message, settle })) {
        throw new AdapterError(
          "recipient-unavailable",
          `not connected to ${this.server}; ${this.outbox.limits.perConversation} messages already wait for the connection`,
          { retryable: true },
        );
      }
      this.flushOutbox();
      return { handedOver };
    }
    if (!this.transmit({ target, conversation, message, queuedAt: Date.now(), settle })) {
      throw new AdapterError(
        "resource-constraint",
        "message not sent: the flood limiter's queue is full; slow down",
        { retryable: true },
      );
    }
    return { handedOver };
  }

  /**
   * Hands one message to the flood limiter, all its lines or none; false when they do not fit.
   * Then reports the user's own copy (or, with echo-message, waits for the server's). The lines
   * carry `pending` itself, which comes back to the outbox if the link is lost before the server
   * confirmed them (onLost).
   */
  private transmit(pending: PendingMessage): boolean {
    const { target, conversation, message } = pending;
    const lines = this.linesOf(target, message);
    if (lines.length === 0) {
      pending.settle?.();
      return true;
    }
    if (!this.connection.send(lines, pending)) return false;
    if (this.connection.capEnabled("echo-message")) {
      this.echoes.expect(this.fold(target), message.clientId, message.text, lines.length);
      return true;
    }
    // No echo-message: reflect it ourselves so the user's other resources see it (once: not
    // again when it is resent after a lost link).
    if (pending.reflected) return true;
    pending.reflected = true;
    this.emit({
      type: "message",
      conversation,
      from: { nick: this.selfNick, self: true },
      kind: message.kind,
      text: message.text,
      echoOf: message.clientId,
    });
    return true;
  }

  /** The wire lines of one message: one per line of text, long lines split to fit 512 bytes. */
  private linesOf(target: string, message: OutgoingMessage): string[] {
    return splitForIrc({
      command: "PRIVMSG",
      target,
      text: styledToIrc(message.text),
      action: message.kind === "action",
      prefixReserve: this.connection.prefixReserve,
    });
  }

  /**
   * Sends what waits in the outbox, in order, as far as the flood limiter takes it, and tells the
   * user about messages that waited too long. Runs again when the limiter has room (registered)
   * or when the oldest message expires (not registered).
   */
  private flushOutbox(): void {
    if (this.outboxTimer !== undefined) clearTimeout(this.outboxTimer);
    this.outboxTimer = undefined;
    this.reportUnsent(
      this.outbox.expire(),
      `the connection to ${this.server} was down for more than 10 minutes`,
    );
    while (this.connection.isRegistered) {
      const next = this.outbox.peek();
      if (next === undefined) break;
      let sent: boolean;
      try {
        sent = this.transmit(next);
      } catch (error) {
        sent = true; // cannot ever be sent: report it instead of retrying forever
        this.reportUnsent([next], (error as Error).message);
      }
      if (!sent) break;
      this.outbox.shift();
    }
    const delay = this.connection.isRegistered
      ? this.options.settings.flood.refillMs
      : this.outbox.msUntilExpiry();
    if (delay === undefined || this.outbox.size === 0 || this.connection.isClosed) return;
    this.outboxTimer = setTimeout(() => this.flushOutbox(), delay);
    this.outboxTimer.unref();
  }

  /** One notice per conversation about messages that will not be sent. */
  private reportUnsent(items: readonly PendingMessage[], why: string): void {
    for (const { conversation, count } of byConversation(items).values()) {
      this.emit({
        type: "notice",
        conversation,
        text: `${count} message(s) you sent here were not delivered: ${why}.`,
      });
    }
    for (const item of items) item.settle?.();
  }

  /** Sends raw lines typed to the server contact (only when the operator allows it). */
  async sendRaw(text: string): Promise<void> {
    await this.ready();
    const lines = text
      .split(/\r\n|[\r\n\u0085\u2028\u2029]/)
      .map((line) => line.replace(/\0/g, "").trim())
      .filter((line) => line !== "");
    for (const line of lines) {
      if (utf8Length(line) > 510)
        throw new AdapterError("not-acceptable", "an IRC line is at most 510 bytes");
    }
    if (lines.length > 0 && !this.connection.send(lines)) {
      throw new AdapterError("resource-constraint", "too many IRC lines queued", { retryable: true });
    }
  }

  async setTopic(channel: string, topic: string): Promise<void> {
    await this.ready();
    this.checkChannel(channel);
    const limit = this.connection.isupportNumber("TOPICLEN") ?? 390;
    const text = oneLine(topic, limit);
    if (!this.connection.send([`TOPIC ${channel} :${text}`])) {
      throw new AdapterError("resource-constraint", "too many IRC lines queued", { retryable: true });
    }
    await this.waitForLine(`TOPIC of ${channel}`, REPLY_TIMEOUT_MS, (m) => {
      if (m.command === "TOPIC" && this.isSelf(m.nick) && this.sameChannel(m.params[0], channel))
        return "done";
      if (["482", "442", "477"].includes(m.command) && this.sameChannel(m.params[1], channel)) {
        return new AdapterError("forbidden", m.params[m.params.length - 1] ?? "cannot change the topic");
      }
      return undefined;
    });
  }

  async changeNick(nick: string): Promise<void> {
    await this.ready();
    this.checkNick(nick);
    // Our own nick is shown to others: no bidi overrides or invisible characters (S11).
    if (hasHiddenCharacters(nick)) {
      throw new AdapterError("not-acceptable", "the nick holds invisible or direction-changing characters");
    }
    if (nick === this.selfNick) return;
    if (!this.connection.send([`NICK ${nick}`])) {
      throw new AdapterError("resource-constraint", "too many IRC lines queued", { retryable: true });
    }
    await this.waitForLine(`NICK ${nick}`, REPLY_TIMEOUT_MS, (m) => {
      if (m.command === "NICK" && sameName(m.params[0] ?? "", nick, this.connection.casemapping))
        return "done";
      const condition = NICK_ERRORS[m.command];
      if (condition) return new AdapterError(condition, m.params[m.params.length - 1] ?? "nick refused");
      return undefined;
    });
  }

  setAway(message: string | undefined): void {
    if (!this.connection.isRegistered) return;
    const text =
      message === undefined ? "" : oneLine(message, this.connection.isupportNumber("AWAYLEN") ?? 200);
    this.connection.send([message === undefined ? "AWAY" : `AWAY :${text || "Away"}`]);
  }

  /** Answers a CTCP query, at most a few per 5 s (they are a classic flood vector). */
  replyCtcp(line: string): void {
    if (this.ctcpBucket.tryTake()) this.connection.send([line]);
  }

  async close(reason?: string): Promise<void> {
    for (const waiter of this.readyWaiters.splice(0)) {
      waiter.reject(new AdapterError("recipient-unavailable", "the IRC connection was closed"));
    }
    this.dropOutbox(`the connection to ${this.server} was closed`);
    await this.connection.close(reason);
    this.failWaiters(new AdapterError("recipient-unavailable", "the IRC connection was closed"));
    this.options.onClosed(this);
  }

  /** Channels, nick and state for the "list connections" commands. */
  describe(): { server: string; nick: string; state: SessionStateName; channels: string[] } {
    return {
      server: this.server,
      nick: this.selfNick,
      state: this.state,
      channels: this.channels.all().map((c) => c.name),
    };
  }

  /** True when nothing has happened here for `idleMs` and no channel is joined. */
  isIdle(idleMs: number): boolean {
    return (
      this.channels.size === 0 &&
      this.awaitedJoins.size === 0 &&
      this.outbox.size === 0 &&
      Date.now() - this.lastActivity >= idleMs
    );
  }

  // ---- connection events --------------------------------------------------------------------

  private onLine(message: IrcMessage): void {
    if (message.command === "465") this.banNotice = message.params[message.params.length - 1];
    for (const waiter of this.waiters) {
      if (waiter.check(message)) this.waiters.delete(waiter);
    }
    if (!this.connection.isRegistered) return;
    handleLine(this, message);
  }

  private onRegistered(nick: string): void {
    this.selfNick = nick;
    for (const waiter of this.readyWaiters.splice(0)) waiter.resolve();
    if (this.registeredOnce) this.rejoin();
    this.registeredOnce = true;
    // After the JOINs: the server handles our lines in order, so channel messages follow them.
    this.flushOutbox();
  }

  /** After a reconnect: join every channel again, with its key. */
  private rejoin(): void {
    for (const channel of this.channels.all()) {
      channel.synced = false;
      const line = channel.key ? `JOIN ${channel.name} ${channel.key}` : `JOIN ${channel.name}`;
      if (!this.connection.send([line]))
        this.options.log.warn({ server: this.server }, "rejoin line not queued");
    }
  }

  /** The connection never gives up by itself (it backs off); it ends only through `close`. */
  private onState(state: SessionStateName, reason: string): void {
    this.state = state;
    this.emit({ type: "session.state", state, reason });
  }

  private onLost({ reason, banned, unsentLines, resend, unchecked }: ConnectionLoss<PendingMessage>): void {
    this.echoes.clear();
    // Messages the server may not have got go first, once the connection is back (before a ban
    // empties the outbox: then the ban's notice covers them).
    this.putBack(resend);
    // The connection decided whether this was a ban (and so waits `bannedMs` before trying again).
    const ban = banned ? this.onBanned(reason) : undefined;
    this.banNotice = undefined;
    this.failWaiters(
      ban ??
        new AdapterError("recipient-unavailable", `lost the IRC connection: ${reason}`, { retryable: true }),
    );
    if (unsentLines > 0) {
      this.emit({
        type: "notice",
        text: `${unsentLines} IRC line(s) to ${this.server} were not sent: the connection was lost (${reason}).`,
      });
    }
    if (unchecked > 0) {
      this.emit({
        type: "notice",
        text: `${unchecked} IRC line(s) written to ${this.server} long before the connection was lost were never confirmed and may not have arrived (${reason}).`,
      });
    }
  }

  /** Back into the outbox, at the front; what its bounds refuse is reported, not dropped silently. */
  private putBack(items: readonly PendingMessage[]): void {
    if (items.length === 0) return;
    this.options.log.info(
      { server: this.server, messages: items.length },
      "resending messages the lost IRC link may not have delivered",
    );
    this.reportUnsent(
      this.outbox.putBack(items),
      `${this.outbox.limits.perConversation} messages already wait for the connection to ${this.server}`,
    );
    // Not registered now: this only arms the expiry; onRegistered sends them.
    this.flushOutbox();
  }

  /**
   * The server banned us. Until the ban has run out, what the user asks of this server fails at
   * once with the reason (a join would otherwise wait for a connection that will not come, a
   * message would sit in the outbox), and the rooms they are in say why they went quiet.
   */
  private onBanned(reason: string): AdapterError | undefined {
    const said =
      this.banNotice !== undefined && this.banNotice !== "" ? `${this.banNotice}; ${reason}` : reason;
    const { user, bans, settings } = this.options;
    const ban = bans.record(user, this.server, said, settings.reconnect.bannedMs);
    if (ban === undefined) return undefined;
    for (const waiter of this.readyWaiters.splice(0)) waiter.reject(ban);
    this.dropOutbox(ban.message);
    for (const channel of this.channels.all()) {
      if (this.awaitedJoins.has(this.fold(channel.name))) continue; // that join fails with `ban`
      this.emit({
        type: "notice",
        conversation: { kind: "room", id: this.roomId(channel.name) },
        text: `Disconnected from ${channel.name}: ${ban.message}.`,
      });
    }
    return ban;
  }

  // ---- helpers ------------------------------------------------------------------------------

  private dropOutbox(why: string): void {
    if (this.outboxTimer !== undefined) clearTimeout(this.outboxTimer);
    this.outboxTimer = undefined;
    this.reportUnsent(this.outbox.clear(), why);
  }

  /** Resolves once registered; rejects if the connection fails or does not come up in time. */
  private ready(): Promise<void> {
    if (this.connection.isRegistered) return Promise.resolve();
    const ban = this.options.bans.check(this.options.user, this.server);
    if (ban) return Promise.reject(ban);
    if (this.connection.isClosed) {
      return Promise.reject(new AdapterError("recipient-unavailable", `not connected to ${this.server}`));
    }
    return new Promise((resolve, reject) => {
      const entry = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error: AdapterError) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        const index = this.readyWaiters.indexOf(entry);
        if (index !== -1) this.readyWaiters.splice(index, 1);
        reject(
          new AdapterError("remote-server-timeout", `${this.server} did not accept the connection in time`, {
            retryable: true,
          }),
        );
      }, READY_TIMEOUT_MS);
      timer.unref();
      this.readyWaiters.push(entry);
    });
  }

  /** Waits for the first incoming line `verdict` decides on; bounded by `timeoutMs`. */
  private waitForLine(
    what: string,
    timeoutMs: number,
    verdict: (m: IrcMessage) => LineVerdict,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(
          new AdapterError("remote-server-timeout", `${this.server} did not answer (${what})`, {
            retryable: true,
          }),
        );
      }, timeoutMs);
      timer.unref();
      const waiter: LineWaiter = {
        check: (m) => {
          const result = verdict(m);
          if (result === undefined) return false;
          clearTimeout(timer);
          if (result === "done") resolve();
          else reject(result);
          return true;
        },
        fail: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiters.add(waiter);
    });
  }

  private failWaiters(error: AdapterError): void {
    for (const waiter of this.waiters) waiter.fail(error);
    this.waiters.clear();
  }

  sameChannel(a: string | undefined, b: string): boolean {
    return a !== undefined && sameName(a, b, this.connection.casemapping);
  }

  private checkChannel(channel: string): void {
    const maxLength = this.connection.isupportNumber("CHANNELLEN") ?? 200;
    if (!isValidChannelName(channel, this.connection.chantypes, maxLength)) {
      throw new AdapterError("jid-malformed", `not a valid IRC channel name on ${this.server}`);
    }
  }

  private checkNick(nick: string): void {
    const maxLength = Math.max(this.connection.isupportNumber("NICKLEN") ?? 30, 30);
    if (!isValidNick(nick, maxLength))
      throw new AdapterError("jid-malformed", `not a valid IRC nick on ${this.server}`);
  }

  private checkParam(value: string, what: string): void {
    try {
      assertSafeParam(value);
    } catch {
      throw new AdapterError(
        "not-acceptable",
        `the ${what} cannot be sent to IRC (space, line break or leading ':')`,
      );
    }
  }
}

/** Text for a single trailing parameter: line breaks become spaces, NUL goes, at most `maxBytes`. */
export function oneLine(text: string, maxBytes: number): string {
  const line = text.replace(/[\r\n\u0085\u2028\u2029]+/g, " ").replace(/\0/g, "");
  const bytes = Buffer.from(line, "utf8");
  if (bytes.length <= maxBytes) return line;
  // Cut before a UTF-8 continuation byte, never inside a character.
  let end = maxBytes;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end).toString("utf8");
}
