/**
 * An XMPP user for tests, on @xmpp/client 0.13 over plain TCP to a local Prosody.
 *
 * It answers nothing by itself: @xmpp/client normally replies `service-unavailable` to every
 * iq get/set nobody handles, which would race a test that wants to answer (or ignore) an iq from
 * the gateway. Every stanza received is kept in `stanzas`, and `waitFor` searches those already
 * received (from a mark) before it listens for new ones, so a test cannot miss a stanza that
 * arrived before it started waiting. Reconnecting is off: a dropped connection stays dropped and
 * pending waits fail at once, naming what they waited for.
 */
import { randomUUID } from "node:crypto";
import { client, type Element, xml } from "@xmpp/client";

export { type Element, xml };

/** Options for {@link XmppTestClient.waitFor}. */
export interface XmppWaitOptions {
  /** Index in `stanzas` to search from; 0 (the default) searches every stanza ever received. Take it from `mark()`. */
  since?: number;
  /** How long to wait before failing; 10 s by default. */
  timeoutMs?: number;
}

/** A connected, authenticated XMPP user with a bound resource. */
export interface XmppTestClient {
  /** The full JID the server bound, e.g. `alice@localhost/test`. */
  readonly jid: string;
  /** The bare JID, e.g. `alice@localhost`. */
  readonly bare: string;
  /** Every stanza (message, presence, iq) received since login, in order. */
  readonly stanzas: Element[];
  /** Errors @xmpp/client reported (stream errors, socket errors), for diagnostics. */
  readonly errors: Error[];
  /** Sends a stanza as is. */
  send(element: Element): Promise<void>;
  /** Sends `<presence>` with the given attributes and children (available presence by default). */
  sendPresence(attrs?: Record<string, string>, children?: Element[]): Promise<void>;
  /** The index the next received stanza will get; pass it as `since` to wait only for stanzas after now. */
  mark(): number;
  /** The first stanza at or after `since` that matches; fails after the timeout, naming `what`. */
  waitFor(match: (stanza: Element) => boolean, what: string, options?: XmppWaitOptions): Promise<Element>;
  /** The first `count` stanzas at or after `since` that match, in arrival order. */
  waitForAll(
    match: (stanza: Element) => boolean,
    count: number,
    what: string,
    options?: XmppWaitOptions,
  ): Promise<Element[]>;
  /**
   * Sends an `<iq type="get|set">` (an id is added) and resolves with the `<iq type="result">` reply;
   * an `<iq type="error">` reply rejects with an {@link IqError} carrying the error condition.
   */
  iq(request: Element, timeoutMs?: number): Promise<Element>;
  /** True once the connection is gone (stopped, or dropped by the server). */
  readonly closed: boolean;
  /** Resolves once the connection is gone (e.g. by a server restart); fails after `timeoutMs` (10 s). */
  untilClosed(timeoutMs?: number): Promise<void>;
  /** Closes the stream; resolves once the socket is closed. */
  stop(): Promise<void>;
}

/** Options for {@link connectXmpp}. */
export interface ConnectXmppOptions {
  /** Prosody's c2s port on 127.0.0.1. */
  port: number;
  /** The user's server domain, e.g. "localhost". */
  domain: string;
  username: string;
  password: string;
  /** Resource to bind; "test" by default. */
  resource?: string;
  /** Bound on connecting and logging in; 10 s by default. */
  timeoutMs?: number;
}

/** An `<iq type="error">` reply, with its RFC 6120 error condition. */
export class IqError extends Error {
  constructor(
    /** The defined condition, e.g. "item-not-found". */
    readonly condition: string,
    /** The error type: cancel, modify, auth, wait or continue. */
    readonly type: string,
    /** The whole `<iq type="error">` stanza. */
    readonly stanza: Element,
  ) {
    const text = stanza.getChild("error")?.getChildText("text", STANZAS_NS);
    super(`iq error ${type}/${condition}${text ? `: ${text}` : ""}`);
    this.name = "IqError";
  }
}

const STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas";
const DEFAULT_TIMEOUT_MS = 10_000;

/** Logs in as a user over plain TCP to 127.0.0.1 and resolves once the resource is bound. */
export async function connectXmpp(options: ConnectXmppOptions): Promise<XmppTestClient> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const entity = client({
    service: `xmpp://127.0.0.1:${options.port}`,
    domain: options.domain,
    resource: options.resource ?? "test",
    username: options.username,
    password: options.password,
    timeout: timeoutMs,
  });
  entity.reconnect.stop();
  entity.prependListener("element", hideScramMechanisms);
  const label = `${options.username}@${options.domain}`;
  const session = new XmppSession(entity, label);
  // The listeners present now are @xmpp/client's middleware: it negotiates the stream, and later
  // would auto-answer iqs. It is detached the moment the session is online (see the module
  // comment), synchronously, so not even a stanza in the same TCP read is auto-answered.
  const middleware = (entity.listeners("element") as Array<(...args: unknown[]) => void>).filter(
    (listener) => listener !== hideScramMechanisms,
  );
  entity.once("online", () => {
    for (const listener of middleware) entity.removeListener("element", listener);
  });
  let timer: NodeJS.Timeout | undefined;
  const started = entity.start();
  // If the timeout wins the race, the late rejection of start() must not become an unhandled one.
  started.catch(() => {});
  try {
    const bound = await Promise.race([
      started,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`timed out after ${timeoutMs} ms logging in as ${label}`)),
          timeoutMs,
        );
      }),
    ]);
    session.online(bound.toString());
  } catch (error) {
    await session.stop();
    throw new Error(`cannot log in to XMPP as ${label} on port ${options.port}: ${(error as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
  return session;
}

const SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl";

/**
 * Removes SCRAM-* from the SASL mechanisms the server offers, so @xmpp/client falls back to PLAIN.
 * Why: @xmpp/sasl 0.13 expects a mechanism's response to be a string, but sasl-scram-sha-1 1.4
 * (what its `^1.3.0` range installs) returns a Promise, so SCRAM sends an empty response and
 * Prosody answers `malformed-request`. PLAIN over loopback is fine for tests.
 */
function hideScramMechanisms(element: Element): void {
  if (element.name !== "stream:features") return;
  const mechanisms = element.getChild("mechanisms", SASL_NS);
  if (!mechanisms) return;
  for (const mechanism of mechanisms.getChildren("mechanism")) {
    if (mechanism.text().startsWith("SCRAM-")) mechanisms.remove(mechanism);
  }
}

interface Waiter {
  check(stanza: Element): boolean;
  fail(error: Error): void;
}

type Entity = ReturnType<typeof client>;

class XmppSession implements XmppTestClient {
  readonly stanzas: Element[] = [];
  readonly errors: Error[] = [];
  jid = "";
  bare = "";
  closed = false;
  private readonly waiters = new Set<Waiter>();
  private markClosed: () => void = () => {};
  private readonly closedPromise = new Promise<void>((resolve) => {
    this.markClosed = resolve;
  });

  constructor(
    private readonly entity: Entity,
    private readonly label: string,
  ) {
    entity.on("stanza", (stanza: Element) => this.accept(stanza));
    // Without an "error" listener an EventEmitter throws; keep errors for diagnostics instead.
    entity.on("error", (error: Error) => this.errors.push(error));
    entity.on("disconnect", () => this.dropped());
    entity.on("offline", () => this.dropped());
  }

  online(fullJid: string): void {
    this.jid = fullJid;
    this.bare = fullJid.split("/")[0] ?? fullJid;
  }

  send(element: Element): Promise<void> {
    return this.entity.send(element);
  }

  sendPresence(attrs: Record<string, string> = {}, children: Element[] = []): Promise<void> {
    return this.entity.send(xml("presence", attrs, ...children));
  }

  mark(): number {
    return this.stanzas.length;
  }

  async waitFor(
    match: (stanza: Element) => boolean,
    what: string,
    options: XmppWaitOptions = {},
  ): Promise<Element> {
    const [stanza] = await this.waitForAll(match, 1, what, options);
    return stanza!;
  }

  waitForAll(
    match: (stanza: Element) => boolean,
    count: number,
    what: string,
    options: XmppWaitOptions = {},
  ): Promise<Element[]> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const found = this.stanzas
      .slice(options.since ?? 0)
      .filter(match)
      .slice(0, count);
    if (found.length >= count) return Promise.resolve(found);
    if (this.closed)
      return Promise.reject(new Error(`XMPP connection of ${this.label} is closed; wanted ${what}`));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        check: (stanza) => {
          if (!match(stanza)) return false;
          found.push(stanza);
          if (found.length < count) return false;
          clearTimeout(timer);
          resolve(found);
          return true;
        },
        fail: (error) => {
          clearTimeout(timer);
          reject(new Error(`${error.message}\nwhile waiting for ${what} (${found.length}/${count} seen)`));
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms as ${this.label} waiting for ${what} (${found.length}/${count} seen); last stanzas:\n${this.tail()}`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  async iq(request: Element, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Element> {
    const type = request.attrs.type;
    if (request.name !== "iq" || (type !== "get" && type !== "set")) {
      throw new Error(`iq() needs an <iq type="get|set">, got <${request.name} type="${type}">`);
    }
    const id = randomUUID();
    request.attrs.id = id;
    const since = this.mark();
    await this.entity.send(request);
    const reply = await this.waitFor(
      (s) => s.name === "iq" && s.attrs.id === id && (s.attrs.type === "result" || s.attrs.type === "error"),
      `reply to iq ${type} ${request.getChildElements()[0]?.getNS() ?? ""} to ${request.attrs.to ?? "own account"}`,
      { since, timeoutMs },
    );
    if (reply.attrs.type === "result") return reply;
    const error = reply.getChild("error");
    const condition = error
      ?.getChildElements()
      .find((c) => c.getNS() === STANZAS_NS && c.name !== "text")?.name;
    throw new IqError(condition ?? "undefined-condition", error?.attrs.type ?? "cancel", reply);
  }

  async untilClosed(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `timed out after ${timeoutMs} ms waiting for the XMPP connection of ${this.label} to close`,
            ),
          ),
        timeoutMs,
      );
    });
    try {
      await Promise.race([this.closedPromise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    if (this.entity.status === "offline" || this.entity.status === "disconnect") {
      this.dropped();
      return;
    }
    try {
      await this.entity.stop();
    } catch (error) {
      // The server may already have closed the stream; what matters is that the socket is gone.
      this.errors.push(error as Error);
    }
    this.dropped();
  }

  private accept(stanza: Element): void {
    this.stanzas.push(stanza);
    for (const waiter of this.waiters) {
      if (waiter.check(stanza)) this.waiters.delete(waiter);
    }
  }

  private dropped(): void {
    if (this.closed) return;
    this.closed = true;
    this.markClosed();
    const errors = this.errors.map((e) => e.message).join("; ");
    const error = new Error(
      `XMPP connection of ${this.label} closed${errors ? ` (${errors})` : ""}; last stanzas:\n${this.tail()}`,
    );
    for (const waiter of this.waiters) waiter.fail(error);
    this.waiters.clear();
  }

  private tail(): string {
    return this.stanzas
      .slice(-10)
      .map((s) => `  ${s.toString().slice(0, 500)}`)
      .join("\n");
  }
}
