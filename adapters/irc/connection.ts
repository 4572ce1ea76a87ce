/**
 * One IRC connection of one user to one server: its lifecycle, and the only way lines leave.
 *
 * irc-framework registers (CAP, SASL, NICK/USER) and keeps the link alive (PING); everything
 * else is ours:
 * - every line we send goes through a token-bucket queue, so one user cannot flood the server
 *   into banning the gateway's address, and then through the gateway-wide per-server limit
 *   (network-limiter.ts), so all users together cannot either;
 * - irc-framework's own reconnect is off; after a loss, or a first connection that never got
 *   through (server down, refused), we wait with exponential backoff and jitter, then queue for a
 *   slot in the gateway-wide {@link ConnectGate}; a ban pauses that user for `bannedMs`;
 * - a nick in use during registration is retried as nick_, nick__, …
 * - a message's lines carry the owner's tag; when the link is lost, the messages with a line not
 *   yet written, or written but not confirmed by anything the server sent after it
 *   (unconfirmed.ts), are handed back to be sent again after the reconnect (R8).
 * The owner (a ServerLink) sees parsed lines and state changes through {@link ConnectionEvents}.
 */
import { setTimeout as sleep } from "node:timers/promises";
import irc, { type ClientOptions, type Client as IrcClient, type IrcMessage } from "irc-framework";
import type { Logger, SessionStateName } from "../../src/adapter/index.ts";
import { isBanReason, reconnectDelay } from "./backoff.ts";
import type { ConnectGate } from "./connect-gate.ts";
import { lastResortNick, nickAlternatives } from "./nick.ts";
import { type Casemapping, parseCasemapping } from "./protocol/casemap.ts";
import { type LinePacer, RateLimitedQueue, TokenBucket } from "./protocol/token-bucket.ts";
import { DEFAULT_PREFIXES, type PrefixEntry } from "./roles.ts";
import { type IrcServerSettings, type IrcSettings, serverPort } from "./settings.ts";
import { PosternTransport, TRANSPORT_SETTINGS, type TransportSettings } from "./transport.ts";
import { UnconfirmedLines } from "./unconfirmed.ts";

/** Who the user is on this server. Passwords are never logged. */
export interface ConnectionIdentity {
  nick: string;
  username: string;
  realname: string;
  saslAccount?: string;
  saslPassword?: string;
  nickservPassword?: string;
  /** The user's XMPP domain, shown as their host through WEBIRC. */
  webircHostname: string;
}

/** Why and how a connection was lost, and what the owner gets back. */
export interface ConnectionLoss<Tag> {
  reason: string;
  /** The server banned this connection (then the next try waits `reconnect.bannedMs`). */
  banned: boolean;
  /** Queued lines of no message (JOIN, TOPIC, …) dropped with the socket. */
  unsentLines: number;
  /**
   * Messages that may not have reached the server, in the order they were sent: a line of each
   * was still queued, or written after the last bytes that came from the server. Send them again.
   */
  resend: Tag[];
  /** Lines written long before the loss and forgotten unconfirmed (over the bound): not checked. */
  unchecked: number;
}

/** One line to send; message lines carry their message's tag. */
interface OutLine<Tag> {
  line: string;
  tag?: Tag;
  /** The last line of its message. */
  last?: boolean;
}

export interface ConnectionEvents<Tag> {
  /** Every parsed line from the server, in order. */
  line(message: IrcMessage): void;
  /** 001 arrived: `nick` is the nick the server gave us. */
  registered(nick: string): void;
  state(state: SessionStateName, reason: string): void;
  /** Something the user should read that is no line of a conversation (a failed SASL login). */
  notice(text: string): void;
  /** The socket is gone, not by our `close` (the connection is already waiting to reconnect). */
  lost(loss: ConnectionLoss<Tag>): void;
  /**
   * Nothing more will be done with `tag`'s message: the server answered a PING written after it
   * (unconfirmed.ts), or our `close` ended the connection (what did not go out was told).
   */
  settled(tag: Tag): void;
}

export interface ConnectionOptions<Tag> {
  server: string;
  serverSettings: IrcServerSettings;
  settings: IrcSettings;
  identity: ConnectionIdentity;
  gate: ConnectGate;
  /** The egress limit shared by every connection of this gateway to this server. */
  network: LinePacer;
  log: Logger;
  events: ConnectionEvents<Tag>;
}

type Phase = "idle" | "connecting" | "registered" | "waiting" | "closed";

/** Registration must finish within this after the socket opened, or we count it as failed. */
const REGISTRATION_TIMEOUT_MS = 30_000;
/** How long a graceful close waits for queued lines to go out before QUIT. */
const CLOSE_DRAIN_MS = 2_000;
/** A connection that stayed up this long resets the backoff. */
const STABLE_AFTER_MS = 60_000;

export class IrcConnection<Tag> {
  private readonly client: IrcClient;
  private readonly queue: RateLimitedQueue<OutLine<Tag>>;
  /** Message lines written since bytes last arrived from the server (R8). */
  private readonly unconfirmed: UnconfirmedLines<Tag>;
  private phase: Phase = "idle";
  private attempt = 0;
  private everRegistered = false;
  private registeredAt = 0;
  private lastError = "";
  /** The server said 465 (banned) on this connection; some servers then close with a bland ERROR. */
  private bannedByNumeric = false;
  private nickCandidates: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  private closedResolve: (() => void) | undefined;

  constructor(private readonly options: ConnectionOptions<Tag>) {
    this.client = new irc.Client();
    this.unconfirmed = new UnconfirmedLines<Tag>(
      (token) => this.client.raw(`PING :${token}`),
      (tag) => options.events.settled(tag),
    );
    const { flood } = options.settings;
    this.queue = new RateLimitedQueue<OutLine<Tag>>(
      new TokenBucket({ capacity: flood.burst, refillEveryMs: flood.refillMs }),
      ({ line, tag, last }) => {
        this.client.raw(line);
        if (tag === undefined) return;
        this.unconfirmed.written(tag, line, last);
      },
      { maxQueued: flood.maxQueued, pacer: options.network },
    );
    this.client.connection.on("message", (message: IrcMessage) => this.onMessage(message));
    this.client.on("socket connected", () => this.onSocketOpen());
    this.client.on("socket close", (error?: unknown) => this.onSocketClose(error));
    // irc-framework goes on registering without the account; the user must know they are not
    // logged in (the 904 arrives before 001, so no line handler would show it).
    this.client.on("sasl failed", (event: { reason: string; message?: string }) => {
      this.options.log.warn({ server: options.server, reason: event.reason }, "SASL authentication failed");
      this.options.events.notice(
        `SASL login to ${options.server} failed (${event.message ?? event.reason}); continuing without logging in.`,
      );
    });
  }

  /** The nick the server knows us by (the asked-for one until 001). */
  get nick(): string {
    return this.client.user.nick;
  }

  get isRegistered(): boolean {
    return this.phase === "registered";
  }

  get isClosed(): boolean {
    return this.phase === "closed";
  }

  /** ISUPPORT PREFIX, highest rank first. */
  get prefixes(): readonly PrefixEntry[] {
    return this.client.network.options.PREFIX ?? DEFAULT_PREFIXES;
  }

  get casemapping(): Casemapping {
    return parseCasemapping(this.client.network.options.CASEMAPPING);
  }

  get chantypes(): string {
    return this.client.network.options.CHANTYPES?.join("") ?? "#&";
  }

  /** A numeric ISUPPORT token (NICKLEN, CHANNELLEN, …), or undefined. */
  isupportNumber(name: string): number | undefined {
    const value = Number(this.client.network.options[name]);
    return Number.isInteger(value) && value > 0 ? value : undefined;
  }

  /** The four CHANMODES groups, when the server sent them. */
  get chanmodes(): readonly string[] | undefined {
    const value = this.client.network.options.CHANMODES;
    return Array.isArray(value) ? (value as string[]) : undefined;
  }

  capEnabled(name: string): boolean {
    return this.client.network.cap.isEnabled(name);
  }

  /** Bytes a relayed line's `:nick!user@host ` prefix may take (conservative: 10-byte user, 63-byte host). */
  get prefixReserve(): number {
    return Buffer.byteLength(this.nick, "utf8") + 1 + 10 + 1 + 63 + 2;
  }

  /** Lines waiting for the flood limiter. */
  get queuedLines(): number {
    return this.queue.size;
  }

  /** Starts connecting (through the connect gate). Progress is reported as events. */
  start(): void {
    if (this.phase !== "idle") return;
    this.phase = "waiting";
    this.options.events.state("connecting", `connecting to ${this.options.server}`);
    void this.connectThroughGate();
  }

  /**
   * Queues whole lines for sending, all or none: false when the flood queue cannot take them
   * all, or we are not registered. Lines must already be safe (built by our encoders). The lines
   * of a message carry its `tag`: the message comes back in {@link ConnectionLoss.resend} if the
   * link is lost before the server confirmed them.
   */
  send(lines: readonly string[], tag?: Tag): boolean {
    if (this.phase !== "registered") return false;
    if (this.queue.size + lines.length > this.options.settings.flood.maxQueued) return false;
    for (const [i, line] of lines.entries())
      this.queue.push(tag === undefined ? { line } : { line, tag, last: i === lines.length - 1 });
    return true;
  }

  /** Sends QUIT and closes for good; resolves once the socket is closed (bounded). Never throws. */
  async close(reason = "Postern: session closed"): Promise<void> {
    if (this.phase === "closed") return;
    // Lines in the queue were accepted from their senders: give them a bounded chance to go out
    // before QUIT, and say how many did not.
    const drainUntil = Date.now() + CLOSE_DRAIN_MS;
    while (this.phase === "registered" && this.queue.size > 0 && Date.now() < drainUntil) await sleep(25);
    // A close that ran meanwhile (the phase changes across the await) has done the rest.
    if ((this.phase as Phase) === "closed") return;
    const wasConnected = this.client.connected;
    this.phase = "closed";
    this.abort.abort(new Error("connection closed"));
    this.clearTimer();
    const disposed = this.queue.dispose();
    const unsent = disposed.length;
    if (unsent > 0)
      this.options.events.notice(
        `${unsent} IRC line(s) to ${this.options.server} were not sent: the connection was closed (${reason}).`,
      );
    // A close sends nothing again: what was written is settled once the QUIT is answered (or the
    // socket closes), what never went out now (its user was just told).
    const settleAll = () => {
      this.unconfirmed.closed();
      for (const tag of new Set(disposed.flatMap(({ tag }) => (tag === undefined ? [] : [tag]))))
        this.options.events.settled(tag);
    };
    if (!wasConnected) {
      this.client.connection.end();
      settleAll();
      return;
    }
    const closed = new Promise<void>((resolve) => {
      this.closedResolve = resolve;
    });
    // Keep the reason on one line and short: it comes from the user or the core.
    this.client.quit(reason.replace(/[\r\n\0]+/g, " ").slice(0, 200));
    const bound = setTimeout(() => {
      this.client.connection.end(undefined, true);
      this.closedResolve?.();
    }, 3_000);
    await closed;
    clearTimeout(bound);
    settleAll();
  }

  private async connectThroughGate(): Promise<void> {
    try {
      await this.options.gate.wait(this.options.server, this.abort.signal);
    } catch {
      return; // closed while waiting
    }
    if (this.phase === "closed") return;
    this.phase = "connecting";
    this.lastError = "";
    this.bannedByNumeric = false;
    const { identity } = this.options;
    this.nickCandidates = nickAlternatives(identity.nick);
    this.client.connect(this.clientOptions());
  }

  private clientOptions(): ClientOptions {
    const { serverSettings, identity } = this.options;
    const transport: TransportSettings = {
      tls: serverSettings.tls,
      tlsVerify: serverSettings.tlsVerify,
      tlsFingerprint: serverSettings.tlsFingerprint,
      encodingFallback: serverSettings.encodingFallback,
      onRefusedLine: (reason) =>
        this.options.log.error({ server: this.options.server, reason }, "refused IRC line"),
      keepaliveMs: this.options.settings.keepaliveMs,
      deadAfterMs: this.options.settings.deadAfterMs,
    };
    const options: ClientOptions = {
      host: serverSettings.host,
      port: serverPort(serverSettings),
      nick: identity.nick,
      username: identity.username,
      gecos: identity.realname,
      // An account object without credentials stops irc-framework from trying the server
      // password as a SASL password.
      account:
        identity.saslPassword !== undefined
          ? { account: identity.saslAccount ?? identity.nick, password: identity.saslPassword }
          : {},
      version: "", // CTCP VERSION is answered by us, rate-limited
      auto_reconnect: false,
      enable_chghost: true,
      enable_echomessage: true,
      ping_interval: 30,
      ping_timeout: 120,
      transport: PosternTransport,
      [TRANSPORT_SETTINGS]: transport,
    };
    if (serverSettings.password !== undefined) options.password = serverSettings.password;
    if (serverSettings.webirc) {
      options.webirc = {
        password: serverSettings.webirc.password,
        username: serverSettings.webirc.gateway,
        hostname: identity.webircHostname,
        address: "127.0.0.1",
      };
    }
    return options;
  }

  private onSocketOpen(): void {
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.lastError = "registration timed out";
      this.client.connection.end(undefined, true);
    }, REGISTRATION_TIMEOUT_MS);
    this.timer.unref();
  }

  private onMessage(message: IrcMessage): void {
    if (this.phase === "closed") return;
    switch (message.command) {
      case "001":
        this.onRegistered(message.params[0] ?? this.nick);
        break;
      case "433": // nick in use
      case "436": // nick collision
      case "432": // erroneous nick (e.g. too long for this server)
      case "437": // nick temporarily unavailable
        if (this.phase === "connecting") {
          this.tryNextNick();
          return;
        }
        break;
      case "ERROR":
        this.lastError = message.params[message.params.length - 1] ?? "";
        break;
      case "465": // ERR_YOUREBANNEDCREEP
        this.bannedByNumeric = true;
        break;
      case "PONG":
        if (this.unconfirmed.pong(message.params)) return;
        break;
    }
    this.options.events.line(message);
  }

  private tryNextNick(): void {
    const next = this.nickCandidates.shift() ?? lastResortNick(this.options.identity.nick);
    this.client.user.nick = next;
    this.client.raw(`NICK ${next}`);
  }

  private onRegistered(nick: string): void {
    this.clearTimer();
    this.phase = "registered";
    this.everRegistered = true;
    this.registeredAt = Date.now();
    this.client.user.nick = nick;
    const { nickservPassword } = this.options.identity;
    if (nickservPassword !== undefined && !/[\r\n\0]/.test(nickservPassword)) {
      this.queue.push({ line: `PRIVMSG NickServ :IDENTIFY ${nickservPassword}` });
    }
    this.options.events.registered(nick);
    this.options.events.state("online", `connected to ${this.options.server} as ${nick}`);
  }

  private onSocketClose(error?: unknown): void {
    this.clearTimer();
    if (this.phase === "closed") {
      this.closedResolve?.();
      return;
    }
    // Written before queued: the resend keeps the order the user sent in.
    const written = this.unconfirmed.take();
    const queued = this.queue.clear();
    const resend = [
      ...new Set([...written.tags, ...queued.flatMap(({ tag }) => (tag === undefined ? [] : [tag]))]),
    ];
    const reason = this.lastError || (error instanceof Error ? error.message : "") || "connection lost";
    const banned = this.bannedByNumeric || isBanReason(reason);
    // Before the owner hears of it: what it does about the loss must not find us registered.
    this.phase = "waiting";
    this.options.events.lost({
      reason,
      banned,
      unsentLines: queued.filter(({ tag }) => tag === undefined).length,
      resend,
      unchecked: written.forgotten,
    });
    if ((this.phase as Phase) === "closed") return; // the owner closed it meanwhile
    if (this.registeredAt > 0 && Date.now() - this.registeredAt > STABLE_AFTER_MS) this.attempt = 0;
    this.registeredAt = 0;
    const delay = banned
      ? this.options.settings.reconnect.bannedMs
      : reconnectDelay(this.attempt, this.options.settings.reconnect);
    this.attempt += 1;
    const seconds = Math.round(delay / 1000);
    // A server that never let us in (down, refusing) is tried again like a lost one, with the
    // same backoff: it may just be restarting. The user sees why it is taking long.
    const what = this.everRegistered
      ? `lost ${this.options.server}`
      : `cannot connect to ${this.options.server}`;
    this.options.events.state(
      this.everRegistered ? "reconnecting" : "connecting",
      banned
        ? `banned by ${this.options.server} (${reason}); trying again in ${seconds} s`
        : `${what} (${reason}); trying again in ${seconds} s`,
    );
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.connectThroughGate();
    }, delay);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
