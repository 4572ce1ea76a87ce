/**
 * The IRC gateway end to end, for integration tests: a real Redis, a real Prosody with the
 * gateway's component and test users, a real IRC server (ngIRCd, or InspIRCd for IRCv3), and
 * Postern in this process with the real IRC adapter, configured from YAML as an operator would.
 *
 * The gateway is `irc.localhost`; the IRC server is listed in its settings as `localhost`, so
 * channel `#chan` is the room `#chan%localhost@irc.localhost` and nick `bob` is the contact
 * `bob%localhost@irc.localhost`. Flood limits are raised so tests are not paced; a second
 * gateway, `irc-slow.localhost`, keeps a small flood limiter for the tests of it; an optional
 * third, `irc-prod.localhost`, has the production limits.
 *
 * Postern reaches the IRC server through a small TCP relay in this file, so that a "crash" can cut
 * the gateway's IRC sockets the way `kill -9` does (no QUIT, the server just sees the sockets
 * close), while raw IRC test clients connect to the server directly.
 */
import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import pino from "pino";
import { ircAdapter } from "../../adapters/irc/index.ts";
import type { AdapterFactory } from "../../src/adapter/adapter.ts";
import { parseConfigText } from "../../src/config/load.ts";
import type { PosternConfig } from "../../src/config/schema.ts";
import { type RunningPostern, startPostern } from "../../src/core/app.ts";
import { type FaultProxy, startFaultProxy } from "./fault-proxy.ts";
import { connectIrc, type RawIrcClient } from "./irc-client.ts";
import { type IrcServer, startInspircd, startNgircd } from "./ircd.ts";
import { type ProsodyServer, startProsody } from "./prosody.ts";
import { type RedisServer, startRedis } from "./redis.ts";
import { connectXmpp, type Element, type XmppTestClient, xml } from "./xmpp-client.ts";

export const IRC_GATEWAY = "irc.localhost";
/** A second gateway on the same IRC server with a small flood limiter (burst 2, queue 4). */
export const SLOW_GATEWAY = "irc-slow.localhost";
/** With `productionGateway`: a gateway with the production throttle profile (the IRC defaults). */
export const PROD_GATEWAY = "irc-prod.localhost";
/** The IRC server's name in the gateway settings (and so in every address). */
export const IRC_SERVER = "localhost";
export const IRC_USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "mallory", "admin"] as const;
export type IrcTestUser = (typeof IRC_USERS)[number];
export const PASSWORD = "secret-pw";

/** `#chan` → `#chan%localhost@irc.localhost`. */
export function roomJid(channel: string, gateway: string = IRC_GATEWAY): string {
  return `${channel}%${IRC_SERVER}@${gateway}`;
}

/** `bob` → `bob%localhost@irc.localhost`. */
export function contactJid(nick: string, gateway: string = IRC_GATEWAY): string {
  return `${nick}%${IRC_SERVER}@${gateway}`;
}

export interface IrcHarnessOptions {
  ircd?: "ngircd" | "inspircd";
  /** Extra settings for the main gateway, as YAML flow-mapping entries (e.g. `reconnect: {...}`). */
  settings?: string;
  /**
   * Points the gateways at this port on 127.0.0.1 (e.g. a scripted IRC server) instead of the
   * harness's ircd; `irc()` clients still reach the ircd, and `blockIrc`/`crashPostern` do not
   * apply to this server.
   */
  ircPort?: number;
  /** Puts a TCP fault proxy (`ircProxy`) on Postern's way to the ircd, behind the relay. */
  faultProxy?: boolean;
  /** Adds PROD_GATEWAY, whose flood and connection limits are the defaults (RELIABILITY.md S7). */
  productionGateway?: boolean;
}

export interface IrcHarness {
  prosody: ProsodyServer;
  redis: RedisServer;
  ircd: IrcServer;
  config: PosternConfig;
  postern: RunningPostern;
  /** With the `faultProxy` option: the fault proxy between Postern (its relay) and the ircd. */
  ircProxy?: FaultProxy;
  /** Logs in a test user (resource defaults to "test") and sends initial presence. */
  login(user: IrcTestUser, resource?: string): Promise<XmppTestClient>;
  /** A raw IRC client connected straight to the IRC server (closed by `stop`). */
  irc(nick: string, caps?: string[]): Promise<RawIrcClient>;
  /**
   * As `kill -9` and a start: the old Postern says nothing to anyone (its component link and IRC
   * sockets just drop) and a fresh one starts on the same Redis.
   */
  crashPostern(): Promise<void>;
  /**
   * While blocked, Postern's new connections to the IRC server are closed at once, as by a server
   * that is down; raw test clients still get through. Lets a test order "the gateway is back"
   * after its own setup.
   */
  blockIrc(blocked: boolean): void;
  stop(): Promise<void>;
}

export async function startIrcHarness(opts: IrcHarnessOptions = {}): Promise<IrcHarness> {
  const secret = randomBytes(12).toString("hex");
  const [redis, prosody, ircd] = await Promise.all([
    startRedis(),
    startProsody({
      components: [
        { domain: IRC_GATEWAY, secret },
        { domain: SLOW_GATEWAY, secret },
        ...(opts.productionGateway ? [{ domain: PROD_GATEWAY, secret }] : []),
      ],
      users: IRC_USERS.map((username) => ({ username, password: PASSWORD })),
    }),
    opts.ircd === "inspircd"
      ? startInspircd({ serverName: "irc.test" })
      : startNgircd({ serverName: "irc.test" }),
  ]);
  const ircProxy = opts.faultProxy
    ? await startFaultProxy({ target: { host: "127.0.0.1", port: ircd.port } })
    : undefined;
  const relay = await startRelay(ircProxy?.port ?? ircd.port);
  const gateway = (domain: string, settings: string, testConnections = true) => `
  - domain: ${domain}
    adapter: irc
    xmpp: { host: 127.0.0.1, port: ${prosody.componentPort}, secret: "${secret}" }
    users: { allowedDomains: [localhost], admins: [admin@localhost] }
    limits: { maxBodyBytes: 16384 }
    settings:
      servers: { ${IRC_SERVER}: { host: 127.0.0.1, port: ${opts.ircPort ?? relay.port} } }
      ${testConnections ? "connections: { minIntervalMs: 0 }" : ""}
      ${settings}
`;
  const yaml = `
log: { level: warn }
mode: development
redis: { url: "${redis.url}", keyPrefix: "irc-test:" }
secrets: { encryptionKey: "${randomBytes(32).toString("hex")}" }
gateways:
${gateway(
  IRC_GATEWAY,
  `flood: { burst: 100, refillMs: 10, maxQueued: 500, networkLinesPerSecond: 100000, maxLinesPerMessage: 100 }
      reconnect: { minMs: 300, maxMs: 2000 }
      ${opts.settings ?? ""}`,
)}
${gateway(SLOW_GATEWAY, "flood: { burst: 2, refillMs: 400, maxQueued: 4 }")}
${opts.productionGateway ? gateway(PROD_GATEWAY, "", false) : ""}
`;
  const factory = ircAdapter as AdapterFactory<unknown>;
  const config = parseConfigText(yaml, "irc-harness.yaml", { adapterSchemas: { irc: factory.configSchema } });
  const log = pino({ level: process.env.POSTERN_TEST_LOG ?? "silent" });
  const start = () => startPostern(config, { irc: factory }, { log, waitOnlineMs: 15_000 });
  const xmppClients: XmppTestClient[] = [];
  const ircClients: RawIrcClient[] = [];

  const harness: IrcHarness = {
    prosody,
    redis,
    ircd,
    config,
    ircProxy,
    postern: await start(),
    async login(user, resource = "test") {
      const client = await connectXmpp({
        port: prosody.c2sPort,
        domain: "localhost",
        username: user,
        password: PASSWORD,
        resource,
      });
      xmppClients.push(client);
      await client.sendPresence();
      return client;
    },
    async irc(nick, caps = []) {
      const client = await connectIrc({ port: ircd.port, nick, caps });
      ircClients.push(client);
      return client;
    },
    async crashPostern() {
      const old = harness.postern;
      // Nothing more leaves the old process: its writes to IRC go nowhere, its link drops.
      relay.freeze();
      for (const g of old.gateways) await g.abandon();
      // Its adapters are stopped only to end their timers; what they "say" is lost in the relay.
      const stopped = Promise.all(old.gateways.map((g) => g.ctx.adapter.stop().catch(() => undefined)));
      relay.dropAll();
      await stopped;
      await old.store.close();
      relay.thaw();
      harness.postern = await start();
    },
    blockIrc(blocked) {
      relay.refuseNew(blocked);
    },
    async stop() {
      await Promise.all(xmppClients.map((c) => c.stop().catch(() => undefined)));
      await Promise.all(ircClients.map((c) => c.close().catch(() => undefined)));
      await harness.postern.stop().catch(() => undefined);
      await relay.close();
      await ircProxy?.close();
      await Promise.all([prosody.stop(), redis.stop(), ircd.stop()]);
    },
  };
  return harness;
}

/** A TCP relay to a port on 127.0.0.1 that can cut every connection at once, as a crash does. */
interface Relay {
  port: number;
  /** Stops forwarding what clients send (the server sees nothing more from them). */
  freeze(): void;
  thaw(): void;
  /** While true, new connections are closed as soon as they arrive. */
  refuseNew(refuse: boolean): void;
  /** Destroys every relayed connection, both sides. */
  dropAll(): void;
  close(): Promise<void>;
}

async function startRelay(targetPort: number): Promise<Relay> {
  const pairs = new Set<[Socket, Socket]>();
  let frozen = false;
  let refusing = false;
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = tcpConnect({ host: "127.0.0.1", port: targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("data", (chunk) => {
      if (!frozen) upstream.write(chunk);
    });
    upstream.on("data", (chunk) => client.write(chunk));
    // A server that is down refuses the upstream connection: the client sees its socket close.
    for (const socket of pair) {
      socket.on("error", end);
      socket.on("close", end);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("relay has no TCP port");
  return {
    port: address.port,
    freeze: () => {
      frozen = true;
    },
    thaw: () => {
      frozen = false;
    },
    refuseNew: (refuse) => {
      refusing = refuse;
    },
    dropAll: () => {
      for (const [client, upstream] of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const [client, upstream] of pairs) {
          client.destroy();
          upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}

// ---- XMPP-side helpers shared by the IRC gateway tests ---------------------------------------

export const NS_MUC = "http://jabber.org/protocol/muc";
export const NS_MUC_USER = "http://jabber.org/protocol/muc#user";
export const NS_DELAY = "urn:xmpp:delay";
export const NS_COMMANDS = "http://jabber.org/protocol/commands";
export const NS_DATA = "jabber:x:data";
export const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";

/** The MUC status codes of a presence. */
export function statusCodes(presence: Element): string[] {
  return (presence.getChild("x", NS_MUC_USER)?.getChildren("status") ?? []).map((s) => s.attrs.code ?? "");
}

/** The `<item/>` of a MUC presence. */
export function mucItem(presence: Element): Record<string, string | undefined> {
  return presence.getChild("x", NS_MUC_USER)?.getChild("item")?.attrs ?? {};
}

/** What a join gave the client: every room presence before the subject, and the subject. */
export interface JoinResult {
  presences: Element[];
  self: Element;
  subject: Element;
  /** Messages between the self-presence and the subject (history replay). */
  history: Element[];
}

/**
 * Joins `channel` as `nick` (XEP-0045 §7.2) and waits for the subject, which ends the join.
 * `history` adds `<history/>` with those attributes.
 */
export async function joinRoom(
  client: XmppTestClient,
  channel: string,
  nick: string,
  opts: { gateway?: string; history?: Record<string, string>; timeoutMs?: number } = {},
): Promise<JoinResult> {
  const room = roomJid(channel, opts.gateway);
  const mark = client.mark();
  const children = opts.history ? [xml("history", opts.history)] : [];
  await client.sendPresence({ to: `${room}/${nick}` }, [xml("x", { xmlns: NS_MUC }, ...children)]);
  const subject = await client.waitFor(
    (s) => s.name === "message" && s.attrs.from === room && s.getChild("subject") !== undefined,
    `the subject of ${room} ending the join`,
    { since: mark, timeoutMs: opts.timeoutMs ?? 15_000 },
  );
  const upToSubject = client.stanzas.slice(mark, client.stanzas.indexOf(subject));
  const presences = upToSubject.filter((s) => s.name === "presence" && s.attrs.from?.startsWith(`${room}/`));
  const self = presences.find((p) => statusCodes(p).includes("110"));
  if (!self) throw new Error(`no self-presence (110) from ${room} before its subject`);
  const history = upToSubject.slice(upToSubject.indexOf(self)).filter((s) => s.name === "message");
  return { presences, self, subject, history };
}

/** A groupchat message stanza to a room. */
export function groupchat(channel: string, body: string, id: string, gateway?: string): Element {
  return xml("message", { to: roomJid(channel, gateway), type: "groupchat", id }, xml("body", {}, body));
}

/** A matcher for a groupchat message from `room/nick` (any nick when omitted) with a body. */
export function roomMessage(channel: string, nick?: string, gateway?: string): (s: Element) => boolean {
  const room = roomJid(channel, gateway);
  return (s) =>
    s.name === "message" &&
    s.attrs.type === "groupchat" &&
    (nick === undefined
      ? s.attrs.from?.startsWith(`${room}/`) === true
      : s.attrs.from === `${room}/${nick}`) &&
    s.getChild("body") !== undefined;
}

/** A data form to submit with a command step. */
export function submitForm(values: Record<string, string | string[]>): Element {
  return xml(
    "x",
    { xmlns: NS_DATA, type: "submit" },
    ...Object.entries(values).map(([name, value]) =>
      xml(
        "field",
        { var: name },
        ...(Array.isArray(value) ? value : [value]).map((v) => xml("value", {}, v)),
      ),
    ),
  );
}

/**
 * Runs an ad-hoc command (XEP-0050) to the end: `steps` are the forms to submit, in order, after
 * the first (empty) execute. Resolves with the last `<command/>` element.
 */
export async function runCommand(
  client: XmppTestClient,
  node: string,
  steps: Record<string, string | string[]>[] = [],
  to: string = IRC_GATEWAY,
): Promise<Element> {
  const NS = NS_COMMANDS;
  let reply = await client.iq(
    xml("iq", { type: "set", to }, xml("command", { xmlns: NS, node, action: "execute" })),
  );
  let command = reply.getChild("command", NS);
  for (const values of steps) {
    if (command?.attrs.status !== "executing") break;
    const sessionid = command.attrs.sessionid ?? "";
    reply = await client.iq(
      xml(
        "iq",
        { type: "set", to },
        xml("command", { xmlns: NS, node, sessionid, action: "execute" }, submitForm(values)),
      ),
    );
    command = reply.getChild("command", NS);
  }
  if (!command) throw new Error(`no <command/> in the reply to ${node}`);
  return command;
}

/** The command nodes `client` sees on `to`. */
export async function commandNodes(client: XmppTestClient, to: string = IRC_GATEWAY): Promise<string[]> {
  const items = await client.iq(
    xml("iq", { type: "get", to }, xml("query", { xmlns: NS_DISCO_ITEMS, node: NS_COMMANDS })),
  );
  return (items.getChild("query")?.getChildren("item") ?? []).map((i) => i.attrs.node ?? "");
}
