/**
 * A raw IRC client for tests, on plain node:net.
 *
 * It is deliberately not irc-framework: tests must see the exact lines on the wire (tags, prefixes,
 * bytes that are not UTF-8), and must be able to send anything a hostile or odd client would.
 * It does only what registration needs: CAP REQ, NICK/USER, and answering PING.
 *
 * Waiting never misses a line: every line received is kept in `lines`, and `waitFor` searches
 * those already received (from a mark) before it listens for new ones.
 */
import { connect, type Socket } from "node:net";

/** One IRC line as received, split into its parts (RFC 1459 framing, IRCv3 message tags). */
export interface ParsedLine {
  /** The line decoded as UTF-8 (invalid bytes become U+FFFD), without CR/LF. */
  raw: string;
  /** The exact bytes of the line, without CR/LF; use these to check non-UTF-8 text. */
  bytes: Buffer;
  /** IRCv3 message tags with their values unescaped; a tag without a value maps to "". */
  tags: Record<string, string>;
  /** The source, e.g. `nick!user@host` or a server name, without the leading colon. */
  prefix?: string;
  /** The nick part of the prefix when the prefix names a user (`nick!user@host` or `nick@host`). */
  nick?: string;
  /** The command or numeric, upper-cased (e.g. `PRIVMSG`, `001`). */
  command: string;
  /** Parameters; the trailing one (after ` :`) is the last element, without its colon. */
  params: string[];
}

/** Options for {@link RawIrcClient.waitFor} and friends. */
export interface WaitOptions {
  /** Index in `lines` to search from; 0 (the default) searches every line ever received. Take it from `mark()`. */
  since?: number;
  /** How long to wait before failing; 10 s by default. */
  timeoutMs?: number;
}

/** A connected, registered IRC test client. */
export interface RawIrcClient {
  /** The nick the server accepted (from the 001 reply). */
  readonly nick: string;
  /** Every line received since the connection opened, in order, including PINGs. */
  readonly lines: ParsedLine[];
  /** Sends one line (UTF-8, CRLF appended). Throws on CR or LF inside the line. */
  send(line: string): void;
  /** Sends one line given as raw bytes (CRLF appended), e.g. latin-1 text. Throws on CR or LF inside. */
  sendBytes(bytes: Buffer): void;
  /** The index the next received line will get; pass it as `since` to wait only for lines after now. */
  mark(): number;
  /** The first line at or after `since` that matches; fails after the timeout, naming `what`. */
  waitFor(match: (line: ParsedLine) => boolean, what: string, options?: WaitOptions): Promise<ParsedLine>;
  /** The first `count` lines at or after `since` that match, in arrival order. */
  waitForAll(
    match: (line: ParsedLine) => boolean,
    count: number,
    what: string,
    options?: WaitOptions,
  ): Promise<ParsedLine[]>;
  /** Joins a channel and resolves at the end of its NAMES list; rejects on a join error numeric. */
  join(channel: string, key?: string): Promise<void>;
  /** Sends `PRIVMSG target :text`. */
  privmsg(target: string, text: string): void;
  /** True once the server or we closed the connection. */
  readonly closed: boolean;
  /** Resolves once the connection is closed (e.g. by a server restart); fails after `timeoutMs` (10 s). */
  untilClosed(timeoutMs?: number): Promise<void>;
  /** Sends QUIT and closes the socket; resolves once it is closed. */
  close(): Promise<void>;
}

/** Options for {@link connectIrc}. */
export interface ConnectIrcOptions {
  host?: string;
  port: number;
  nick: string;
  /** Username for USER; defaults to the nick. */
  user?: string;
  /** Server password sent with PASS before registration. */
  password?: string;
  /** IRCv3 capabilities to request; registration fails if the server refuses any of them. */
  caps?: string[];
  /** Bound on connecting and registering; 10 s by default. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** Numerics that mean a JOIN failed (RFC 2812 and common extensions). */
const JOIN_ERRORS = new Set(["403", "405", "437", "471", "473", "474", "475", "476", "477", "479", "489"]);

/** Numerics that mean registration cannot complete with this nick. */
const NICK_ERRORS = new Set(["431", "432", "433", "436", "437"]);

/** Connects to an IRC server, registers, and resolves once the server sends 001 (welcome). */
export async function connectIrc(options: ConnectIrcOptions): Promise<RawIrcClient> {
  const host = options.host ?? "127.0.0.1";
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const socket = connect({ host, port: options.port });
  const client = new IrcConnection(socket, `${options.nick}@${host}:${options.port}`);
  try {
    await client.connected(timeoutMs);
    await client.register(options, timeoutMs);
  } catch (error) {
    socket.destroy();
    throw error;
  }
  return client;
}

/** Splits one received IRC line (without CR/LF) into its parts. */
export function parseIrcLine(bytes: Buffer): ParsedLine {
  const raw = bytes.toString("utf8");
  let rest = raw;
  const tags: Record<string, string> = {};
  if (rest.startsWith("@")) {
    const end = spaceOrEnd(rest);
    for (const tag of rest.slice(1, end).split(";")) {
      if (tag === "") continue;
      const eq = tag.indexOf("=");
      if (eq === -1) tags[tag] = "";
      else tags[tag.slice(0, eq)] = unescapeTagValue(tag.slice(eq + 1));
    }
    rest = rest.slice(end).trimStart();
  }
  let prefix: string | undefined;
  if (rest.startsWith(":")) {
    const end = spaceOrEnd(rest);
    prefix = rest.slice(1, end);
    rest = rest.slice(end).trimStart();
  }
  const params: string[] = [];
  const commandEnd = spaceOrEnd(rest);
  const command = rest.slice(0, commandEnd).toUpperCase();
  rest = rest.slice(commandEnd).trimStart();
  while (rest !== "") {
    if (rest.startsWith(":")) {
      params.push(rest.slice(1));
      break;
    }
    const end = spaceOrEnd(rest);
    params.push(rest.slice(0, end));
    rest = rest.slice(end).trimStart();
  }
  const line: ParsedLine = { raw, bytes, tags, command, params };
  if (prefix !== undefined) {
    line.prefix = prefix;
    // A server name contains a dot and no '!' or '@'; anything else names a user.
    const userMark = prefix.search(/[!@]/);
    if (userMark > 0) line.nick = prefix.slice(0, userMark);
    else if (!prefix.includes(".")) line.nick = prefix;
  }
  return line;
}

function spaceOrEnd(text: string): number {
  const space = text.indexOf(" ");
  return space === -1 ? text.length : space;
}

/** Undoes the IRCv3 tag value escaping (`\:` `\s` `\\` `\r` `\n`); a trailing lone backslash is dropped. */
function unescapeTagValue(value: string): string {
  return value.replace(/\\(.?)/g, (_all, next: string) => {
    switch (next) {
      case ":":
        return ";";
      case "s":
        return " ";
      case "r":
        return "\r";
      case "n":
        return "\n";
      default:
        return next; // covers "\\" -> "\" and unknown escapes -> the character itself
    }
  });
}

interface Waiter {
  check(line: ParsedLine): boolean;
  fail(error: Error): void;
}

class IrcConnection implements RawIrcClient {
  readonly lines: ParsedLine[] = [];
  nick = "";
  closed = false;
  private pending = Buffer.alloc(0);
  private readonly waiters = new Set<Waiter>();
  private readonly socketClosed: Promise<void>;
  private closeReason = "";

  constructor(
    private readonly socket: Socket,
    private readonly label: string,
  ) {
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("error", (error) => {
      this.closeReason = error.message;
    });
    this.socketClosed = new Promise((resolve) => {
      socket.once("close", () => {
        this.closed = true;
        const error = new Error(
          `IRC connection ${this.label} closed${this.closeReason ? ` (${this.closeReason})` : ""}; last lines:\n${this.tail()}`,
        );
        for (const waiter of this.waiters) waiter.fail(error);
        this.waiters.clear();
        resolve();
      });
    });
  }

  /** Resolves when the TCP connection is up. */
  connected(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out connecting to IRC ${this.label}`)),
        timeoutMs,
      );
      this.socket.once("connect", () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.once("error", (error) => {
        clearTimeout(timer);
        reject(new Error(`cannot connect to IRC ${this.label}: ${error.message}`));
      });
    });
  }

  /** CAP REQ (if asked), PASS, NICK, USER; resolves at 001. */
  async register(options: ConnectIrcOptions, timeoutMs: number): Promise<void> {
    const start = this.mark();
    const caps = options.caps ?? [];
    if (caps.length > 0) this.send(`CAP REQ :${caps.join(" ")}`);
    if (options.password !== undefined) this.send(`PASS :${options.password}`);
    this.send(`NICK ${options.nick}`);
    this.send(`USER ${options.user ?? options.nick} 0 * :${options.nick}`);
    if (caps.length > 0) {
      const reply = await this.waitFor(
        (l) => l.command === "CAP" && (l.params[1] === "ACK" || l.params[1] === "NAK"),
        `CAP ACK/NAK for ${caps.join(" ")}`,
        { since: start, timeoutMs },
      );
      if (reply.params[1] === "NAK") throw new Error(`IRC server refused caps: ${reply.params[2] ?? ""}`);
      this.send("CAP END");
    }
    const welcome = await this.waitFor(
      (l) => l.command === "001" || l.command === "ERROR" || NICK_ERRORS.has(l.command),
      "001 (registration complete)",
      { since: start, timeoutMs },
    );
    if (welcome.command !== "001") throw new Error(`IRC registration failed: ${welcome.raw}`);
    this.nick = welcome.params[0] ?? options.nick;
  }

  send(line: string): void {
    if (/[\r\n]/.test(line))
      throw new Error(`refusing to send an IRC line containing CR or LF: ${JSON.stringify(line)}`);
    this.socket.write(`${line}\r\n`);
  }

  sendBytes(bytes: Buffer): void {
    if (bytes.includes(0x0d) || bytes.includes(0x0a))
      throw new Error("refusing to send IRC bytes containing CR or LF");
    this.socket.write(Buffer.concat([bytes, Buffer.from("\r\n")]));
  }

  mark(): number {
    return this.lines.length;
  }

  async waitFor(
    match: (line: ParsedLine) => boolean,
    what: string,
    options: WaitOptions = {},
  ): Promise<ParsedLine> {
    const [line] = await this.waitForAll(match, 1, what, options);
    return line!;
  }

  waitForAll(
    match: (line: ParsedLine) => boolean,
    count: number,
    what: string,
    options: WaitOptions = {},
  ): Promise<ParsedLine[]> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const found = this.lines
      .slice(options.since ?? 0)
      .filter(match)
      .slice(0, count);
    if (found.length >= count) return Promise.resolve(found);
    if (this.closed)
      return Promise.reject(new Error(`IRC connection ${this.label} is closed; wanted ${what}`));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        check: (line) => {
          if (!match(line)) return false;
          found.push(line);
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
            `timed out after ${timeoutMs} ms on IRC ${this.label} waiting for ${what} (${found.length}/${count} seen); last lines:\n${this.tail()}`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  async join(channel: string, key?: string): Promise<void> {
    const start = this.mark();
    this.send(key === undefined ? `JOIN ${channel}` : `JOIN ${channel} ${key}`);
    const target = channel.toLowerCase();
    const reply = await this.waitFor(
      (l) => (l.command === "366" || JOIN_ERRORS.has(l.command)) && l.params[1]?.toLowerCase() === target,
      `end of NAMES (366) for ${channel}`,
      { since: start },
    );
    if (reply.command !== "366") throw new Error(`cannot join ${channel}: ${reply.raw}`);
  }

  privmsg(target: string, text: string): void {
    this.send(`PRIVMSG ${target} :${text}`);
  }

  async untilClosed(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(`timed out after ${timeoutMs} ms waiting for IRC connection ${this.label} to close`),
          ),
        timeoutMs,
      );
    });
    try {
      await Promise.race([this.socketClosed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.socket.end("QUIT :test done\r\n");
      // Servers close after QUIT; do not hang on one that does not.
      const timer = setTimeout(() => this.socket.destroy(), 2_000);
      await this.socketClosed;
      clearTimeout(timer);
    }
  }

  private receive(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    for (;;) {
      const newline = this.pending.indexOf(0x0a);
      if (newline === -1) break;
      let end = newline;
      if (end > 0 && this.pending[end - 1] === 0x0d) end -= 1;
      const bytes = Buffer.from(this.pending.subarray(0, end));
      this.pending = this.pending.subarray(newline + 1);
      if (bytes.length > 0) this.accept(parseIrcLine(bytes));
    }
  }

  private accept(line: ParsedLine): void {
    this.lines.push(line);
    // Answer keepalives so a long test is not disconnected; the PING stays visible in `lines`.
    if (line.command === "PING") this.send(`PONG :${line.params[line.params.length - 1] ?? ""}`);
    for (const waiter of this.waiters) {
      if (waiter.check(line)) this.waiters.delete(waiter);
    }
  }

  private tail(): string {
    return this.lines
      .slice(-15)
      .map((l) => `  ${l.raw}`)
      .join("\n");
  }
}
