import { randomUUID } from "node:crypto";
/**
 * One gateway: an adapter bound to one component domain. Receives every stanza for its domain,
 * checks the envelope, and hands it to the IQ, message or presence handling, one conversation at
 * a time; sends what the adapter's sessions report back out.
 */
import type { Element } from "@xmpp/component-core";
import type { Logger } from "pino";
import type { AdapterFactory } from "../adapter/adapter.ts";
import type { FileFetcher, FilePublisher } from "../adapter/attachments.ts";
import type { Leases } from "../adapter/context.ts";
import type { GatewayConfig } from "../config/schema.ts";
import { isRedisUnavailable, type Store } from "../store/index.ts";
import { ComponentLink } from "../xmpp/connection.ts";
import { bareJid, fullJid, type Jid, parseJid } from "../xmpp/jid.ts";
import { errorReply, StanzaError } from "../xmpp/stanza-error.ts";
import { Addressing } from "./addressing.ts";
import { CommandRunner } from "./commands.ts";
import type { GatewayContext } from "./gateway-context.ts";
import { handleIq } from "./iq-handlers.ts";
import { handleMessage, type MessageHandled } from "./message-handler.ts";
import { logOutcome } from "./outcome.ts";
import { PortalRooms } from "./portal-rooms.ts";
import { handlePresence } from "./presence-handler.ts";
import { RegistrationAudit } from "./registration-audit.ts";
import { ResourceCheck } from "./resource-check.ts";
import { KeyedSerialQueue, QueueFullError } from "./serial-queue.ts";
import { UserDirectory } from "./users.ts";
import { STALE_AFTER_MS, XmppInbox } from "./xmpp-inbox.ts";
import { XmppOutbox } from "./xmpp-outbox.ts";

/** Redis-backed leases, with names kept apart per gateway, held as `holder`. */
function leasesFor(store: Store, domain: string, holder: string): Leases {
  const named = (name: string) => `${domain}\u0000${name}`;
  return {
    acquire: (name, ttlMs) => store.lock.acquire(named(name), holder, ttlMs),
    renew: (name, ttlMs) => store.lock.renew(named(name), holder, ttlMs),
    release: async (name) => {
      await store.lock.release(named(name), holder);
    },
  };
}

/** Stanzas from one user to one conversation (a bare JID of ours) are handled one at a time. */
function inboundKey(user: string, to: Jid): string {
  return `${user}\u0000${bareJid(to)}`;
}

/** A stanza whose envelope passed the checks. */
export interface Envelope {
  stanza: Element;
  kind: "iq" | "message" | "presence";
  from: Jid;
  to: Jid;
  /** Bare JID of the sender. */
  user: string;
  /** When the stanza came from the XMPP server (ms since the epoch; for a left-over one, the first time). */
  receivedAt: number;
}

export class Gateway {
  readonly ctx: GatewayContext;
  readonly users: UserDirectory;
  readonly commands: CommandRunner;
  private readonly link: ComponentLink;
  private readonly inbound = new KeyedSerialQueue(200);
  private readonly events = new KeyedSerialQueue(10_000);
  private stopping = false;
  /** Stopped as by `kill -9` (tests): nothing more is answered. */
  private abandoned = false;
  private readonly outbox: XmppOutbox;
  private readonly inbox: XmppInbox;
  /**
   * Resolves once what an earlier process left in the inbox is queued (or found empty): stanzas
   * wait for it, so left-over ones go first in their conversation, and none is mistaken for one.
   */
  private readonly leftOverQueued: Promise<void>;
  private markLeftOverQueued!: () => void;
  private portals: PortalRooms | undefined;
  /** Checks open sessions against Redis each time Redis comes back (a restore may lose writes). */
  readonly audit: RegistrationAudit;
  private stopAudit: (() => void) | undefined;
  /** Asks the resources we believe present whether they still are, each time the link comes back. */
  readonly resourceCheck: ResourceCheck;

  constructor(opts: {
    config: GatewayConfig;
    factory: AdapterFactory;
    settings: unknown;
    store: Store;
    log: Logger;
    files?: FilePublisher;
    fetcher: FileFetcher;
  }) {
    const { config, factory, store } = opts;
    const log = opts.log.child({ gateway: config.domain });
    const name = config.name ?? factory.defaultName;
    this.link = new ComponentLink({
      host: config.xmpp.host,
      port: config.xmpp.port,
      domain: config.domain,
      secret: config.xmpp.secret,
      maxStanzaBytes: config.limits.maxStanzaBytes,
      // Any domain of the server answers a ping; the users' own domain is one it certainly serves.
      keepalive: {
        pingTo: config.users.allowedDomains[0] ?? config.domain,
        idleMs: config.xmpp.keepaliveMs,
        deadMs: config.xmpp.deadAfterMs,
      },
      log,
    });
    const adapter = factory.create({
      gateway: { domain: config.domain, name },
      settings: opts.settings,
      log: log.child({ adapter: factory.name }),
      state: store.gatewayState(config.domain),
      // Unique per gateway instance: two instances (processes) must never share a lease.
      leases: leasesFor(store, config.domain, `${process.pid}-${randomUUID()}`),
      files: opts.files,
      fetcher: opts.fetcher,
    });
    const outbox = new XmppOutbox(
      this.link,
      store.xmppOutbox(config.domain, config.limits.outboxMaxStanzas),
      log,
    );
    this.outbox = outbox;
    this.inbox = new XmppInbox(store.xmppInbox(config.domain, config.limits.outboxMaxStanzas), log);
    this.leftOverQueued = new Promise((resolve) => {
      this.markLeftOverQueued = resolve;
    });
    this.ctx = {
      domain: config.domain,
      name,
      gatewayType: factory.gatewayType,
      config,
      adapter,
      store,
      log,
      addressing: new Addressing(config.domain, adapter),
      send: (stanza) => outbox.send(stanza),
      sendQuietly: (stanza) => {
        outbox
          .send(stanza)
          .catch((err: unknown) =>
            log.warn({ err: String(err), to: stanza.attrs.to }, "could not send stanza"),
          );
      },
    };
    this.users = new UserDirectory(this.ctx, this.events);
    this.audit = new RegistrationAudit({
      users: this.users,
      // The queue of the user's stanzas to the gateway JID, where they register and unregister.
      serialize: (user, task) => this.inbound.run(`${user}\u0000${config.domain}`, task),
      log,
    });
    this.commands = new CommandRunner(this.ctx, this.users);
    this.resourceCheck = new ResourceCheck({
      gw: this.ctx,
      users: this.users,
      portals: () => this.portals,
      serialize: (user, address, task) => {
        const to = parseJid(address);
        return this.inbound.run(to ? inboundKey(user, to) : `${user}\u0000${address}`, task);
      },
      log,
    });
    this.link.on("stanza", (stanza) => this.onStanza(stanza));
    this.link.on("offline", () => this.resourceCheck.linkDown());
  }

  get online(): boolean {
    return this.link.online;
  }

  /** Connects to the XMPP server, starts the adapter and brings back the sessions of before. */
  async start(opts: { waitOnlineMs?: number } = {}): Promise<void> {
    await this.outbox.start();
    await this.ctx.adapter.start();
    const portal = await this.ctx.adapter.openPortal?.({
      emit: (event) => this.portals?.onEvent(event) ?? Promise.resolve(),
      log: this.ctx.log.child({ part: "portal" }),
    });
    if (portal) {
      this.portals = new PortalRooms(this.ctx, portal, this.events);
      await this.portals.restore();
    }
    this.link.start();
    if (opts.waitOnlineMs) await this.link.waitOnline(opts.waitOnlineMs);
    let restoreDone = false;
    const onOnline = () => {
      const restored = this.users.restore().then(
        (n) => this.ctx.log.info({ restored: n }, "sessions restored"),
        (err: unknown) => this.ctx.log.error({ err: String(err) }, "restoring sessions failed"),
      );
      void this.queueLeftOver(restored).finally(() => this.markLeftOverQueued());
      void restored.finally(() => {
        restoreDone = true;
        // Resources that left while we were away are still listed: their leaves were bounced.
        this.resourceCheck.checkAll();
      });
    };
    // Restore once the link is up, so the presences and room messages it sends can go out.
    if (this.link.online) onOnline();
    else this.link.once("online", onOnline);
    // Back from an outage: the server may have ended sessions without a word to us (a restart).
    this.link.on("online", () => {
      if (restoreDone) this.resourceCheck.checkAll();
    });
    this.stopAudit = this.ctx.store.onReconnect(() => this.audit.checkAll());
  }

  /** Closes sessions (users see "unavailable"), stops the adapter, finishes writes, disconnects. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopAudit?.();
    this.audit.stop();
    this.resourceCheck.stop();
    await this.audit.idle();
    await this.users.closeAll("The gateway is shutting down");
    await this.portals?.close();
    await this.events.drain();
    await this.ctx.adapter.stop();
    await this.inbound.drain();
    await this.inbox.idle();
    await this.link.stop();
  }

  /** Stops handling anything and drops the link with no goodbye, as `kill -9` would (tests). */
  async abandon(): Promise<void> {
    this.stopping = true;
    this.stopAudit?.();
    this.audit.stop();
    this.resourceCheck.stop();
    this.abandoned = true;
    this.link.abandon();
  }

  private onStanza(stanza: Element): void {
    if (this.abandoned) return;
    if (this.resourceCheck.settle(stanza)) return;
    if (this.stopping) {
      // The server counts a stanza it wrote to us as delivered: one that arrives while we shut
      // down gets an answer (R2 found these dropped in silence). Presences need none: the
      // sessions they would change are closing, and the user gets their unavailable presences.
      if (stanza.name !== "presence")
        this.answerError(
          stanza,
          new StanzaError(
            "recipient-unavailable",
            "the gateway is restarting; send it again shortly",
            "wait",
          ),
        );
      return;
    }
    let envelope: Envelope;
    try {
      const checked = this.checkEnvelope(stanza);
      if (!checked) return;
      envelope = checked;
    } catch (err) {
      this.answerError(stanza, err);
      return;
    }
    void this.leftOverQueued.then(() => this.enqueue(envelope, this.inbox.record(stanza)));
  }

  /**
   * Queues a stanza behind the earlier ones of its conversation; `entry` is its inbox entry,
   * removed once it is handled. `after`: what must be done before it is handled.
   */
  private enqueue(envelope: Envelope, entry: Promise<string | null>, after?: Promise<unknown>): void {
    let handedOver: Promise<void> | undefined;
    this.inbound
      .run(inboundKey(envelope.user, envelope.to), async () => {
        await after;
        handedOver = (await this.dispatch(envelope))?.handedOver;
      })
      .catch((err: unknown) => {
        if (err instanceof QueueFullError)
          this.answerError(
            envelope.stanza,
            new StanzaError("resource-constraint", "too many stanzas at once; slow down", "wait"),
          );
        else this.answerError(envelope.stanza, err);
      })
      .finally(() => this.inbox.done(entry, handedOver));
  }

  /**
   * Handles again what an earlier process took from the server and never handled (it was
   * killed), once the sessions are back; what waited too long is answered instead of sent late.
   */
  private async queueLeftOver(restored: Promise<unknown>): Promise<void> {
    let left: Awaited<ReturnType<XmppInbox["leftOver"]>>;
    try {
      left = await this.inbox.leftOver();
    } catch (err) {
      this.ctx.log.warn({ err: String(err) }, "could not read the inbox an earlier process left");
      return;
    }
    for (const { entry, stanza, ageMs } of left) {
      let envelope: Envelope | null = null;
      try {
        envelope = this.checkEnvelope(stanza);
      } catch {
        // Answered when it first came; nothing more to do.
      }
      if (envelope && ageMs > STALE_AFTER_MS)
        this.answerError(
          stanza,
          new StanzaError(
            "recipient-unavailable",
            "the gateway restarted before sending this; send it again",
            "wait",
          ),
        );
      if (!envelope || ageMs > STALE_AFTER_MS) {
        this.inbox.done(Promise.resolve(entry));
        continue;
      }
      this.enqueue({ ...envelope, receivedAt: Date.now() - ageMs }, Promise.resolve(entry), restored);
    }
    if (left.length > 0)
      this.ctx.log.info({ stanzas: left.length }, "stanzas left by an earlier process handled again");
  }

  /** Null when the stanza is dropped without an answer (logged). */
  private checkEnvelope(stanza: Element): Envelope | null {
    const log = this.ctx.log;
    const kind = stanza.name;
    if (kind !== "iq" && kind !== "message" && kind !== "presence") {
      log.debug({ name: kind }, "ignored non-stanza element");
      return null;
    }
    const fromAttr = stanza.attrs.from;
    const from = fromAttr ? parseJid(fromAttr) : null;
    if (!from) {
      // Nobody to answer: a server that sends this is broken; count it and move on.
      logOutcome(log, {
        direction: "to-network",
        what: kind,
        result: "ignored",
        reason: fromAttr ? "malformed from" : "no from",
      });
      return null;
    }
    if (stanza.attrs.type === "error" && kind !== "message" && kind !== "presence") {
      // An iq error answers something we sent; we never answer errors.
      return null;
    }
    const toAttr = stanza.attrs.to;
    if (!toAttr) throw new StanzaError("bad-request", "the stanza has no 'to'");
    const to = parseJid(toAttr);
    if (!to) throw new StanzaError("jid-malformed", "the 'to' address is not a valid JID");
    if (to.domain !== this.ctx.domain) {
      logOutcome(log, {
        direction: "to-network",
        what: kind,
        result: "ignored",
        reason: `'to' outside ${this.ctx.domain}: ${to.domain}`,
      });
      return null;
    }
    return { stanza, kind, from, to, user: bareJid(from), receivedAt: Date.now() };
  }

  /** Handles one stanza; for a message, says what the adapter still holds of it. */
  private async dispatch(envelope: Envelope): Promise<MessageHandled | undefined> {
    const deps = { gw: this.ctx, users: this.users, commands: this.commands, portals: this.portals };
    try {
      if (envelope.kind === "iq") {
        const result = await handleIq(envelope, deps);
        if (result !== undefined) await this.ctx.send(result);
      } else if (envelope.kind === "message") {
        return await handleMessage(envelope, deps);
      } else {
        await handlePresence(envelope, deps);
      }
    } catch (err) {
      this.answerError(envelope.stanza, err, envelope);
    }
  }

  /** What the sender is told: our own errors as they are; a Redis outage as "try again later". */
  private toStanzaError(err: unknown): StanzaError {
    if (err instanceof StanzaError) return err;
    if (isRedisUnavailable(err)) {
      this.ctx.log.warn({ err: String(err) }, "storage unavailable");
      return new StanzaError(
        "internal-server-error",
        "the gateway's storage is unavailable; try again shortly",
        "wait",
      );
    }
    this.ctx.log.error({ err: err instanceof Error ? err.stack : String(err) }, "stanza handling failed");
    return new StanzaError("internal-server-error", "the gateway failed to handle this");
  }

  private answerError(stanza: Element, err: unknown, envelope?: Envelope): void {
    const error = this.toStanzaError(err);
    logOutcome(this.ctx.log, {
      direction: "to-network",
      what: stanza.name,
      user: envelope?.user,
      conversation: envelope ? fullJid(envelope.to) : stanza.attrs.to,
      result: "failed",
      reason: error.text ?? error.condition,
      errorSent: error.condition,
    });
    const reply = errorReply(stanza, error, this.ctx.domain);
    if (reply) this.ctx.sendQuietly(reply);
  }
}
