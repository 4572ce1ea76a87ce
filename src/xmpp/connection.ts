/**
 * The XEP-0114 link from one gateway to the XMPP server.
 *
 * `@xmpp/component-core` does the stream and the handshake; this module adds what it lacks (see
 * DESIGN.md §8): reconnection with truncated exponential backoff and jitter instead of a fixed
 * one-second loop, a cap on the bytes of one stanza, strict UTF-8 decoding that survives a
 * character split across TCP segments, caps on element depth and attribute count, the
 * well-formedness checks ltx skips (duplicate attributes, undeclared namespace prefixes), a
 * `send` that fails loudly while the link is down, and XEP-0199 pings to the server: the keepalive
 * that finds a half-open link, and the receipts the outbox uses to know what the server has read.
 * The link is plain TCP: keep it on loopback or a private network.
 */
import { randomBytes } from "node:crypto";
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
  /** Reconnect timing: the first try within `firstMaxMs` (uniform), then doubling up to `maxMs`. */
  backoff?: { firstMaxMs: number; maxMs: number };
  /**
   * Half-open detection: after `idleMs` without a byte from the server, ping `pingTo` (a domain
   * the server answers for); with nothing received for `deadMs`, or a ping unanswered for `deadMs`,
   * drop the link and reconnect. `pingTo` is also where {@link ComponentLink.ping} goes.
   */
  keepalive: { pingTo: string; idleMs: number; deadMs: number };
  log: Logger;
}

/** Reconnection attempts never start closer together than this (RELIABILITY.md R7: ≤ 1 a second). */
const MIN_ATTEMPT_GAP_MS = 1_000;
/** Deepest element nesting a stanza may have (the stanza itself is level 1). */
export const MAX_ELEMENT_DEPTH = 64;
/** Most attributes one element may carry. */
export const MAX_ATTRIBUTES = 200;

interface LinkEvents {
  stanza: [stanza: Element];
  online: [];
  offline: [];
}

export class ComponentLink extends EventEmitter<LinkEvents> {
  private entity: Component | null = null;
  private stopped = true;
  private attempt = 0;
  /** When the last connection attempt started (for the 1 s floor between attempts). */
  private lastAttemptAt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private isOnline = false;
  private lastInbound = 0;
  private keepaliveTimer: NodeJS.Timeout | null = null;
  /** Pings written on the current connection and not answered yet, by id, oldest first. */
  private readonly pings = new Map<string, PendingPing>();
  private pingCount = 0;
  /** Makes ping ids unguessable, so nobody else's iq result can pass for the server's answer. */
  private readonly pingPrefix = randomBytes(6).toString("hex");

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

  /**
   * Pings the server (XEP-0199) and resolves when it answers (a result or an error: either proves
   * it read the ping). The server reads one stream in order, so the answer also proves it read
   * every stanza written on this connection before the ping. Rejects if the connection goes down
   * first; never times out by itself, as the keepalive drops a link whose pings go unanswered.
   */
  ping(): Promise<void> {
    const entity = this.entity;
    if (!entity || !this.isOnline) return Promise.reject(new Error("the XMPP server link is down"));
    this.pingCount += 1;
    const id = `ping-${this.pingPrefix}-${this.pingCount}`;
    const answered = new Promise<void>((resolve, reject) => {
      this.pings.set(id, { sentAt: Date.now(), resolve, reject });
    });
    const { domain, keepalive } = this.options;
    // A write that fails means the socket is going: its `disconnect` rejects the ping.
    void entity
      .write(
        `<iq type='get' id='${id}' from='${domain}' to='${keepalive.pingTo}'><ping xmlns='urn:xmpp:ping'/></iq>`,
      )
      .catch(() => undefined);
    return answered;
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
    this.stopKeepalive();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const entity = this.entity;
    this.entity = null;
    this.isOnline = false;
    this.failPings();
    if (entity) {
      entity.removeAllListeners();
      entity.on("error", () => undefined);
      entity.socket?.destroy();
    }
  }

  private setOnline(online: boolean): void {
    if (this.isOnline === online) return;
    this.isOnline = online;
    if (online) this.startKeepalive();
    else {
      this.stopKeepalive();
      this.failPings();
    }
    this.emit(online ? "online" : "offline");
  }

  /** Rejects every unanswered ping: their connection is gone, so no answer can come. */
  private failPings(): void {
    const pending = [...this.pings.values()];
    this.pings.clear();
    for (const ping of pending)
      ping.reject(new Error("the XMPP server link went down before the ping was answered"));
  }

  /** Settles the ping this stanza answers; false when it answers none of ours. */
  private settlePing(stanza: Element): boolean {
    const { type, id, from } = stanza.attrs;
    if (stanza.name !== "iq" || (type !== "result" && type !== "error") || !id) return false;
    const ping = this.pings.get(id);
    if (!ping || from?.toLowerCase() !== this.options.keepalive.pingTo.toLowerCase()) return false;
    this.pings.delete(id);
    ping.resolve();
    return true;
  }

  /**
   * A component link has no stream management: a dead TCP connection swallows what we write and
   * tells nobody. So the link expects to hear from the server, pinging it when quiet.
   */
  private startKeepalive(): void {
    const keepalive = this.options.keepalive;
    this.lastInbound = Date.now();
    this.keepaliveTimer = setInterval(
      () => {
        const entity = this.entity;
        if (!entity) return;
        const now = Date.now();
        const silentMs = now - this.lastInbound;
        // The oldest unanswered ping also counts: a link that still brings the server's stanzas
        // but no longer carries ours (half-open one way) never goes silent.
        const oldestPing = this.pings.values().next().value;
        const unansweredMs = oldestPing ? now - oldestPing.sentAt : 0;
        if (silentMs >= keepalive.deadMs || unansweredMs >= keepalive.deadMs) {
          this.options.log.warn(
            { silentMs, unansweredMs },
            "no answer from the XMPP server: dropping the link to reconnect",
          );
          this.onDown(entity);
        } else if (silentMs >= keepalive.idleMs) {
          // Any answer (even an error) proves the link; a link that never answers is dropped above.
          this.ping().catch(() => undefined);
        }
      },
      // Checked often enough that a dead link is found within a few seconds of deadMs.
      Math.max(100, Math.min(5_000, Math.floor(keepalive.idleMs / 2))),
    );
    this.keepaliveTimer.unref?.();
  }

  private stopKeepalive(): void {
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = null;
  }

  private connect(): void {
    this.lastAttemptAt = Date.now();
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
    entity.on("stanza", (stanza: Element) => {
      if (!this.settlePing(stanza)) this.emit("stanza", stanza);
    });
    entity.on("error", (err: unknown) => {
      log.warn({ err: err instanceof Error ? err.message : String(err) }, "component link error");
    });
    entity.on("disconnect", () => this.onDown(entity));
    entity.on("close", () => {
      // The server closed the stream: close the socket too, so `disconnect` follows.
      void entity.disconnect().catch(() => undefined);
    });

    // Not `entity.start()`: it creates an "online" promise before writing the stream header and
    // leaves it unhandled when that write fails (a server that accepts and then resets), which
    // is an unhandled rejection per failed attempt. "online" is handled by the listener above.
    entity
      .connect(entity.options.service)
      .then(() => entity.open({ domain }))
      .catch((err: unknown) => {
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
    const { firstMaxMs, maxMs } = this.options.backoff ?? { firstMaxMs: 5_000, maxMs: 60_000 };
    // RELIABILITY.md R7: the first try uniform over 0–firstMaxMs (a restarted server is not hit by
    // every component at once), then truncated exponential backoff with "equal jitter" (×2 up to
    // maxMs); never two attempts less than a second apart, even when a link that came up is
    // dropped at once and its attempt count starts again.
    const delay =
      this.attempt === 0
        ? Math.random() * firstMaxMs
        : (() => {
            const ceiling = Math.min(maxMs, firstMaxMs * 2 ** this.attempt);
            return ceiling / 2 + Math.random() * (ceiling / 2);
          })();
    const sinceLastAttempt = Date.now() - this.lastAttemptAt;
    const wait = Math.max(delay, MIN_ATTEMPT_GAP_MS - sinceLastAttempt);
    this.attempt += 1;
    this.options.log.info({ delayMs: Math.round(wait), attempt: this.attempt }, "component reconnecting");
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped) this.connect();
    }, wait);
    this.retryTimer.unref?.();
  }

  /**
   * Replaces the library's input path: strict streaming UTF-8 (a character split across two
   * segments arrives whole; invalid bytes end the stream), a per-stanza byte cap, and a parser
   * that enforces the structural limits (see {@link guardedParser}). After the first stream
   * error nothing more is read from this stream: the link is closing and will reconnect.
   */
  private guardInput(entity: Component): void {
    const decoder = new TextDecoder("utf-8", { fatal: true });
    const max = this.options.maxStanzaBytes;
    const log = this.options.log;
    let pendingBytes = 0;
    let tail = "";
    let failed = false;
    const fail = (condition: StreamErrorCondition, details: Record<string, unknown>, message: string) => {
      failed = true;
      log.warn(details, message);
      void entity._streamError(condition);
    };
    const host = entity as unknown as { Parser: XmlParserClass };
    host.Parser = guardedParser(host.Parser);
    entity.on("element", () => {
      pendingBytes = 0;
    });
    entity._onData = (data: Buffer) => {
      this.lastInbound = Date.now();
      if (failed) return;
      pendingBytes += data.length;
      if (pendingBytes > max) {
        fail(
          "policy-violation",
          { bytes: pendingBytes, max },
          "stanza over the size limit: closing the stream",
        );
        return;
      }
      let text: string;
      try {
        text = decoder.decode(data, { stream: true });
      } catch {
        fail("not-well-formed", {}, "invalid UTF-8 from the XMPP server: closing the stream");
        return;
      }
      // RFC 6120 §11.1: no DTDs or entity declarations in a stream. The parser would silently
      // swallow the rest of the stream after one, so refuse it before it gets there.
      const window = tail + text;
      tail = window.slice(-8);
      if (/<!(?!--)(?!\[CDATA\[)[A-Za-z]/.test(window)) {
        fail("restricted-xml", {}, "DTD or entity declaration from the XMPP server: closing the stream");
        return;
      }
      entity.emit("input", text);
      try {
        entity.parser?.write(text);
      } catch (err) {
        if (err instanceof StreamLimitError) {
          fail(
            err.condition,
            { reason: err.message },
            "XML from the XMPP server breaks a limit: closing the stream",
          );
          return;
        }
        // ltx throws (instead of emitting "error") on an undefined entity such as `&foo;`; left
        // alone, that exception would escape the socket handler and end the process.
        fail(
          "bad-format",
          { err: err instanceof Error ? err.message : String(err) },
          "unparsable XML from the XMPP server: closing the stream",
        );
      }
    };
  }
}

interface PendingPing {
  sentAt: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

type StreamErrorCondition = "policy-violation" | "not-well-formed" | "restricted-xml" | "bad-format";

/** Thrown from inside the parser to stop it at the offending element; the link turns it into a stream error. */
class StreamLimitError extends Error {
  constructor(
    readonly condition: "policy-violation" | "not-well-formed",
    message: string,
  ) {
    super(message);
    this.name = "StreamLimitError";
  }
}

/** A name from the wire, cut to a length fit for a log line. */
function short(name: string): string {
  return name.length > 64 ? `${name.slice(0, 64)}…` : name;
}

/** The part of @xmpp/xml's Parser (CommonJS, untyped) that the guard extends. */
interface XmlParser extends EventEmitter {
  write(data: string): void;
  onStartElement(name: string, attrs: Record<string, string>): void;
  onEndElement(name: string): void;
}
type XmlParserClass = new () => XmlParser;

/**
 * @xmpp/xml's Parser with limits, checked when an element starts and before it is built:
 * - depth over {@link MAX_ELEMENT_DEPTH} or more than {@link MAX_ATTRIBUTES} attributes →
 *   `policy-violation` (a 10 000-deep or 10 000-attribute stanza costs no more than its bytes);
 * - a repeated attribute or an undeclared namespace prefix → `not-well-formed` (XML 1.0 §3.1,
 *   Namespaces in XML §5). ltx accepts both: it keeps the last duplicate (so `to` could be read
 *   one way by the server and another by us) and does not resolve prefixes at all.
 * The parser builds attributes into one object, so duplicates are invisible by the time an
 * element starts; {@link StartTagAuditor} reads the same text alongside and reports them.
 */
function guardedParser(Base: XmlParserClass): XmlParserClass {
  return class GuardedParser extends Base {
    /** Prefixes declared by each open element (null when it declares none); [0] is the stream root. */
    private readonly scopes: (Set<string> | null)[] = [];
    private readonly auditor = new StartTagAuditor();

    override write(data: string): void {
      this.auditor.scan(data);
      try {
        super.write(data);
      } finally {
        // Both have seen the same text, so every start tag the auditor found was consumed; this
        // keeps them in step even if they ever disagree on some exotic input.
        this.auditor.reset();
      }
    }

    override onStartElement(name: string, attrs: Record<string, string>): void {
      const duplicate = this.auditor.nextHasDuplicate();
      // The stream root is level 0, a stanza level 1.
      if (this.scopes.length > MAX_ELEMENT_DEPTH) {
        throw new StreamLimitError("policy-violation", `elements nested deeper than ${MAX_ELEMENT_DEPTH}`);
      }
      const names = Object.keys(attrs);
      if (names.length > MAX_ATTRIBUTES) {
        throw new StreamLimitError(
          "policy-violation",
          `more than ${MAX_ATTRIBUTES} attributes on <${short(name)}>`,
        );
      }
      if (duplicate)
        throw new StreamLimitError("not-well-formed", `a repeated attribute on <${short(name)}>`);
      let declared: Set<string> | null = null;
      for (const attr of names) {
        if (!attr.startsWith("xmlns:")) continue;
        const prefix = attr.slice(6);
        if (attrs[attr] === "" || prefix === "xmlns" || prefix === "") {
          throw new StreamLimitError("not-well-formed", `an invalid namespace declaration ${short(attr)}`);
        }
        declared ??= new Set();
        declared.add(prefix);
      }
      this.scopes.push(declared);
      this.checkPrefix(name);
      for (const attr of names) if (attr !== "xmlns" && !attr.startsWith("xmlns:")) this.checkPrefix(attr);
      super.onStartElement(name, attrs);
    }

    override onEndElement(name: string): void {
      this.scopes.pop();
      super.onEndElement(name);
    }

    private checkPrefix(qname: string): void {
      const colon = qname.indexOf(":");
      if (colon === -1) return;
      const prefix = qname.slice(0, colon);
      if (colon === 0 || qname.indexOf(":", colon + 1) !== -1 || colon === qname.length - 1) {
        throw new StreamLimitError("not-well-formed", `a malformed qualified name ${short(qname)}`);
      }
      if (prefix === "xml") return;
      if (this.scopes.some((scope) => scope?.has(prefix))) return;
      throw new StreamLimitError("not-well-formed", `an undeclared namespace prefix ${short(prefix)}`);
    }
  };
}

/**
 * Reads the stream text the way ltx's tokenizer does (same states, same decisions: text, tag
 * name, attribute name/=/quote/value, comment, processing instruction, CDATA) but only to note,
 * for each start tag in order, whether it repeats an attribute name. It keeps its state across
 * chunks, like the parser, and stores nothing beyond the names of the tag it is in.
 */
class StartTagAuditor {
  private state:
    | "text"
    | "tagName"
    | "bang"
    | "tag"
    | "attrName"
    | "attrEq"
    | "attrQuot"
    | "attrValue"
    | "comment"
    | "instruction"
    | "cdata" = "text";
  private endTag = false;
  private tagNameLength = 0;
  private bang = "";
  private attrName = "";
  private quote = "";
  private names = new Set<string>();
  private duplicate = false;
  /** The last two characters stepped through, for `-->`, `]]>` and `?>`. */
  private last = "";
  private before = "";
  /** One flag per start tag found and not yet claimed by the parser. */
  private readonly found: boolean[] = [];

  scan(text: string): void {
    let i = 0;
    while (i < text.length) {
      // Skip what cannot matter quickly, as ltx does: text up to the next `<`, a value up to its quote.
      if (this.state === "text" || this.state === "attrValue") {
        const next = text.indexOf(this.state === "text" ? "<" : this.quote, i);
        if (next === -1) return;
        i = next;
      }
      const c = text[i]!;
      this.step(c);
      this.before = this.last;
      this.last = c;
      i += 1;
    }
  }

  /** Whether the next start tag, in stream order, repeated an attribute. */
  nextHasDuplicate(): boolean {
    return this.found.shift() ?? false;
  }

  reset(): void {
    this.found.length = 0;
  }

  private step(c: string): void {
    const space = c <= " ";
    switch (this.state) {
      case "text":
        if (c === "<") {
          this.state = "tagName";
          this.tagNameLength = 0;
          this.names.clear();
          this.duplicate = false;
        }
        return;
      case "tagName":
        if (c === "/" && this.tagNameLength === 0) this.endTag = true;
        else if (c === "!") {
          this.state = "bang";
          this.bang = "";
        } else if (c === "?") this.state = "instruction";
        else if (space || c === "/" || c === ">") {
          this.state = "tag";
          this.step(c);
        } else this.tagNameLength += 1;
        return;
      case "bang":
        // `<![CDATA[` opens a CDATA section; anything else after `<!` is skipped like a comment.
        this.bang += c;
        if (this.bang === "[CDATA[") this.state = "cdata";
        else if (!"[CDATA[".startsWith(this.bang)) {
          this.state = "comment";
          this.step(c);
        }
        return;
      case "tag":
        if (c === ">") {
          if (!this.endTag) this.found.push(this.duplicate);
          this.endTag = false;
          this.state = "text";
        } else if (c !== "/" && !space) {
          this.state = "attrName";
          this.attrName = c;
        }
        return;
      case "attrName":
        if (space || c === "=") {
          this.state = "attrEq";
          this.step(c);
        } else this.attrName += c;
        return;
      case "attrEq":
        if (c === "=") this.state = "attrQuot";
        return;
      case "attrQuot":
        if (c === '"' || c === "'") {
          this.quote = c;
          this.state = "attrValue";
        }
        return;
      case "attrValue":
        if (c === this.quote) {
          if (this.names.has(this.attrName)) this.duplicate = true;
          else this.names.add(this.attrName);
          this.state = "tag";
        }
        return;
      case "comment":
        if (c === ">" && (this.before + this.last === "--" || this.before + this.last === "]]"))
          this.state = "text";
        return;
      case "instruction":
        if (c === ">" && this.last === "?") this.state = "text";
        return;
      case "cdata":
        if (c === ">" && this.before + this.last === "]]") this.state = "text";
        return;
    }
  }
}
