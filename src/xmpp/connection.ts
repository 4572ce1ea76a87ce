/**
 * The XEP-0114 link from one gateway to the XMPP server.
 *
 * `@xmpp/component-core` does the stream and the handshake; this module adds what it lacks (see
 * DESIGN.md §8): reconnection with truncated exponential backoff and jitter instead of a fixed
 * one-second loop, a cap on the bytes of one stanza, strict UTF-8 decoding that survives a
 * character split across TCP segments, and a `send` that fails loudly while the link is down.
 * The link is plain TCP: keep it on loopback or a private network.
 */
import { EventEmitter } from "node:events";
import { Component, type Element } from "@xmpp/component-core";
import type { Logger } from "pino";

export interface ComponentLinkOptions {
  host: string;
  port: number;
  domain: string;
  secret: string;
  /** A stanza larger than this closes the stream with `policy-violation`. */
  maxStanzaBytes: number;
  /** First reconnect delay bound and cap, in ms. */
  backoff?: { minMs: number; maxMs: number };
  log: Logger;
}

interface LinkEvents {
  stanza: [stanza: Element];
  online: [];
  offline: [];
}

export class ComponentLink extends EventEmitter<LinkEvents> {
  private entity: Component | null = null;
  private stopped = true;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private isOnline = false;

  constructor(private readonly options: ComponentLinkOptions) {
    super();
  }

  get online(): boolean {
    return this.isOnline;
  }

  /** Starts connecting; resolves at once. Watch `online`/`offline`. */
  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Resolves when the link is online, or rejects after `timeoutMs`. */
  async waitOnline(timeoutMs: number): Promise<void> {
    if (this.isOnline) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off("online", onOnline);
        reject(
          new Error(
            `XMPP server ${this.options.host}:${this.options.port} not reachable after ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const onOnline = () => {
        clearTimeout(timer);
        resolve();
      };
      this.once("online", onOnline);
    });
  }

  /** Writes a stanza; rejects when the link is down (the caller decides: retry or error). */
  async send(stanza: Element): Promise<void> {
    const entity = this.entity;
    if (!entity || !this.isOnline) throw new Error("the XMPP server link is down");
    await entity.send(stanza);
  }

  /** Writes an already serialised stanza (from the outbox); rejects when the link is down. */
  async sendRaw(stanza: string): Promise<void> {
    const entity = this.entity;
    if (!entity || !this.isOnline) throw new Error("the XMPP server link is down");
    await entity.write(stanza);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const entity = this.entity;
    this.entity = null;
    this.setOnline(false);
    if (entity) {
      try {
        await entity.stop();
      } catch {
        // Already gone: nothing left to close.
      }
    }
  }

  /** Drops the connection without closing the stream, as a crash would (for tests). */
  abandon(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const entity = this.entity;
    this.entity = null;
    this.isOnline = false;
    if (entity) {
      entity.removeAllListeners();
      entity.on("error", () => undefined);
      entity.socket?.destroy();
    }
  }

  private setOnline(online: boolean): void {
    if (this.isOnline === online) return;
    this.isOnline = online;
    this.emit(online ? "online" : "offline");
  }

  private connect(): void {
    const { host, port, domain, secret, log } = this.options;
    const entity = new Component({ service: `xmpp://${host}:${port}`, domain });
    this.entity = entity;
    this.guardInput(entity);

    entity.on("open", (header: Element) => {
      entity.authenticate(header.attrs.id ?? "", secret).catch((err: unknown) => {
        log.error({ err: String(err) }, "component handshake failed (wrong secret or domain?)");
        void entity.disconnect().catch(() => undefined);
      });
    });
    entity.on("online", () => {
      this.attempt = 0;
      log.info({ host, port, domain }, "component online");
      this.setOnline(true);
    });
    entity.on("stanza", (stanza: Element) => this.emit("stanza", stanza));
    entity.on("error", (err: unknown) => {
      log.warn({ err: err instanceof Error ? err.message : String(err) }, "component link error");
    });
    entity.on("disconnect", () => this.onDown(entity));
    entity.on("close", () => {
      // The server closed the stream: close the socket too, so `disconnect` follows.
      void entity.disconnect().catch(() => undefined);
    });

    entity.start().catch((err: unknown) => {
      log.warn(
        { err: err instanceof Error ? err.message : String(err), host, port },
        "component connect failed",
      );
      this.onDown(entity);
    });
  }

  private onDown(entity: Component): void {
    if (this.entity !== entity) return;
    this.entity = null;
    entity.removeAllListeners();
    entity.on("error", () => undefined);
    try {
      entity.socket?.destroy();
    } catch {
      // The socket may already be gone.
    }
    this.setOnline(false);
    if (this.stopped) return;
    const { minMs, maxMs } = this.options.backoff ?? { minMs: 1_000, maxMs: 60_000 };
    // Truncated exponential backoff with "equal jitter": never a tight loop, never in lockstep
    // with other gateways reconnecting to the same server.
    const ceiling = Math.min(maxMs, minMs * 2 ** this.attempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.attempt += 1;
    this.options.log.info({ delayMs: Math.round(delay), attempt: this.attempt }, "component reconnecting");
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped) this.connect();
    }, delay);
    this.retryTimer.unref?.();
  }

  /**
   * Replaces the library's input path: strict streaming UTF-8 (a character split across two
   * segments arrives whole; invalid bytes end the stream) and a per-stanza byte cap.
   */
  private guardInput(entity: Component): void {
    const decoder = new TextDecoder("utf-8", { fatal: true });
    const max = this.options.maxStanzaBytes;
    let pendingBytes = 0;
    let tail = "";
    entity.on("element", () => {
      pendingBytes = 0;
    });
    entity._onData = (data: Buffer) => {
      pendingBytes += data.length;
      if (pendingBytes > max) {
        this.options.log.warn({ bytes: pendingBytes, max }, "stanza over the size limit: closing the stream");
        pendingBytes = 0;
        void entity._streamError("policy-violation");
        return;
      }
      let text: string;
      try {
        text = decoder.decode(data, { stream: true });
      } catch {
        this.options.log.warn("invalid UTF-8 from the XMPP server: closing the stream");
        void entity._streamError("not-well-formed");
        return;
      }
      // RFC 6120 §11.1: no DTDs or entity declarations in a stream. The parser would silently
      // swallow the rest of the stream after one, so refuse it before it gets there.
      const window = tail + text;
      tail = window.slice(-8);
      if (/<!(?!--)(?!\[CDATA\[)[A-Za-z]/.test(window)) {
        this.options.log.warn("DTD or entity declaration from the XMPP server: closing the stream");
        void entity._streamError("restricted-xml");
        return;
      }
      entity.emit("input", text);
      try {
        entity.parser?.write(text);
      } catch (err) {
        // ltx throws (instead of emitting "error") on an undefined entity such as `&foo;`; left
        // alone, that exception would escape the socket handler and end the process.
        this.options.log.warn(
          { err: err instanceof Error ? err.message : String(err) },
          "unparsable XML from the XMPP server: closing the stream",
        );
        void entity._streamError("bad-format");
      }
    };
  }
}
