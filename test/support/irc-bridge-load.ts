/**
 * The R1/R2 rig of RELIABILITY.md: Postern as a real process (test/support/postern-process.ts)
 * with the IRC adapter against ngIRCd, an XMPP user `alice` in two bridged channels and a raw IRC
 * user `wat` in both, and a load of numbered messages both ways (one conversation per channel and
 * direction), sent while a test kills or stops Postern and starts it again. Afterwards `tally()`
 * counts, per conversation, what was lost, duplicated, reordered or answered with an error, and
 * how long each delivery took. Options widen it for R11: more channels, and a fault proxy
 * (test/support/fault-proxy.ts) on each of Postern's links (component port, Redis, ircd).
 */
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type FaultProxy, startFaultProxy } from "./fault-proxy.ts";
import { connectIrc, type ParsedLine, type RawIrcClient } from "./irc-client.ts";
import { joinRoom, roomJid } from "./irc-gateway-harness.ts";
import { type IrcServer, startNgircd } from "./ircd.ts";
import { type PosternProcess, startPosternProcess } from "./postern-process.ts";
import { type ProsodyServer, startProsody } from "./prosody.ts";
import { type RedisServer, startRedis } from "./redis.ts";
import { removeDir, tempDir } from "./service.ts";
import { connectXmpp, type Element, type XmppTestClient, xml } from "./xmpp-client.ts";

export const GW = "irc.localhost";
export const CHANNELS = ["#ra", "#rb"] as const;
const PUPPET = /^alice/;

export type Direction = "xmpp→irc" | "irc→xmpp";

/** A message sent this close to a kill counts as in flight at the kill (see lostInFlightAtKill). */
const IN_FLIGHT_WINDOW_MS = 1_000;

interface Sent {
  seq: number;
  /** Index of the watcher's next IRC line when this was sent: tells whether the puppet was in the channel. */
  ircMark: number;
  /** Stanza id (XMPP → IRC). */
  id: string;
  /** When it was sent (ms since the epoch). */
  at: number;
}

export interface Conversation {
  name: string;
  direction: Direction;
  channel: string;
  sent: Sent[];
}

export interface ConversationFigures {
  name: string;
  direction: Direction;
  sent: number;
  delivered: number;
  /** XMPP → IRC: not delivered, and the sender got an error stanza for it. */
  errored: number;
  /** Delivered and also answered with an error (the sender was told it failed, but it arrived). */
  deliveredAndErrored: number;
  /** Neither delivered nor answered: silent loss. */
  lost: number;
  /** IRC → XMPP lost while Postern's puppet was not in the channel (nobody could relay it). */
  lostWhilePuppetAway: number;
  /**
   * Lost that were sent within a second of a kill (before it, or just after while the servers
   * still thought the dead process connected). XMPP → IRC: written by the XMPP server to the dying
   * socket, which a component cannot get back (XEP-0114 has no acknowledgements). IRC → XMPP: read
   * by the killed process and not yet relayed, or written by the ircd to the dying socket (plain
   * IRC keeps no history to fetch it again). Counted apart from `lost`.
   */
  lostInFlightAtKill: number;
  /** Of those, sent after the kill (no process was there to take them). */
  lostInFlightAfterKill: number;
  /** Extra copies beyond the first, as received. */
  rawDuplicates: number;
  /** Extra copies that carry a stanza id not seen before (what a client deduping by id still shows). */
  duplicatesAfterIdDedupe: number;
  /** Deliveries whose number is lower than one delivered before them. */
  inversions: number;
  /** The numbers of the silently lost messages. */
  lostSeqs: number[];
  /**
   * Per delivered message, from its send to the arrival of its first copy at the test client
   * (arrivals are sampled every 10 ms, so each figure may be up to ~10 ms late).
   */
  latenciesMs: number[];
}

export interface BridgeRigOptions {
  /** The bridged channels, one conversation per channel and direction; CHANNELS by default. */
  channels?: readonly string[];
  /**
   * Puts a fault proxy on each of Postern's links (Prosody's component port, Redis, the ircd),
   * in pass mode; the test clients reach the servers directly.
   */
  faultProxies?: boolean;
  /** The IRC adapter's per-network line limit (`flood.networkLinesPerSecond`); raised out of the way (100 000) when unset. */
  networkLinesPerSecond?: number;
  /** Each puppet's flood limiter (`flood.burst`, `flood.refillMs`); raised out of the way (100, 10 ms) when unset. */
  puppetFlood?: { burst: number; refillMs: number };
}

export interface BridgeRig {
  redis: RedisServer;
  prosody: ProsodyServer;
  ircd: IrcServer;
  postern: PosternProcess;
  alice: XmppTestClient;
  watcher: RawIrcClient;
  /** With `faultProxies`: the proxy on each of Postern's links. */
  proxies?: { xmpp: FaultProxy; redis: FaultProxy; irc: FaultProxy };
  conversations: Conversation[];
  /** Sends numbered messages round-robin over the conversations at `perSecond` until `until()` is true. */
  load(perSecond: number, until: () => boolean): Promise<void>;
  /** Waits until the puppet is in every channel (as the IRC server shows it) after `since`. */
  puppetBack(since: number, timeoutMs?: number): Promise<void>;
  /** Waits (up to timeoutMs) until every message is delivered or answered; then counts. */
  settle(timeoutMs: number): Promise<ConversationFigures[]>;
  /** Milliseconds from `start` until the first delivery in each direction after the given marks. */
  firstDelivery(
    start: number,
    marks: { irc: number; xmpp: number },
    timeoutMs: number,
  ): Promise<Record<Direction, number | undefined>>;
  stop(): Promise<void>;
}

const isPuppetLine = (l: ParsedLine) => l.nick !== undefined && PUPPET.test(l.nick);

export async function startBridgeRig(opts: BridgeRigOptions = {}): Promise<BridgeRig> {
  const channels = opts.channels ?? CHANNELS;
  const secret = randomBytes(8).toString("hex");
  const [redis, prosody, ircd] = await Promise.all([
    startRedis(),
    startProsody({ components: [{ domain: GW, secret }], users: [{ username: "alice", password: "pw" }] }),
    startNgircd(),
  ]);
  const proxy = (port: number) => startFaultProxy({ target: { host: "127.0.0.1", port } });
  const proxies = opts.faultProxies
    ? {
        xmpp: await proxy(prosody.componentPort),
        redis: await proxy(redis.port),
        irc: await proxy(ircd.port),
      }
    : undefined;
  const dir = await tempDir("bridge-load");
  const configFile = join(dir, "postern.yaml");
  // The test throttle profile of RELIABILITY.md: raised per-puppet flood limits.
  await writeFile(
    configFile,
    `
log: { level: info }
mode: development
redis: { url: "${proxies ? `redis://127.0.0.1:${proxies.redis.port}` : redis.url}" }
secrets: { encryptionKey: "${randomBytes(32).toString("hex")}" }
gateways:
  - domain: ${GW}
    adapter: irc
    xmpp: { host: 127.0.0.1, port: ${proxies?.xmpp.port ?? prosody.componentPort}, secret: "${secret}" }
    users: { allowedDomains: [localhost] }
    settings:
      servers: { localhost: { host: 127.0.0.1, port: ${proxies?.irc.port ?? ircd.port} } }
      connections: { minIntervalMs: 0 }
      flood: { burst: ${opts.puppetFlood?.burst ?? 100}, refillMs: ${opts.puppetFlood?.refillMs ?? 10}, maxQueued: 500, maxLinesPerMessage: 100, networkLinesPerSecond: ${
        opts.networkLinesPerSecond ?? 100_000
      } }
      reconnect: { minMs: 100, maxMs: 2000 }
`,
  );
  const watcher = await connectIrc({ port: ircd.port, nick: "wat" });
  for (const c of channels) await watcher.join(c);
  const alice = await connectXmpp({
    port: prosody.c2sPort,
    domain: "localhost",
    username: "alice",
    password: "pw",
  });
  await alice.sendPresence();
  const postern = startPosternProcess(configFile);
  await postern.waitForOutput("component online", "Postern's component link to come up");
  const mark = alice.mark();
  await alice.sendPresence({ to: GW });
  await alice.waitFor(
    (s) => s.name === "presence" && s.attrs.from === GW && !s.attrs.type,
    "the gateway's available presence",
    { since: mark, timeoutMs: 20_000 },
  );
  for (const c of channels) await joinRoom(alice, c, "alice", { timeoutMs: 20_000 });
  for (const c of channels)
    await watcher.waitFor(
      (l) => l.command === "JOIN" && isPuppetLine(l) && l.params[0] === c,
      `the puppet in ${c}`,
      {
        timeoutMs: 20_000,
      },
    );

  // When each IRC line and each stanza arrived at the test clients, by index.
  const ircAt: number[] = [];
  const xmppAt: number[] = [];
  const sampleArrivals = () => {
    while (ircAt.length < watcher.lines.length) ircAt.push(Date.now());
    while (xmppAt.length < alice.stanzas.length) xmppAt.push(Date.now());
  };
  sampleArrivals();
  const sampler = setInterval(sampleArrivals, 10);

  const conversations: Conversation[] = channels.flatMap((channel) => [
    { name: `xmpp→irc ${channel}`, direction: "xmpp→irc" as const, channel, sent: [] },
    { name: `irc→xmpp ${channel}`, direction: "irc→xmpp" as const, channel, sent: [] },
  ]);
  const bodyOf = (conv: Conversation, seq: number) =>
    `${conv.direction === "xmpp→irc" ? "x2i" : "i2x"}${conv.channel} ${seq}`;
  const parse = (conv: Conversation, body: string | undefined): number | undefined => {
    const prefix = `${conv.direction === "xmpp→irc" ? "x2i" : "i2x"}${conv.channel} `;
    return body?.startsWith(prefix) ? Number(body.slice(prefix.length)) : undefined;
  };

  /** Received copies per conversation: sequence number, arrival time and, for XMPP, the stanza id. */
  const received = (conv: Conversation): { seq: number; at: number; id?: string }[] => {
    sampleArrivals();
    if (conv.direction === "xmpp→irc")
      return watcher.lines.flatMap((l, i) => {
        if (l.command !== "PRIVMSG" || !isPuppetLine(l) || l.params[0] !== conv.channel) return [];
        const seq = parse(conv, l.params[1]);
        return seq === undefined ? [] : [{ seq, at: ircAt[i]! }];
      });
    const room = roomJid(conv.channel);
    return alice.stanzas.flatMap((s, i) => {
      if (s.name !== "message" || s.attrs.type !== "groupchat" || s.attrs.from !== `${room}/wat`) return [];
      const seq = parse(conv, s.getChildText("body") ?? undefined);
      return seq === undefined ? [] : [{ seq, at: xmppAt[i]!, id: s.attrs.id }];
    });
  };
  const errorsFor = (conv: Conversation): Set<string> =>
    new Set(
      alice.stanzas
        .filter(
          (s: Element) =>
            s.name === "message" && s.attrs.type === "error" && s.attrs.id?.startsWith(`${conv.name}#`),
        )
        .map((s) => s.attrs.id!),
    );
  const killTimes = postern.killTimes;
  /** Whether the puppet was out of the channel at IRC line index `at`, as the watcher saw it. */
  const puppetAway = (channel: string, at: number): boolean => {
    for (let i = Math.min(at, watcher.lines.length) - 1; i >= 0; i--) {
      const l = watcher.lines[i]!;
      if (!isPuppetLine(l)) continue;
      if (l.command === "QUIT" || (l.command === "PART" && l.params[0] === channel)) return true;
      if (l.command === "JOIN" && l.params[0] === channel) return false;
    }
    return true;
  };

  const figures = (): ConversationFigures[] =>
    conversations.map((conv) => {
      const copies = received(conv);
      const seen = new Set<number>();
      const firstAt = new Map<number, number>();
      const ids = new Map<number, Set<string>>();
      let inversions = 0;
      let highest = -1;
      for (const c of copies) {
        if (!seen.has(c.seq)) {
          if (c.seq < highest) inversions++;
          highest = Math.max(highest, c.seq);
        }
        seen.add(c.seq);
        if (!firstAt.has(c.seq)) firstAt.set(c.seq, c.at);
        if (c.id !== undefined) ids.set(c.seq, (ids.get(c.seq) ?? new Set()).add(c.id));
      }
      const errors = errorsFor(conv);
      let errored = 0;
      let deliveredAndErrored = 0;
      let lost = 0;
      let lostWhilePuppetAway = 0;
      let lostInFlightAtKill = 0;
      let lostInFlightAfterKill = 0;
      const lostSeqs: number[] = [];
      for (const s of conv.sent) {
        const delivered = seen.has(s.seq);
        const answered = errors.has(s.id);
        if (delivered && answered) deliveredAndErrored++;
        if (!delivered && answered) errored++;
        if (!delivered && !answered) {
          if (conv.direction === "irc→xmpp" && puppetAway(conv.channel, s.ircMark)) lostWhilePuppetAway++;
          else if (killTimes.some((k) => Math.abs(s.at - k) <= IN_FLIGHT_WINDOW_MS)) {
            lostInFlightAtKill++;
            if (killTimes.some((k) => s.at >= k && s.at - k <= IN_FLIGHT_WINDOW_MS)) lostInFlightAfterKill++;
          } else {
            lost++;
            lostSeqs.push(s.seq);
          }
        }
      }
      const extraIds = [...ids.values()].reduce((n, set) => n + set.size - 1, 0);
      return {
        name: conv.name,
        direction: conv.direction,
        sent: conv.sent.length,
        delivered: seen.size,
        errored,
        deliveredAndErrored,
        lost,
        lostWhilePuppetAway,
        lostInFlightAtKill,
        lostInFlightAfterKill,
        rawDuplicates: copies.length - seen.size,
        duplicatesAfterIdDedupe: conv.direction === "irc→xmpp" ? extraIds : copies.length - seen.size,
        inversions,
        lostSeqs,
        latenciesMs: conv.sent.flatMap((s) => {
          const at = firstAt.get(s.seq);
          return at === undefined ? [] : [at - s.at];
        }),
      };
    });

  const rig: BridgeRig = {
    redis,
    prosody,
    ircd,
    postern,
    alice,
    watcher,
    proxies,
    conversations,
    async load(perSecond, until) {
      const gapMs = 1000 / perSecond;
      const started = Date.now();
      for (let i = 0; !until(); i++) {
        const conv = conversations[i % conversations.length]!;
        const seq = conv.sent.length;
        const id = `${conv.name}#${seq}`;
        conv.sent.push({ seq, ircMark: watcher.mark(), id, at: Date.now() });
        if (conv.direction === "xmpp→irc")
          await alice.send(
            xml(
              "message",
              { to: roomJid(conv.channel), type: "groupchat", id },
              xml("body", {}, bodyOf(conv, seq)),
            ),
          );
        else watcher.privmsg(conv.channel, bodyOf(conv, seq));
        const next = started + (i + 1) * gapMs;
        await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      }
    },
    async puppetBack(since, timeoutMs = 30_000) {
      for (const c of channels)
        await watcher.waitFor(
          (l) => l.command === "JOIN" && isPuppetLine(l) && l.params[0] === c,
          `the puppet back in ${c}`,
          { since, timeoutMs },
        );
    },
    async settle(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      const open = () => figures().some((f) => f.lost + f.lostWhilePuppetAway > 0);
      while (open() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      return figures();
    },
    async firstDelivery(start, marks, timeoutMs) {
      const result: Record<Direction, number | undefined> = { "xmpp→irc": undefined, "irc→xmpp": undefined };
      const deadline = Date.now() + timeoutMs;
      while (
        (result["xmpp→irc"] === undefined || result["irc→xmpp"] === undefined) &&
        Date.now() < deadline
      ) {
        if (
          result["xmpp→irc"] === undefined &&
          watcher.lines.slice(marks.irc).some((l) => l.command === "PRIVMSG" && isPuppetLine(l))
        )
          result["xmpp→irc"] = Date.now() - start;
        if (
          result["irc→xmpp"] === undefined &&
          alice.stanzas
            .slice(marks.xmpp)
            .some((s) => s.attrs.type === "groupchat" && s.attrs.from?.endsWith("/wat"))
        )
          result["irc→xmpp"] = Date.now() - start;
        await new Promise((r) => setTimeout(r, 25));
      }
      return result;
    },
    async stop() {
      clearInterval(sampler);
      await postern.stop();
      await alice.stop().catch(() => undefined);
      await watcher.close().catch(() => undefined);
      await Promise.all(Object.values(proxies ?? {}).map((p) => p.close()));
      await Promise.all([redis.stop(), prosody.stop(), ircd.stop()]);
      await removeDir(dir);
    },
  };
  return rig;
}

/** The figures as an aligned text table, for logs and reports. */
export function formatFigures(rows: ConversationFigures[]): string {
  const head = [
    "conversation",
    "sent",
    "deliv",
    "err",
    "deliv+err",
    "lost",
    "lost-away",
    "in-flight",
    "dup(raw)",
    "dup(id)",
    "inv",
  ];
  const body = rows.map((r) => [
    r.name,
    r.sent,
    r.delivered,
    r.errored,
    r.deliveredAndErrored,
    r.lost,
    r.lostWhilePuppetAway,
    r.lostInFlightAtKill,
    r.rawDuplicates,
    r.duplicatesAfterIdDedupe,
    r.inversions,
  ]);
  const table = [head, ...body].map((cells) =>
    cells.map((c, i) => String(c).padEnd(i === 0 ? 18 : 11)).join(""),
  );
  const lost = rows
    .filter((r) => r.lostSeqs.length > 0)
    .map((r) => `lost in ${r.name}: #${r.lostSeqs.join(", #")}`);
  return [...table, ...lost].join("\n");
}
