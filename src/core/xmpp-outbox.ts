/**
 * The way out to the XMPP server that loses nothing while the server is away or the link is
 * silently dead. A stanza goes straight to the component link when it is up and nothing is
 * waiting; otherwise it is appended to the gateway's outbox in Redis, and the outbox is drained in
 * order as soon as the link is back.
 *
 * A component has no stream management (XEP-0198), and a half-open TCP connection swallows what
 * is written into it until the keepalive notices (R8). So a stanza written to the link is only
 * "unconfirmed" until the server proves it read it: after writing, the outbox pings the server
 * (XEP-0199, through the link's one ping path) and the answer confirms everything written before
 * the ping, since the server reads the stream in order. When the link goes down, what is still
 * unconfirmed goes back to the front of the queue and is written again once the link is back.
 * A stanza the server did read but whose confirmation was lost with the link is therefore sent
 * twice: at most what was written within one ping interval (250 ms under sustained traffic, else
 * none) plus a round trip before the fault.
 *
 * IQ results are not kept: whoever asked has given up by the time the server returns. So they
 * never wait behind queued stanzas either: written while the link is up, refused while it is down.
 */
import type { Element } from "@xmpp/component-core";
import type { Logger } from "pino";
import type { Outbox } from "../store/index.ts";
import type { ComponentLink } from "../xmpp/connection.ts";
import { parseJid } from "../xmpp/jid.ts";

/** Characters XML 1.0 does not allow anywhere, escaped or not (and lone surrogates). */
const XML_ILLEGAL =
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Entries sent per round trip to Redis while draining. */
const BATCH = 100;

/**
 * Confirming pings are rationed like a token bucket: {@link PING_BURST} may go back to back, then
 * one per {@link CONFIRM_INTERVAL_MS} while traffic keeps flowing. So a stanza written after a
 * quiet spell (the usual chat) is pinged at once and confirmed within a round trip, and under
 * sustained traffic the duplicate window (what a link lost before its confirmation makes us send
 * again) is one interval plus a round trip. Four small pings a second (about 1 KB/s with the
 * answers) are nothing next to that traffic; one a second would make the window, and the
 * unconfirmed list, four times larger.
 */
const CONFIRM_INTERVAL_MS = 250;
const PING_BURST = 4;

/**
 * Bounds of the unconfirmed list. At the bound the outbox stops writing to the link and queues
 * in Redis until a confirmation frees room (a ping goes out at once then, whatever the interval).
 */
const MAX_UNCONFIRMED = 1_000;
const MAX_UNCONFIRMED_BYTES = 4 * 1024 * 1024;

/** A stanza written to the link, kept until the server confirms it. */
interface Unconfirmed {
  /** Position in the order of writes, across connections: a ping confirms up to one of these. */
  seq: number;
  stanza: string;
  bytes: number;
}

export class XmppOutbox {
  /** True while stanzas wait (taken back or in Redis): new ones must queue behind them. */
  private backlog = false;
  /** Appends started but not finished; draining may only stop when none is in flight. */
  private appending = 0;
  private draining: Promise<void> | null = null;
  /**
   * Written to the current connection, not yet confirmed, oldest first. Kept in memory rather
   * than in the Redis stream: a stream entry per stanza would put a Redis round trip (and Redis
   * itself, R3) in the way of every direct write, for what only matters if this process dies
   * within a round trip of writing; that loss is R1's "in flight at the kill".
   */
  private unconfirmed: Unconfirmed[] = [];
  private unconfirmedBytes = 0;
  /**
   * Taken back from a link that went down: written again before anything newer. In memory like
   * the unconfirmed list (a Redis stream cannot take entries back at its front): a process that
   * ends while the link is down loses them, as R1 loses what is in flight at a kill.
   */
  private resend: string[] = [];
  private writes = 0;
  /** A confirming ping is outstanding (or about to be sent). */
  private confirming = false;
  private confirmTimer: NodeJS.Timeout | null = null;
  /** Pings allowed right now (fractional while refilling), as of `tokensAt`. */
  private pingTokens = PING_BURST;
  private tokensAt = Date.now();
  /** Counts connections lost, so an answer that arrives after its link went down changes nothing. */
  private generation = 0;

  constructor(
    private readonly link: ComponentLink,
    private readonly outbox: Outbox,
    private readonly log: Logger,
  ) {
    link.on("online", () => void this.drain());
    link.on("offline", () => this.takeBack());
  }

  /** Checks Redis for stanzas left by an earlier process, and drains them once online. */
  async start(): Promise<void> {
    if ((await this.outbox.size()) > 0) {
      this.backlog = true;
      if (this.link.online) void this.drain();
    }
  }

  /** Resolves once the stanza was written to the link (and kept until confirmed) or stored in the outbox. */
  async send(stanza: Element): Promise<void> {
    const serialized = this.serialize(stanza);
    if (serialized === null) return;
    if (stanza.name === "iq") {
      // Not kept, so never queued either: an answer goes out while the link is up, or fails.
      await this.link.sendRaw(serialized);
      return;
    }
    if (this.link.online && !this.backlog && this.hasRoom()) {
      await this.write(serialized);
      return;
    }
    this.backlog = true;
    this.appending += 1;
    try {
      await this.outbox.append(serialized);
    } finally {
      this.appending -= 1;
    }
    if (this.link.online) void this.drain();
  }

  /**
   * The stanza as XML the server accepts, or null (logged) when it must not be sent: every
   * stanza leaves through here, so this is where a bad address built from network data (an empty
   * nick, an unescapable id) is stopped before a server that validates addresses drops the link
   * over it, and where characters XML 1.0 forbids (C0 controls from network text) are removed.
   */
  private serialize(stanza: Element): string | null {
    const { from, to } = stanza.attrs;
    if (!from || !to || !parseJid(from) || !parseJid(to)) {
      this.log.error({ name: stanza.name, from, to }, "refused to send a stanza with an invalid address");
      return null;
    }
    return stanza.toString().replace(XML_ILLEGAL, "");
  }

  private hasRoom(): boolean {
    return this.unconfirmed.length < MAX_UNCONFIRMED && this.unconfirmedBytes < MAX_UNCONFIRMED_BYTES;
  }

  /**
   * Writes to the link (which must be online) and keeps the stanza until confirmed. Never
   * throws: a failed write means the link is going down, and taking back the unconfirmed
   * stanzas then covers this one too.
   */
  private async write(stanza: string): Promise<void> {
    this.writes += 1;
    const bytes = Buffer.byteLength(stanza);
    this.unconfirmed.push({ seq: this.writes, stanza, bytes });
    this.unconfirmedBytes += bytes;
    // The link writes to its socket synchronously, in call order, before this awaits.
    const written = this.link.sendRaw(stanza);
    this.scheduleConfirm();
    try {
      await written;
    } catch {
      // Kept as unconfirmed: sent again once the link is back.
    }
  }

  /**
   * Pings soon after a write, unless a ping is on its way already (its answer schedules the next);
   * at once when the list is full, as nothing more can be written until it is confirmed.
   */
  private scheduleConfirm(): void {
    const full = !this.hasRoom();
    if (this.confirming && !(full && this.confirmTimer)) return;
    if (this.confirmTimer) clearTimeout(this.confirmTimer);
    this.confirming = true;
    const wait = full ? 0 : this.pingWait();
    // Even at no wait, a timer lets the stanzas written in the same turn share one ping.
    this.confirmTimer = setTimeout(() => {
      this.confirmTimer = null;
      this.confirm();
    }, wait);
    this.confirmTimer.unref?.();
  }

  private confirm(): void {
    if (this.unconfirmed.length === 0 || !this.link.online) {
      this.confirming = false;
      return;
    }
    const upTo = this.writes;
    const generation = this.generation;
    this.pingWait();
    // A full list pings without waiting for a token; it runs up no debt for later pings.
    this.pingTokens = Math.max(0, this.pingTokens - 1);
    this.link.ping().then(
      () => {
        if (generation !== this.generation) return;
        this.confirmed(upTo);
        this.confirming = false;
        if (this.unconfirmed.length > 0) this.scheduleConfirm();
        if (this.backlog && this.link.online) void this.drain();
      },
      () => {
        // The link went down: `takeBack` has taken the unconfirmed stanzas and reset the rest.
      },
    );
  }

  /** Refills the ping bucket; returns how long until a ping is allowed. */
  private pingWait(): number {
    const now = Date.now();
    this.pingTokens = Math.min(PING_BURST, this.pingTokens + (now - this.tokensAt) / CONFIRM_INTERVAL_MS);
    this.tokensAt = now;
    return this.pingTokens >= 1 ? 0 : Math.ceil((1 - this.pingTokens) * CONFIRM_INTERVAL_MS);
  }

  /** The server has read everything up to write `upTo`. */
  private confirmed(upTo: number): void {
    let n = 0;
    while (n < this.unconfirmed.length && this.unconfirmed[n]!.seq <= upTo) {
      this.unconfirmedBytes -= this.unconfirmed[n]!.bytes;
      n += 1;
    }
    this.unconfirmed.splice(0, n);
  }

  /** The link is down: what it did not confirm goes first in line, in order, for the next link. */
  private takeBack(): void {
    this.generation += 1;
    if (this.confirmTimer) clearTimeout(this.confirmTimer);
    this.confirmTimer = null;
    this.confirming = false;
    if (this.unconfirmed.length === 0) return;
    // Info, not a warning: a graceful stop ends here too (its stream close lets the server read them).
    this.log.info(
      { stanzas: this.unconfirmed.length },
      "XMPP link down with stanzas the server had not confirmed: kept to send again once it is back",
    );
    this.resend = [...this.unconfirmed.map((u) => u.stanza), ...this.resend];
    this.unconfirmed = [];
    this.unconfirmedBytes = 0;
    this.backlog = true;
  }

  /** Sends everything waiting, oldest first; stops (to resume later) if the link drops or is full. */
  drain(): Promise<void> {
    this.draining ??= this.drainOnce().finally(() => {
      this.draining = null;
    });
    return this.draining;
  }

  private async drainOnce(): Promise<void> {
    let sent = 0;
    try {
      while (this.link.online && this.hasRoom()) {
        const again = this.resend.shift();
        if (again !== undefined) {
          await this.write(again);
          sent += 1;
          continue;
        }
        const entries = await this.outbox.peek(BATCH);
        if (entries.length === 0) {
          if (this.appending === 0) {
            this.backlog = false;
            break;
          }
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        const done: string[] = [];
        try {
          for (const entry of entries) {
            // Re-checked before each write: taken-back stanzas (older) must go before these.
            if (!this.link.online || !this.hasRoom() || this.resend.length > 0) break;
            // Once written the stanza is kept as unconfirmed, so Redis can let it go.
            done.push(entry.id);
            await this.write(entry.stanza);
          }
        } finally {
          await this.outbox.ack(done);
          sent += done.length;
        }
      }
    } catch (err) {
      this.log.warn(
        { err: err instanceof Error ? err.message : String(err) },
        "outbox drain interrupted; resuming when the link is back",
      );
    }
    if (sent > 0) this.log.info({ sent }, "outbox drained");
  }
}
