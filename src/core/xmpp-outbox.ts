/**
 * The way out to the XMPP server that loses nothing while the server is away. A stanza goes
 * straight to the component link when it is up and nothing is waiting; otherwise it is appended
 * to the gateway's outbox in Redis, and the outbox is drained in order as soon as the link is
 * back. A component has no stream management (XEP-0198), so "delivered" means "written to the
 * socket": what is in flight when the TCP connection drops is the one loss we cannot see.
 *
 * IQ results are not kept: whoever asked has given up by the time the server returns.
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

export class XmppOutbox {
  /** True while stanzas wait in Redis: new ones must queue behind them to keep the order. */
  private backlog = false;
  /** Appends started but not finished; draining may only stop when none is in flight. */
  private appending = 0;
  private draining: Promise<void> | null = null;

  constructor(
    private readonly link: ComponentLink,
    private readonly outbox: Outbox,
    private readonly log: Logger,
  ) {
    link.on("online", () => void this.drain());
  }

  /** Checks Redis for stanzas left by an earlier process, and drains them once online. */
  async start(): Promise<void> {
    if ((await this.outbox.size()) > 0) {
      this.backlog = true;
      if (this.link.online) void this.drain();
    }
  }

  /** Resolves once the stanza was written to the link or stored in the outbox. */
  async send(stanza: Element): Promise<void> {
    const serialized = this.serialize(stanza);
    if (serialized === null) return;
    if (this.link.online && !this.backlog) {
      try {
        await this.link.sendRaw(serialized);
        return;
      } catch (err) {
        if (stanza.name === "iq") throw err;
        // The link went down under us: keep the stanza for when it is back.
      }
    }
    if (stanza.name === "iq") throw new Error("the XMPP server link is down");
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

  /** Sends everything waiting, oldest first; stops (to resume later) if the link drops. */
  drain(): Promise<void> {
    this.draining ??= this.drainOnce().finally(() => {
      this.draining = null;
    });
    return this.draining;
  }

  private async drainOnce(): Promise<void> {
    let sent = 0;
    try {
      while (this.link.online) {
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
            await this.link.sendRaw(entry.stanza);
            done.push(entry.id);
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
