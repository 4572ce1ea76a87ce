/**
 * R13: keepalive under load. XMPP users flood Postern with 10 000 groupchat messages for one
 * bridged IRC channel while ngIRCd PINGs the gateway's puppets (every ~5 s of silence, dropping
 * any that does not PONG within 10 s: the row's target as the server's rule). How late are the
 * PONGs, does any puppet time out, how laggy is Postern's event loop, and what became of the
 * 10 000 stanzas?
 *
 * Postern runs alone in this process with the real IRC adapter, so the event-loop figure is its
 * own. The load (XMPP users, an IRC watcher) runs in a child process, and the PING/PONG times are
 * taken on the wire by the TCP fault proxy's tap between Postern and ngIRCd, in another child,
 * so that its clock reading does not wait on the very event loop under test. Both children are
 * this file run again with a role flag.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { ircAdapter } from "../../adapters/irc/index.ts";
import type { AdapterFactory } from "../../src/adapter/adapter.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { type RunningPostern, startPostern } from "../../src/core/app.ts";
import { startFaultProxy } from "../../test/support/fault-proxy.ts";
import { connectIrc, type RawIrcClient } from "../../test/support/irc-client.ts";
import { joinRoom, roomJid } from "../../test/support/irc-gateway-harness.ts";
import { startNgircd } from "../../test/support/ircd.ts";
import { startProsody } from "../../test/support/prosody.ts";
import { startRedis } from "../../test/support/redis.ts";
import { connectXmpp, type XmppTestClient, xml } from "../../test/support/xmpp-client.ts";
import { type FaultRow, type Figure, ROOT, type RowOutcome, sleep } from "./row.ts";

export const rows: FaultRow[] = [
  {
    key: "R13",
    title: "Keepalive under load: 10 000 stanzas while the ircd PINGs",
    tier: "N",
    run: () => runR13(),
  },
];

/** Stanzas flooded at Postern, split over the senders. */
const STANZAS = Number(process.env.POSTERN_R13_STANZAS ?? 10_000);
/** ngIRCd: PING after this many seconds without a line from the client; drop it without a PONG within PONG_TIMEOUT_S. */
const PING_TIMEOUT_S = 5;
const PONG_TIMEOUT_S = 10;
/** How long the row waits for the flood to be settled (delivered or answered). */
const SETTLE_S = Number(process.env.POSTERN_R13_SETTLE_S ?? 180);

const GW = "irc.localhost";
const CHANNEL = "#load";
const SENDERS = ["alice", "bob", "carol", "dave"] as const;
/** Members who never speak: ngIRCd pings their puppets throughout the flood. */
const LISTENERS = ["erin", "frank"] as const;

async function runR13(): Promise<RowOutcome> {
  const secret = randomBytes(12).toString("hex");
  const users = [...SENDERS, ...LISTENERS];
  const [redis, prosody, ircd] = await Promise.all([
    startRedis(),
    startProsody({
      components: [{ domain: GW, secret }],
      users: users.map((u) => ({ username: u, password: "pw" })),
    }),
    startNgircd({ serverName: "irc.test", pingTimeoutS: PING_TIMEOUT_S, pongTimeoutS: PONG_TIMEOUT_S }),
  ]);
  const children: Child[] = [];
  const lag = monitorEventLoopDelay({ resolution: 10 });
  let postern: RunningPostern | undefined;
  try {
    const tap = startChild([TAP_FLAG, String(ircd.port)]);
    children.push(tap);
    const listening = await tap.next((r) => r.t === "listening", "the tap proxy to listen", 20_000);
    if (listening.t !== "listening") throw new Error("unreachable");
    const factory = ircAdapter as AdapterFactory<unknown>;
    // The test throttle profile of RELIABILITY.md (raised per-puppet and per-network limits).
    const config = parseConfigText(
      `
mode: development
redis: { url: "${redis.url}" }
secrets: { encryptionKey: "${randomBytes(32).toString("hex")}" }
gateways:
  - domain: ${GW}
    adapter: irc
    xmpp: { host: 127.0.0.1, port: ${prosody.componentPort}, secret: "${secret}" }
    users: { allowedDomains: [localhost] }
    settings:
      servers: { localhost: { host: 127.0.0.1, port: ${listening.port} } }
      connections: { minIntervalMs: 0 }
      flood: { burst: 100, refillMs: 10, maxQueued: 500, networkLinesPerSecond: 400 }
`,
      "r13.yaml",
      { adapterSchemas: { irc: factory.configSchema } },
    );
    postern = await startPostern(
      config,
      { irc: factory },
      { log: pino({ level: process.env.POSTERN_TEST_LOG ?? "silent" }), waitOnlineMs: 15_000 },
    );
    const params: LoadParams = { c2sPort: prosody.c2sPort, ircdPort: ircd.port, stanzas: STANZAS };
    const load = startChild([LOAD_FLAG, JSON.stringify(params)]);
    children.push(load);
    await load.next((r) => r.t === "ready", "the XMPP users and their puppets in the channel", 180_000);
    // Quiet for a while: every puppet has been pinged before the flood starts.
    await sleep((PING_TIMEOUT_S + 3) * 1000);

    lag.enable();
    const floodStart = Date.now();
    load.command("go");
    const written = await load.next((r) => r.t === "written", "the flood to be written", 120_000);
    const settled = await load.next((r) => r.t === "settled", "the flood to settle", (SETTLE_S + 30) * 1000);
    if (written.t !== "written" || settled.t !== "settled") throw new Error("unreachable");
    // A few more PING rounds after the flood, to see the puppets answer at rest too.
    await sleep((PING_TIMEOUT_S + PONG_TIMEOUT_S) * 1000);
    lag.disable();
    const floodEnd = settled.at ?? Date.now();
    const outcome = settled.outcome;

    const pongs = pairPings(tap.reports, floodStart, floodEnd);
    const timeouts = tap.reports.filter((r) => r.t === "error" && /ping timeout/i.test(r.text)).length;
    const worst = pongs.delays.length > 0 ? Math.max(...pongs.delays) : null;
    const ms = (ns: number) => `${(ns / 1e6).toFixed(0)} ms`;
    const conditions = Object.entries(outcome.conditions)
      .map(([c, n]) => `${n} ${c}`)
      .join(", ");
    const figures: Figure[] = [
      {
        name: "stanzas flooded (senders × messages)",
        value: `${outcome.sent} (${SENDERS.length} × ${outcome.sent / SENDERS.length}), written in ${((written.at - floodStart) / 1000).toFixed(1)} s`,
        target: String(STANZAS),
        pass: null,
      },
      {
        name: "flood settled (every message delivered or answered) after",
        value:
          settled.at === null
            ? `not within ${SETTLE_S} s (${outcome.unsettled} open)`
            : `${((settled.at - floodStart) / 1000).toFixed(1)} s`,
        target: "—",
        pass: null,
      },
      {
        name: "PINGs from ngIRCd during the flood / answered",
        value: `${pongs.pings} / ${pongs.delays.length}`,
        target: "all answered",
        pass: pongs.pings > 0 && pongs.delays.length === pongs.pings,
      },
      {
        name: "PONG delay during the flood, max (p50)",
        value:
          worst === null
            ? "no PING seen"
            : `${(worst / 1000).toFixed(2)} s (${(median(pongs.delays) / 1000).toFixed(2)} s)`,
        target: "≤ 10 s",
        pass: worst !== null && worst <= 10_000,
      },
      {
        name: "ping-timeout disconnects (ERROR to a puppet / QUIT seen in the channel)",
        value: `${timeouts} / ${outcome.pingTimeoutQuits}`,
        target: "0",
        pass: timeouts === 0 && outcome.pingTimeoutQuits === 0,
      },
      {
        name: "Postern's event-loop delay during the flood, p99 / max",
        value: `${ms(lag.percentile(99))} / ${ms(lag.max)}`,
        target: "— (R12 soak: p99 < 100 ms)",
        pass: null,
      },
      {
        name: "messages delivered to IRC / answered with an error / silent",
        value: `${outcome.delivered} / ${outcome.errored}${conditions ? ` (${conditions})` : ""} / ${outcome.unsettled}`,
        target: "silent = 0",
        pass: outcome.unsettled === 0,
      },
      {
        name: "delivered and also answered with an error / dup / inversions",
        value: `${outcome.deliveredAndErrored} / ${outcome.duplicates} / ${outcome.inversions}`,
        target: "0 / 0 / 0",
        pass: outcome.deliveredAndErrored === 0 && outcome.duplicates === 0 && outcome.inversions === 0,
      },
    ];
    const notes = [
      `${SENDERS.length} XMPP users (${SENDERS.join(", ")}) each write their share of groupchat messages to ${CHANNEL} at once through Prosody; ${LISTENERS.join(" and ")} sit in the channel without speaking, so ngIRCd (PingTimeout ${PING_TIMEOUT_S} s, PongTimeout ${PONG_TIMEOUT_S} s; it checks about once a second, so a PING follows ~6 s of silence) pings their puppets all through the flood, and the senders' puppets whenever they pause. Every user is an occupant, so each message is also reflected to ${users.length} XMPP clients.`,
      "Three processes: Postern alone in the row's process (so the event-loop figure is Postern's, measured with perf_hooks.monitorEventLoopDelay at 10 ms resolution from the first write until a PING round after the flood settled); the XMPP users and a plain IRC watcher in the channel (connected straight to ngIRCd) in a child; the fault proxy between Postern and ngIRCd in another child, whose tap reads PING/PONG lines on the wire with its own clock. A PING is a server→client `PING` line on a puppet's connection, its PONG the next client→server `PONG` on the same connection.",
      "irc-framework answers PING straight to the socket (commands/handlers/misc.js → connection.write → our transport), so a PONG never waits in the per-puppet flood queue (adapters/irc/connection.ts) or the per-network limiter; it can only wait for the event loop.",
      "Throttle profile: flood { burst 100, refillMs 10, maxQueued 500, networkLinesPerSecond 400 }: a message beyond a puppet's 500 queued lines would be answered with resource-constraint (wait). Delivered means the watcher saw the PRIVMSG.",
    ];
    return { status: "measured", figures, notes };
  } finally {
    lag.disable();
    for (const child of children) child.stop();
    await postern?.stop().catch(() => undefined);
    await Promise.all([prosody.stop(), redis.stop(), ircd.stop()]);
  }
}

// --- outcomes of the flood ----------------------------------------------------------------------

interface Outcome {
  sent: number;
  delivered: number;
  errored: number;
  deliveredAndErrored: number;
  /** Error condition → messages answered with it (and not delivered). */
  conditions: Record<string, number>;
  unsettled: number;
  duplicates: number;
  inversions: number;
  /** QUIT lines with "Ping timeout" the watcher saw in the channel. */
  pingTimeoutQuits: number;
}

function countOutcomes(
  senders: XmppTestClient[],
  watcher: RawIrcClient,
  since: number,
  perSender: number,
): Outcome {
  const ircLines = watcher.lines.slice(since);
  const outcome: Outcome = {
    sent: perSender * SENDERS.length,
    delivered: 0,
    errored: 0,
    deliveredAndErrored: 0,
    conditions: {},
    unsettled: 0,
    duplicates: 0,
    inversions: 0,
    pingTimeoutQuits: ircLines.filter((l) => l.command === "QUIT" && /ping timeout/i.test(l.params[0] ?? ""))
      .length,
  };
  SENDERS.forEach((sender, k) => {
    const seen = new Set<number>();
    let highest = -1;
    for (const line of ircLines) {
      if (line.command !== "PRIVMSG" || line.params[0] !== CHANNEL) continue;
      const match = /^r13 (\w+) (\d+)$/.exec(line.params[1] ?? "");
      if (!match || match[1] !== sender) continue;
      const seq = Number(match[2]);
      if (seen.has(seq)) {
        outcome.duplicates += 1;
        continue;
      }
      if (seq < highest) outcome.inversions += 1;
      highest = Math.max(highest, seq);
      seen.add(seq);
    }
    const errors = new Map<string, string>();
    for (const s of senders[k]!.stanzas) {
      if (s.name !== "message" || s.attrs.type !== "error" || !s.attrs.id?.startsWith(`r13-${sender}-`))
        continue;
      const condition = s.getChild("error")?.children.find((c) => typeof c !== "string")?.name ?? "?";
      errors.set(s.attrs.id, condition);
    }
    for (let i = 0; i < perSender; i++) {
      const delivered = seen.has(i);
      const condition = errors.get(`r13-${sender}-${i}`);
      if (delivered) outcome.delivered += 1;
      if (condition !== undefined) {
        if (delivered) outcome.deliveredAndErrored += 1;
        else {
          outcome.errored += 1;
          outcome.conditions[condition] = (outcome.conditions[condition] ?? 0) + 1;
        }
      }
      if (!delivered && condition === undefined) outcome.unsettled += 1;
    }
  });
  return outcome;
}

/** Each PING (server → puppet) from `from` to `to` paired with the next PONG on its connection. */
function pairPings(reports: Report[], from: number, to: number): { pings: number; delays: number[] } {
  let pings = 0;
  const delays: number[] = [];
  for (const [i, r] of reports.entries()) {
    if (r.t !== "ping" || r.at < from || r.at > to) continue;
    pings += 1;
    const pong = reports.slice(i + 1).find((p) => p.t === "pong" && p.link === r.link);
    if (pong && pong.t === "pong") delays.push(pong.at - r.at);
  }
  return { pings, delays };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

// --- the child processes ------------------------------------------------------------------------

/** What a child reports, one JSON object per line on its stdout. */
type Report =
  | { t: "listening"; port: number }
  | { t: "ping" | "pong"; link: number; at: number }
  | { t: "error"; link: number; at: number; text: string }
  | { t: "ready" }
  | { t: "written"; at: number }
  | { t: "settled"; at: number | null; outcome: Outcome };

interface LoadParams {
  c2sPort: number;
  ircdPort: number;
  stanzas: number;
}

interface Child {
  reports: Report[];
  /** The first report (from the start) that matches; fails after `timeoutMs`, naming `what`. */
  next(match: (r: Report) => boolean, what: string, timeoutMs: number): Promise<Report>;
  /** One line on the child's stdin. */
  command(line: string): void;
  stop(): void;
}

const SELF = fileURLToPath(import.meta.url);
const TAP_FLAG = "--r13-tap-proxy";
const LOAD_FLAG = "--r13-load";

/** Runs this file again as a child in one of its roles below. */
function startChild(args: string[]): Child {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", SELF, ...args], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const reports: Report[] = [];
  let exited: string | null = null;
  child.once("exit", (code, signal) => {
    exited = `exited (${signal ?? code})`;
  });
  createInterface({ input: child.stdout! }).on("line", (line) => reports.push(JSON.parse(line) as Report));
  return {
    reports,
    async next(match, what, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = reports.find(match);
        if (found) return found;
        if (exited !== null) throw new Error(`R13 child ${args[0]} ${exited} before ${what}`);
        if (Date.now() > deadline) throw new Error(`R13: timed out waiting for ${what}`);
        await sleep(50);
      }
    },
    command: (line) => child.stdin!.write(`${line}\n`),
    stop: () => child.kill(),
  };
}

const print = (report: Report) => process.stdout.write(`${JSON.stringify(report)}\n`);

/** Child role: a fault proxy in front of ngIRCd whose tap splits each connection's bytes into IRC lines. */
async function runTapProxyChild(targetPort: number): Promise<void> {
  const pending = new Map<string, string>();
  const proxy = await startFaultProxy({
    target: { host: "127.0.0.1", port: targetPort },
    tap: (event) => {
      if (event.kind !== "data") return;
      const key = `${event.link}:${event.direction}`;
      const text = (pending.get(key) ?? "") + event.chunk.toString("latin1");
      const parts = text.split("\n");
      pending.set(key, (parts.pop() ?? "").slice(-4_096));
      for (const raw of parts) {
        const line = raw.replace(/\r$/, "").replace(/^@\S+ /, "");
        if (event.direction === "toClient") {
          const command = line.replace(/^:\S+ /, "");
          if (command.startsWith("PING ")) print({ t: "ping", link: event.link, at: event.at });
          else if (command.startsWith("ERROR "))
            print({ t: "error", link: event.link, at: event.at, text: command });
        } else if (line.startsWith("PONG")) print({ t: "pong", link: event.link, at: event.at });
      }
    },
  });
  print({ t: "listening", port: proxy.port });
}

/**
 * Child role: the XMPP users (joined to the channel through Postern) and a plain IRC watcher in
 * it; on "go" the senders write their share of the flood at once, then the child reports when
 * every message is delivered (the watcher saw it) or answered with an error.
 */
async function runLoadChild(params: LoadParams, commands: AsyncIterator<string>): Promise<void> {
  const users = [...SENDERS, ...LISTENERS];
  const watcher = await connectIrc({ port: params.ircdPort, nick: "watcher" });
  await watcher.join(CHANNEL);
  const clients: XmppTestClient[] = [];
  for (const user of users) {
    const client = await connectXmpp({
      port: params.c2sPort,
      domain: "localhost",
      username: user,
      password: "pw",
      resource: "r13",
      timeoutMs: 20_000,
    });
    clients.push(client);
    await client.sendPresence();
    const mark = client.mark();
    await client.sendPresence({ to: GW });
    await client.waitFor(
      (s) => s.name === "presence" && s.attrs.from === GW && !s.attrs.type,
      `the gateway's presence for ${user}`,
      { since: mark, timeoutMs: 20_000 },
    );
    await joinRoom(client, CHANNEL, user, { timeoutMs: 30_000 });
    await watcher.waitFor(
      (l) => l.command === "JOIN" && l.nick?.toLowerCase().startsWith(user) === true,
      `${user}'s puppet in ${CHANNEL}`,
      { timeoutMs: 20_000 },
    );
  }
  print({ t: "ready" });
  await commands.next();

  const room = roomJid(CHANNEL);
  const perSender = Math.ceil(params.stanzas / SENDERS.length);
  const since = watcher.mark();
  const start = Date.now();
  await Promise.all(
    SENDERS.map(async (sender, k) => {
      const client = clients[k]!;
      const writes: Promise<void>[] = [];
      for (let i = 0; i < perSender; i++) {
        writes.push(
          client.send(
            xml(
              "message",
              { to: room, type: "groupchat", id: `r13-${sender}-${i}` },
              xml("body", {}, `r13 ${sender} ${i}`),
            ),
          ),
        );
      }
      await Promise.all(writes);
    }),
  );
  print({ t: "written", at: Date.now() });
  const tally = () => countOutcomes(clients.slice(0, SENDERS.length), watcher, since, perSender);
  let settledAt: number | null = null;
  while (Date.now() - start < SETTLE_S * 1000) {
    if (tally().unsettled === 0) {
      settledAt = Date.now();
      break;
    }
    await sleep(250);
  }
  // Late ping-timeout QUITs would show after the flood: look a little longer before the count.
  await sleep((PING_TIMEOUT_S + PONG_TIMEOUT_S) * 1000);
  print({ t: "settled", at: settledAt, outcome: tally() });
}

if (process.argv[1] === SELF) {
  const role = process.argv[2];
  const stdin = createInterface({ input: process.stdin });
  // Gone with the parent: its end of stdin closes when it exits, however it exits.
  stdin.on("close", () => process.exit(0));
  const commands = stdin[Symbol.asyncIterator]();
  if (role === TAP_FLAG) void runTapProxyChild(Number(process.argv[3]));
  else if (role === LOAD_FLAG)
    runLoadChild(JSON.parse(process.argv[3] ?? "{}") as LoadParams, commands).catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
