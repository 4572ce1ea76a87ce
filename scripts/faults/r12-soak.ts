/**
 * R12, the soak: Postern as a real process (`postern run`) with the IRC adapter against ngIRCd,
 * under a mixed message load (XMPP → IRC and IRC → XMPP, in a channel and in private), with N
 * puppets joining and leaving a channel every 30 s, and a fault every few minutes (Redis killed
 * with SIGKILL, ngIRCd restarted, Prosody restarted, in turn). Postern's own /metrics gives the
 * process figures (RSS, open descriptors, event-loop delay, listeners on its handles); Redis's
 * DBSIZE and the consistency checker give the key figures.
 *
 * The plan's run is 2 h (N) or 8 h (W); the length is set by the environment, and the warm-up and
 * the fault interval scale with it for short runs:
 *   POSTERN_SOAK_MIN (120)     minutes of load
 *   POSTERN_SOAK_PUPPETS (100) XMPP users whose puppets join and leave every 30 s
 *   POSTERN_SOAK_RATE (5)      messages per second, over four conversations
 *   POSTERN_SOAK_LOG           a file to write Postern's log to (for finding the cause of a miss)
 *   POSTERN_SOAK_LOG_LEVEL (info)
 * Warm-up = min(15 min, 25 % of the run); a fault every min(10 min, run / 4).
 */
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Redis } from "ioredis";
import { connectIrc, type ParsedLine, type RawIrcClient } from "../../test/support/irc-client.ts";
import { contactJid, joinRoom, NS_MUC, roomJid } from "../../test/support/irc-gateway-harness.ts";
import { startNgircd } from "../../test/support/ircd.ts";
import { freePort } from "../../test/support/ports.ts";
import { startPosternProcess } from "../../test/support/postern-process.ts";
import { startProsody } from "../../test/support/prosody.ts";
import { startRedis } from "../../test/support/redis.ts";
import { removeDir, tempDir } from "../../test/support/service.ts";
import { connectXmpp, type Element, type XmppTestClient, xml } from "../../test/support/xmpp-client.ts";
import { checkConsistency, describeDefects, listDefects } from "./redis-consistency.ts";
import { type FaultRow, type Figure, type RowOutcome, sleep } from "./row.ts";

export const rows: FaultRow[] = [{ key: "R12", title: "Soak", tier: "N", run: () => runSoak() }];

const MINUTES = Number(process.env.POSTERN_SOAK_MIN ?? 120);
const PUPPETS = Number(process.env.POSTERN_SOAK_PUPPETS ?? 100);
const RATE = Number(process.env.POSTERN_SOAK_RATE ?? 5);
const CHURN_MS = 30_000;
const SAMPLE_MS = 10_000;
/** How long each fault keeps its server down. */
const DOWN_MS = 5_000;
/** Before the end of a leave phase, the quiet sample and the channel count are taken this long. */
const SETTLE_MS = 2_000;
/** Messages sent from this long before a fault until this long after its recovery count as "near a fault". */
const NEAR_FAULT_MS = 10_000;

const GW = "irc.localhost";
const PREFIX = "soak:";
const TALK = "#soak";
const CHURN = "#soak-churn";
const PASSWORD = "soak-pw";
const puppetName = (i: number) => `sp${i}`;

type ConvName = "xmpp→irc room" | "irc→xmpp room" | "xmpp→irc pm" | "irc→xmpp pm";
const CONVERSATIONS: ConvName[] = ["xmpp→irc room", "irc→xmpp room", "xmpp→irc pm", "irc→xmpp pm"];
const tagOf: Record<ConvName, string> = {
  "xmpp→irc room": "x2i-room",
  "irc→xmpp room": "i2x-room",
  "xmpp→irc pm": "x2i-pm",
  "irc→xmpp pm": "i2x-pm",
};

interface Sample {
  at: number;
  /** Sampled when every puppet should be out of the churn channel (comparable across cycles). */
  quiet: boolean;
  gauges: Map<string, number>;
  dbsize: number | null;
}

interface Fault {
  kind: "redis kill -9" | "ngircd restart" | "prosody restart";
  at: number;
  recoveredAt: number;
}

async function runSoak(): Promise<RowOutcome> {
  const durationMs = MINUTES * 60_000;
  const warmupMs = Math.min(15 * 60_000, durationMs * 0.25);
  const faultEveryMs = Math.min(10 * 60_000, durationMs / 4);
  const secret = randomBytes(12).toString("hex");
  const [redis, ircd, prosody] = await Promise.all([
    startRedis(),
    startNgircd(),
    startProsody({
      components: [{ domain: GW, secret }],
      users: [
        { username: "alice", password: PASSWORD },
        ...Array.from({ length: PUPPETS }, (_, i) => ({ username: puppetName(i), password: PASSWORD })),
      ],
    }),
  ]);
  const httpPort = await freePort();
  const dir = await tempDir("soak");
  const configFile = join(dir, "postern.yaml");
  // The R-test throttle profile: raised per-puppet flood limits, no connect pacing.
  await writeFile(
    configFile,
    `
log: { level: ${process.env.POSTERN_SOAK_LOG_LEVEL ?? "info"} }
mode: development
redis: { url: "${redis.url}", keyPrefix: "${PREFIX}" }
secrets: { encryptionKey: "${randomBytes(32).toString("hex")}" }
http: { host: 127.0.0.1, port: ${httpPort} }
gateways:
  - domain: ${GW}
    adapter: irc
    xmpp: { host: 127.0.0.1, port: ${prosody.componentPort}, secret: "${secret}" }
    users: { allowedDomains: [localhost] }
    limits: { registrationsPerHourPerDomain: 100000, roomJoinsPer10sPerJid: 100000 }
    settings:
      servers: { localhost: { host: 127.0.0.1, port: ${ircd.port} } }
      connections: { minIntervalMs: 0 }
      flood: { burst: 100, refillMs: 10, maxQueued: 500 }
      reconnect: { minMs: 100, maxMs: 2000 }
`,
  );
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 200 });
  admin.on("error", () => undefined);
  const postern = startPosternProcess(configFile);
  let unhandled = 0;
  /** Times Postern logged its component link up (its output buffer is cut, so counted here). */
  let linkUps = 0;
  let pending = "";
  const countUnhandled = (chunk: Buffer) => {
    const lines = (pending + chunk.toString("utf8")).split("\n");
    pending = lines.pop() ?? "";
    unhandled += lines.filter((l) => /unhandled rejection|uncaught exception/i.test(l)).length;
    linkUps += lines.filter((l) => l.includes("component online")).length;
  };
  postern.current.child.stdout?.on("data", countUnhandled);
  postern.current.child.stderr?.on("data", countUnhandled);
  const logFile = process.env.POSTERN_SOAK_LOG ? createWriteStream(process.env.POSTERN_SOAK_LOG) : null;
  if (logFile) {
    postern.current.child.stdout?.pipe(logFile);
    postern.current.child.stderr?.pipe(logFile);
  }

  const watchers: RawIrcClient[] = [];
  const alices: XmppTestClient[] = [];
  let puppets: XmppTestClient[] = [];
  const connectWatcher = async () => {
    const w = await connectIrc({ port: ircd.port, nick: "wat" });
    await w.join(TALK);
    await w.join(CHURN);
    watchers.push(w);
    return w;
  };
  const connectUser = async (username: string) => {
    const c = await connectXmpp({ port: prosody.c2sPort, domain: "localhost", username, password: PASSWORD });
    await c.sendPresence();
    return c;
  };
  const connectAlice = async () => {
    const a = await connectUser("alice");
    await a.sendPresence({ to: GW });
    await joinRoom(a, TALK, "alice", { timeoutMs: 30_000 });
    alices.push(a);
    return a;
  };
  const connectPuppets = async () => {
    const list: XmppTestClient[] = [];
    for (let i = 0; i < PUPPETS; i++) list.push(await connectUser(puppetName(i)));
    return list;
  };
  try {
    await postern.waitForOutput("component online", "Postern's component link to come up", 60_000);
    let watcher = await connectWatcher();
    let alice = await connectAlice();
    puppets = await connectPuppets();
    let aliceUp = true;
    let watcherUp = true;

    // --- message load ------------------------------------------------------------------------------
    const sent = new Map<ConvName, { seq: number; at: number; id: string }[]>(
      CONVERSATIONS.map((c) => [c, []]),
    );
    let stop = false;
    const load = (async () => {
      const gapMs = 1000 / RATE;
      const started = Date.now();
      for (let i = 0; !stop; i++) {
        const conv = CONVERSATIONS[i % CONVERSATIONS.length]!;
        const list = sent.get(conv)!;
        const seq = list.length;
        const body = `${tagOf[conv]} ${seq}`;
        const id = `${tagOf[conv]}#${seq}`;
        const fromXmpp = conv.startsWith("xmpp");
        if (fromXmpp ? aliceUp : watcherUp) {
          list.push({ seq, at: Date.now(), id });
          if (conv === "xmpp→irc room")
            await alice.send(
              xml("message", { to: roomJid(TALK), type: "groupchat", id }, xml("body", {}, body)),
            );
          else if (conv === "xmpp→irc pm")
            await alice.send(
              xml("message", { to: contactJid("wat"), type: "chat", id }, xml("body", {}, body)),
            );
          else if (conv === "irc→xmpp room") watcher.privmsg(TALK, body);
          else watcher.privmsg(aliceNick(watchers) ?? "alice", body);
        }
        await sleep(Math.max(0, started + (i + 1) * gapMs - Date.now()));
      }
    })();

    const start = Date.now();
    const samples: Sample[] = [];
    const sample = async (quiet: boolean): Promise<Sample> => ({
      at: Date.now(),
      quiet,
      gauges: await scrape(httpPort),
      dbsize: await admin.dbsize().catch(() => null),
    });

    // --- puppet churn: join in the first half of each 30 s cycle, leave in the second ------------
    const churn = { joinsAsked: 0, joinsDone: 0, leavesAsked: 0, leavesDone: 0, cycles: 0 };
    const inChannel = new Set<number>();
    const afterLeaves: { at: number; count: number | null }[] = [];
    const toggle = async (i: number, join: boolean) => {
      const client = puppets[i];
      if (!client) return;
      const room = `${roomJid(CHURN)}/${puppetName(i)}`;
      const mark = client.mark();
      if (join) {
        churn.joinsAsked += 1;
        await client.sendPresence({ to: room }, [xml("x", { xmlns: NS_MUC })]).catch(() => undefined);
      } else {
        churn.leavesAsked += 1;
        await client.sendPresence({ to: room, type: "unavailable" }).catch(() => undefined);
      }
      const done = await client
        .waitFor(
          (s) =>
            join
              ? s.name === "message" && s.attrs.from === roomJid(CHURN) && s.getChild("subject") !== undefined
              : s.name === "presence" && s.attrs.from === room && s.attrs.type === "unavailable",
          join ? "the churn join" : "the churn leave",
          { since: mark, timeoutMs: CHURN_MS / 2 },
        )
        .then(
          () => true,
          () => false,
        );
      if (done) {
        if (join) churn.joinsDone += 1;
        else churn.leavesDone += 1;
      }
      if (join) inChannel.add(i);
      else inChannel.delete(i);
    };
    const churnLoop = (async () => {
      while (!stop) {
        churn.cycles += 1;
        for (const join of [true, false]) {
          const phaseStart = Date.now();
          const spread = (CHURN_MS / 2) * 0.6;
          const tasks: Promise<void>[] = [];
          for (let i = 0; i < PUPPETS && !stop; i++) {
            tasks.push(toggle(i, join));
            await sleep(spread / PUPPETS);
          }
          await Promise.all(tasks);
          // A phase the end of the run cut short is not comparable (puppets left in by design).
          if (!join && !stop) {
            // The XMPP side confirms a leave before the puppet's PART and QUIT reach the IRC
            // server: sample at the end of the phase, when they have had seconds to.
            await sleep(Math.max(0, phaseStart + CHURN_MS / 2 - SETTLE_MS - Date.now()));
            // Every puppet is out: a sample comparable with the other cycles' (see the notes).
            if (inChannel.size === 0) samples.push(await sample(true));
            // Who the IRC server still lists once everyone left: shows when stragglers appear.
            afterLeaves.push({ at: Date.now(), count: await puppetsInChannel(watcher, CHURN) });
          }
          await sleep(Math.max(0, phaseStart + CHURN_MS / 2 - Date.now()));
        }
      }
    })();

    // --- sampling and faults --------------------------------------------------------------------
    const faults: Fault[] = [];
    const kinds: Fault["kind"][] = ["redis kill -9", "ngircd restart", "prosody restart"];
    let nextFault = start + faultEveryMs;
    let nextSample = start;
    while (Date.now() - start < durationMs) {
      if (Date.now() >= nextSample) {
        samples.push(await sample(false));
        nextSample += SAMPLE_MS;
      }
      if (Date.now() >= nextFault && Date.now() - start < durationMs - 60_000) {
        const kind = kinds[faults.length % kinds.length]!;
        const at = Date.now();
        if (kind === "redis kill -9") await redis.restart({ kill: true, downMs: DOWN_MS });
        else if (kind === "ngircd restart") {
          watcherUp = false;
          await ircd.restart({ downMs: DOWN_MS });
          watcher = await connectWatcher();
          watcherUp = true;
        } else {
          aliceUp = false;
          const ups = linkUps;
          await prosody.restart({ downMs: DOWN_MS });
          const old = puppets;
          puppets = [];
          await Promise.all([...old, alice].map((c) => c.stop().catch(() => undefined)));
          // The churning users come back as soon as Prosody is up, as clients do, whether or not
          // Postern's link is back yet (their joins and leaves meanwhile are bounced by Prosody).
          inChannel.clear();
          puppets = await connectPuppets();
          // alice, who carries the message load, waits for the link.
          const linkBack = Date.now() + 60_000;
          while (linkUps === ups && Date.now() < linkBack) await sleep(100);
          alice = await connectAlice().catch(async () => {
            await sleep(5_000);
            return connectAlice();
          });
          aliceUp = true;
        }
        faults.push({ kind, at, recoveredAt: Date.now() });
        nextFault += faultEveryMs;
      }
      await sleep(250);
    }
    stop = true;
    await load;
    await churnLoop;
    // The run may have stopped in the middle of a phase: whoever is still in leaves now, so that
    // the last figures count only puppets that stayed although their users left.
    await Promise.all([...inChannel].map((i) => toggle(i, false)));
    // Let the last messages arrive, then one last sample with every puppet out.
    await sleep(15_000);
    samples.push(await sample(true));
    const consistency = await checkConsistency({ redis: admin, prefix: PREFIX, gateway: GW });
    const leftInChurn = await puppetsInChannel(watcher, CHURN);
    const stuckNicks = await puppetNicksInChannel(watcher, CHURN);

    // --- figures --------------------------------------------------------------------------------
    const afterWarmup = samples.filter((s) => s.at - start >= warmupMs);
    const quiet = afterWarmup.filter(
      (s) => s.quiet && !faults.some((f) => s.at >= f.at && s.at - f.recoveredAt < 20_000),
    );
    const gauge = (s: Sample | undefined, name: string) => s?.gauges.get(name);
    const rss = afterWarmup
      .map((s) => [s.at, gauge(s, "postern_process_resident_memory_bytes")] as const)
      .filter((p): p is readonly [number, number] => p[1] !== undefined);
    const slopeMbPerH = slope(rss.map(([t, v]) => [t / 3_600_000, v / 1_048_576]));
    const lags = afterWarmup
      .map((s) => gauge(s, "postern_event_loop_delay_p99_seconds"))
      .filter((v): v is number => v !== undefined)
      .map((v) => v * 1000);
    const maxLag = lags.length ? Math.max(...lags) : null;
    const calmLags = afterWarmup
      .filter((s) => !faults.some((f) => s.at >= f.at && s.at - f.recoveredAt < 20_000))
      .map((s) => gauge(s, "postern_event_loop_delay_p99_seconds"))
      .filter((v): v is number => v !== undefined)
      .map((v) => v * 1000);
    const medianLag = lags.length ? [...lags].sort((a, b) => a - b)[Math.floor(lags.length / 2)]! : null;
    const firstQ = quiet[0];
    const lastQ = quiet[quiet.length - 1];
    const delta = (name: string) => {
      const a = gauge(firstQ, name);
      const b = gauge(lastQ, name);
      return a === undefined || b === undefined ? null : { a, b, d: b - a };
    };
    const fds = delta("postern_process_open_fds");
    const handles = delta("postern_process_active_handles");
    const listeners = delta("postern_process_handle_listeners");
    const busiest = delta("postern_process_max_handle_listeners");
    const procListeners = delta("postern_process_listeners");
    const keysA = firstQ?.dbsize ?? null;
    const keysB = lastQ?.dbsize ?? null;
    const messages = tallyMessages(sent, alices, watchers, faults);
    const range = (name: string) => {
      const values = afterWarmup.map((s) => gauge(s, name)).filter((v): v is number => v !== undefined);
      return values.length ? `${Math.min(...values)}–${Math.max(...values)}` : "—";
    };
    const fmt = (x: { a: number; b: number; d: number } | null) =>
      x === null ? "not measured" : `${x.a} → ${x.b} (${x.d >= 0 ? "+" : ""}${x.d})`;
    const figures: Figure[] = [
      {
        name: "run length / warm-up / faults",
        value: `${MINUTES} min / ${(warmupMs / 60_000).toFixed(1)} min / ${faults.length} (${faults.map((f) => f.kind).join(", ")})`,
        target: "2 h (N), 8 h (W); a fault every 10 min",
        pass: null,
      },
      {
        name: "Postern process still running",
        value: postern.running() ? "yes" : `no: ${postern.current.exitStatus()}`,
        target: "yes",
        pass: postern.running(),
      },
      {
        name: "RSS slope after warm-up (linear fit)",
        value:
          slopeMbPerH === null
            ? "not measured"
            : `${slopeMbPerH.toFixed(1)} MB/h (RSS ${range("postern_process_resident_memory_bytes").replace(/\d+/g, (n) => (Number(n) / 1_048_576).toFixed(0))} MB)`,
        target: "< 1 MB/h",
        pass: slopeMbPerH !== null && slopeMbPerH < 1,
      },
      {
        name: "open FDs, first → last quiet sample after warm-up",
        value: `${fmt(fds)}; range over all samples ${range("postern_process_open_fds")}`,
        target: "± 5",
        pass: fds !== null && Math.abs(fds.d) <= 5,
      },
      {
        name: "event-loop delay p99 per 10 s window after warm-up: max / median",
        value:
          maxLag === null
            ? "not measured"
            : `${maxLag.toFixed(1)} ms / ${medianLag?.toFixed(1)} ms (max away from faults: ${calmLags.length ? Math.max(...calmLags).toFixed(1) : "—"} ms)`,
        target: "< 100 ms",
        pass: maxLag !== null && maxLag < 100,
      },
      {
        name: "Redis keys (DBSIZE), first → last quiet sample after warm-up",
        value:
          keysA === null || keysB === null
            ? "not measured"
            : `${keysA} → ${keysB} (${keysB - keysA >= 0 ? "+" : ""}${keysB - keysA})`,
        target: "flat",
        pass: keysA !== null && keysB !== null && keysB <= keysA,
      },
      {
        name: "keys without TTL or owner at the end (consistency checker defects)",
        value: `${describeDefects(consistency)}; ${consistency.keysWithoutTtl} of ${consistency.totalKeys} keys without TTL, ${consistency.registeredUsers} users registered`,
        target: "0",
        pass: consistency.orphanKeys.length + consistency.unknownKeys.length === 0,
      },
      {
        name: "listeners on Postern's handles, first → last quiet sample",
        value: `${fmt(listeners)}; busiest handle ${fmt(busiest)}; on process ${fmt(procListeners)}; handles ${fmt(handles)}`,
        target: "constant (busiest handle, process)",
        pass: busiest !== null && procListeners !== null && busiest.d <= 0 && procListeners.d <= 0,
      },
      {
        name: `churning puppets still in ${CHURN} at the end (all left)`,
        value: leftInChurn === null ? "not measured" : String(leftInChurn),
        target: "0",
        pass: leftInChurn === 0,
      },
      {
        name: `churning puppets in ${CHURN} after each leave phase: max / cycles with any`,
        value: `${Math.max(0, ...afterLeaves.map((a) => a.count ?? 0))} / ${afterLeaves.filter((a) => (a.count ?? 0) > 0).length} of ${afterLeaves.length}`,
        target: "0",
        pass: afterLeaves.every((a) => a.count === 0),
      },
      {
        name: "unhandled rejections / uncaught exceptions logged",
        value: String(unhandled),
        target: "0",
        pass: unhandled === 0,
      },
      {
        name: "puppet churn: cycles; joins done / asked; leaves done / asked",
        value: `${churn.cycles}; ${churn.joinsDone} / ${churn.joinsAsked}; ${churn.leavesDone} / ${churn.leavesAsked}`,
        target: "—",
        pass: null,
      },
      ...messages,
    ];
    const notes = [
      `A ${MINUTES}-minute run${MINUTES < 120 ? " (shorter than the plan's 2 h; the warm-up and fault interval were scaled down with it)" : ""}: Postern as a real process (postern run) with the IRC adapter, ngIRCd, Prosody, Redis (AOF everysec). ${RATE} msg/s round-robin over 4 conversations: alice's messages to #soak and to the IRC user wat in private, and wat's to #soak and to alice's puppet in private. ${PUPPETS} more XMPP users join ${CHURN} in the first half of every 30 s and leave it in the second. A fault every ${(faultEveryMs / 60_000).toFixed(1)} min, in turn: redis-server SIGKILL and start (${DOWN_MS / 1000} s down), ngIRCd restart (${DOWN_MS / 1000} s down; wat reconnects), Prosody restart (${DOWN_MS / 1000} s down; every XMPP user reconnects and alice rejoins #soak).`,
      `Process figures come from Postern's /metrics (src/core/metrics.ts processGauges): RSS, /proc/self/fd entries, event-loop delay p99 over the window since the previous scrape (every 10 s), active handles and the listeners on them (sockets, servers, timers) and on \`process\`. FDs, handles, listeners and DBSIZE are compared between “quiet” samples, taken ${SETTLE_MS / 1000} s before the end of each leave phase with every churning puppet out of the channel (and after the last leaves once the load stopped), skipping those within 20 s of a fault's recovery. Listeners on emitters that are not handles (the Redis client object, the XMPP and IRC library clients) are not visible there.`,
      `Messages are numbered per conversation; lost = neither delivered nor answered with an error. Sent ${NEAR_FAULT_MS / 1000} s around a fault (from before it until after its recovery) they are counted apart. Messages are not sent from a side whose client is down (wat during the ngIRCd restart, alice during the Prosody restart).`,
      ...faults.map(
        (f) =>
          `fault at ${((f.at - start) / 60_000).toFixed(1)} min: ${f.kind}, the load's clients back after ${((f.recoveredAt - f.at) / 1000).toFixed(1)} s`,
      ),
      ...listDefects(consistency).map((l) => `checker at the end: ${l}`),
      `${CHURN} after each leave phase (minute: puppets still listed): ${afterLeaves.map((a) => `${((a.at - start) / 60_000).toFixed(1)}: ${a.count ?? "?"}`).join(", ")}`,
      `churning puppets listed in ${CHURN} at the end: ${stuckNicks?.join(" ") || "none"}`,
      `samples: ${samples.length} (${afterWarmup.length} after warm-up, ${quiet.length} quiet).`,
    ];
    if (process.env.POSTERN_SOAK_LOG)
      await writeFile(`${process.env.POSTERN_SOAK_LOG}.notes`, notes.join("\n"));
    return { status: "measured", figures, notes };
  } finally {
    await Promise.all([...alices, ...puppets].map((c) => c.stop().catch(() => undefined)));
    await Promise.all(watchers.map((w) => w.close().catch(() => undefined)));
    await postern.stop();
    admin.disconnect();
    await Promise.all([redis.stop(), prosody.stop(), ircd.stop()]);
    await removeDir(dir);
  }
}

/** The gauges of /metrics (name with labels → value); empty when it does not answer. */
async function scrape(port: number): Promise<Map<string, number>> {
  const gauges = new Map<string, number>();
  try {
    const text = await (
      await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) })
    ).text();
    for (const line of text.split("\n")) {
      if (line.startsWith("#") || line.trim() === "") continue;
      const at = line.lastIndexOf(" ");
      gauges.set(line.slice(0, at), Number(line.slice(at + 1)));
    }
  } catch {
    // A scrape that fails is a gap in the samples, not a figure.
  }
  return gauges;
}

/** Least-squares slope of y over x, or null with fewer than 3 points. */
function slope(points: [number, number][]): number | null {
  if (points.length < 3) return null;
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? null : num / den;
}

/** How many churn puppets (nicks sp<N>) the IRC server lists in `channel`; null if NAMES gets no answer. */
async function puppetsInChannel(watcher: RawIrcClient, channel: string): Promise<number | null> {
  return (await puppetNicksInChannel(watcher, channel))?.length ?? null;
}

/** The churn puppets (nicks sp<N>) the IRC server lists in `channel`; null if NAMES gets no answer. */
async function puppetNicksInChannel(watcher: RawIrcClient, channel: string): Promise<string[] | null> {
  const mark = watcher.mark();
  watcher.send(`NAMES ${channel}`);
  try {
    await watcher.waitFor((l) => l.command === "366", `the end of NAMES ${channel}`, { since: mark });
  } catch {
    return null;
  }
  const nicks = watcher.lines
    .slice(mark)
    .filter((l) => l.command === "353")
    .flatMap((l) => (l.params[3] ?? "").split(" "));
  return nicks.filter((n) => /^[@+%&~]*sp[0-9]+/.test(n));
}

/** The nick alice's puppet has on IRC, as the watchers saw it join. */
function aliceNick(watchers: RawIrcClient[]): string | undefined {
  for (let w = watchers.length - 1; w >= 0; w--) {
    const lines = watchers[w]!.lines;
    for (let i = lines.length - 1; i >= 0; i--) {
      const l = lines[i]!;
      if (l.command === "JOIN" && l.params[0] === TALK && l.nick?.startsWith("alice")) return l.nick;
    }
  }
  return undefined;
}

function tallyMessages(
  sent: Map<ConvName, { seq: number; at: number; id: string }[]>,
  alices: XmppTestClient[],
  watchers: RawIrcClient[],
  faults: Fault[],
): Figure[] {
  const ircLines: ParsedLine[] = watchers.flatMap((w) => w.lines);
  const stanzas: Element[] = alices.flatMap((a) => a.stanzas);
  const errors = new Set(
    stanzas.filter((s) => s.name === "message" && s.attrs.type === "error").map((s) => s.attrs.id ?? ""),
  );
  const near = (at: number) =>
    faults.some((f) => at >= f.at - NEAR_FAULT_MS && at <= f.recoveredAt + NEAR_FAULT_MS);
  const figures: Figure[] = [];
  for (const conv of CONVERSATIONS) {
    const tag = `${tagOf[conv]} `;
    const copies: number[] = [];
    if (conv === "xmpp→irc room" || conv === "xmpp→irc pm") {
      const target = conv === "xmpp→irc room" ? TALK : "wat";
      for (const l of ircLines)
        if (
          l.command === "PRIVMSG" &&
          l.nick?.startsWith("alice") &&
          l.params[0] === target &&
          l.params[1]?.startsWith(tag)
        )
          copies.push(Number(l.params[1].slice(tag.length)));
    } else {
      const from = conv === "irc→xmpp room" ? `${roomJid(TALK)}/wat` : contactJid("wat");
      for (const s of stanzas) {
        const body = s.getChildText("body");
        // Room history replayed on a rejoin (after the Prosody restart) carries a delay: not a new copy.
        const replay = s.getChild("delay", "urn:xmpp:delay") !== undefined;
        const matches =
          s.name === "message" &&
          s.attrs.type !== "error" &&
          !replay &&
          (s.attrs.from ?? "").startsWith(from);
        if (matches && body?.startsWith(tag)) copies.push(Number(body.slice(tag.length)));
      }
    }
    const seen = new Set<number>();
    let inversions = 0;
    let highest = -1;
    for (const seq of copies) {
      if (!seen.has(seq)) {
        if (seq < highest) inversions += 1;
        highest = Math.max(highest, seq);
      }
      seen.add(seq);
    }
    const list = sent.get(conv) ?? [];
    let errored = 0;
    let lostNear = 0;
    let lost = 0;
    for (const m of list) {
      if (seen.has(m.seq)) continue;
      if (errors.has(m.id)) errored += 1;
      else if (near(m.at)) lostNear += 1;
      else lost += 1;
    }
    figures.push({
      name: `${conv}: sent / delivered / error / lost near a fault / lost elsewhere / dup / inversions`,
      value: `${list.length} / ${seen.size} / ${errored} / ${lostNear} / ${lost} / ${copies.length - seen.size} / ${inversions}`,
      target: "lost elsewhere 0",
      pass: lost === 0,
    });
  }
  return figures;
}
