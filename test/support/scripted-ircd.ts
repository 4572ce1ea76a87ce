/**
 * A tiny scripted IRC server in the test process, for what a real ircd cannot be made to do on
 * cue: K-line one client, close a link with a chosen `ERROR`, drop a socket mid-session.
 *
 * It plays just enough of a server for the gateway's IRC adapter: once a client has sent NICK and
 * USER, the test's `onRegister` decides what happens (by default `welcome()`); a welcomed client
 * gets JOIN echoed with an empty NAMES list, PING answered, and everything it sends recorded.
 * It counts every TCP connection it accepts, so a test can assert that nobody hammers it.
 */
import { createServer, type Server, type Socket } from "node:net";

/** One line a client sent, split into command and parameters (trailing one last, no colon). */
export interface ScriptedLine {
  /** Which client sent it (its registration nick). */
  nick: string;
  command: string;
  params: string[];
}

/** One client connection, as the script sees it. */
export interface ScriptedClient {
  /** The nick from the client's NICK line (the latest one). */
  readonly nick: string;
  /** 1 for the first connection the server accepted, 2 for the next, … */
  readonly number: number;
  /** Registers the client (001, 005); from then on JOIN, PART and PING are answered. */
  welcome(): void;
  /** Sends one line (CRLF appended). */
  send(line: string): void;
  /** Sends `lines` (e.g. a `465` and an `ERROR`), then closes the socket as a server does. */
  close(...lines: string[]): void;
  /** Destroys the socket without a word, as a crash or a cut cable. */
  drop(): void;
}

export interface ScriptedIrcdOptions {
  /** Called once a client sent NICK and USER; `client.welcome()` unless given. */
  onRegister?(client: ScriptedClient): void;
}

export interface ScriptedIrcd {
  port: number;
  /** Every TCP connection accepted so far. */
  readonly connections: number;
  /** Connections whose registration used `nick`. */
  connectionsOf(nick: string): number;
  /** Every line clients sent, in arrival order. */
  readonly received: readonly ScriptedLine[];
  /** The open, registered-or-registering client with this nick (the latest one). */
  client(nick: string): ScriptedClient | undefined;
  /** Resolves when the `n`-th connection arrives; rejects after `timeoutMs` (10 s) naming it. */
  waitForConnection(n: number, timeoutMs?: number): Promise<void>;
  /** The first received line (from index `since`) that matches; rejects after `timeoutMs` (10 s). */
  waitForLine(
    match: (line: ScriptedLine) => boolean,
    what: string,
    opts?: { since?: number; timeoutMs?: number },
  ): Promise<ScriptedLine>;
  close(): Promise<void>;
}

const SERVER = "scripted.test";

/** Starts the server on a free loopback port. */
export async function startScriptedIrcd(options: ScriptedIrcdOptions = {}): Promise<ScriptedIrcd> {
  const onRegister = options.onRegister ?? ((client: ScriptedClient) => client.welcome());
  const sockets = new Set<Socket>();
  const clients: { nick: string; client: ScriptedClient; socket: Socket }[] = [];
  const received: ScriptedLine[] = [];
  // Called after every connection and every line; each waiter removes itself once satisfied.
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of [...listeners]) listener();
  };
  let connections = 0;

  const server: Server = createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let nick = "*";
    let sentUser = false;
    let registered = false;
    let welcomed = false;
    const write = (line: string) => {
      if (!socket.destroyed && socket.writable) socket.write(`${line}\r\n`);
    };
    const client: ScriptedClient = {
      get nick() {
        return nick;
      },
      number: connections,
      welcome() {
        welcomed = true;
        write(`:${SERVER} 001 ${nick} :Welcome to the scripted network ${nick}`);
        write(`:${SERVER} 005 ${nick} CHANTYPES=# CASEMAPPING=rfc1459 PREFIX=(ov)@+ :are supported`);
      },
      send: write,
      close(...lines) {
        for (const line of lines) write(line);
        socket.end();
      },
      drop() {
        socket.destroy();
      },
    };
    let buffer = "";
    socket.on("data", (chunk) => {
      buffer += chunk.toString("utf8");
      const lines = buffer.split("\r\n");
      buffer = lines.pop() ?? "";
      for (const raw of lines) {
        const { command, params } = parse(raw);
        if (command === "NICK") nick = params[0] ?? nick;
        if (command === "USER") sentUser = true;
        received.push({ nick, command, params });
        if (!registered && sentUser && nick !== "*") {
          registered = true;
          clients.push({ nick, client, socket });
          onRegister(client);
        } else if (welcomed) {
          answer(command, params);
        }
      }
      notify();
    });
    const answer = (command: string, params: string[]) => {
      const prefix = `${nick}!${nick}@scripted.user`;
      if (command === "PING") write(`:${SERVER} PONG ${SERVER} :${params[0] ?? ""}`);
      if (command === "JOIN") {
        for (const channel of (params[0] ?? "").split(",")) {
          write(`:${prefix} JOIN ${channel}`);
          write(`:${SERVER} 353 ${nick} = ${channel} :${nick}`);
          write(`:${SERVER} 366 ${nick} ${channel} :End of NAMES list`);
        }
      }
      if (command === "PART") write(`:${prefix} PART ${params[0] ?? ""}`);
    };
    notify();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("scripted ircd has no TCP port");

  /** Resolves with `check()`'s value once it is defined, re-checked after every event. */
  const until = <T>(check: () => T | undefined, what: string, timeoutMs: number): Promise<T> => {
    const now = check();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const listener = () => {
        const value = check();
        if (value === undefined) return;
        listeners.delete(listener);
        clearTimeout(timer);
        resolve(value);
      };
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`scripted ircd: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      listeners.add(listener);
    });
  };

  return {
    port: address.port,
    get connections() {
      return connections;
    },
    connectionsOf: (nick) => clients.filter((c) => c.nick === nick).length,
    received,
    client: (nick) => clients.filter((c) => c.nick === nick && !c.socket.destroyed).at(-1)?.client,
    waitForConnection: (n, timeoutMs = 10_000) =>
      until(() => (connections >= n ? true : undefined), `connection #${n}`, timeoutMs).then(() => undefined),
    waitForLine: (match, what, opts = {}) =>
      until(() => received.slice(opts.since ?? 0).find(match), what, opts.timeoutMs ?? 10_000),
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `[:prefix] COMMAND a b :trailing` → command and params (tags are not expected from clients). */
function parse(raw: string): { command: string; params: string[] } {
  let rest = raw.startsWith(":") ? raw.slice(raw.indexOf(" ") + 1) : raw;
  const params: string[] = [];
  const trailingAt = rest.indexOf(" :");
  let trailing: string | undefined;
  if (trailingAt !== -1) {
    trailing = rest.slice(trailingAt + 2);
    rest = rest.slice(0, trailingAt);
  }
  const words = rest.split(" ").filter((w) => w !== "");
  const command = (words.shift() ?? "").toUpperCase();
  params.push(...words);
  if (trailing !== undefined) params.push(trailing);
  return { command, params };
}
