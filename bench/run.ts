/**
 * `npm run bench [-- options]`: Postern and Biboumi side by side against the same Prosody,
 * ngIRCd and (for Postern) Redis, all started here on loopback and stopped at the end (also on
 * Ctrl-C). Runs alternate between the two gateways (Postern first in odd rounds, Biboumi first in
 * even ones) so that a noisy machine affects both alike. See bench/README.md.
 */
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { inBatches } from "./accounts.ts";
import { cleanupAll, stopOnSignals } from "./cleanup.ts";
import {
  BIBOUMI_THROTTLE_LIMIT,
  type GatewayUnderTest,
  POSTERN_BENCH_IRC_SETTINGS,
  ROOT,
  type RunningPosternProcess,
  startBiboumi,
  startPosternProcess,
} from "./gateways.ts";
import { BIBOUMI_DOMAIN, POSTERN_DOMAIN, startLab } from "./lab.ts";
import { findPid } from "./proc.ts";
import { type RestartResult, type ScaleRunResult, scaleRun } from "./puppets.ts";
import { type Direction, type RelayOptions, type RelayRunResult, relayRun } from "./relay.ts";
import { type BenchResults, latencySvg, markdownReport, terminalSummary } from "./report.ts";
import { type TelegramOptions, type TelegramRunResult, telegramRun } from "./telegram.ts";

const USAGE = `Usage: npm run bench -- [options]
  --quick              small counts (300 messages, 1 round, puppets 1,100, Telegram bots 1,5): ~2 minutes
  --messages N         messages per throughput phase (default 5000)
  --rounds N           rounds per case, alternating which gateway goes first (default 2)
  --puppets LIST       puppet counts for the scale scenario (default 1,100,1000)
  --only LIST          scenarios to run (default all): relay (both directions), irc-to-muc,
                       muc-to-irc (one direction), irc-to-muc:N / muc-to-irc:N (one case, N
                       users), scale, restart, telegram
  --paced-messages N   messages in each latency phase (default messages/10, 50 to 500)
  --cpu-prof DIR       run Postern under node --cpu-prof, profiles written to DIR
  --gateways LIST      postern,biboumi (default both; one alone is for profiling)
  --relay-users LIST   XMPP users per relay case (default 1,50)
  --biboumi-db-on-disk Biboumi's SQLite database on disk instead of /dev/shm (see gateways.ts)
  --telegram-bots LIST XMPP users, each with their own bot, in the Telegram scenario (default 1,10)
  --label NAME         report name <date>-NAME.md instead of <date>.md (keeps an earlier report)
  --out DIR            where to write the report (default bench/results)
`;

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    messages: { type: "string" },
    rounds: { type: "string" },
    puppets: { type: "string" },
    only: { type: "string" },
    "paced-messages": { type: "string" },
    "telegram-bots": { type: "string" },
    label: { type: "string" },
    "cpu-prof": { type: "string" },
    "biboumi-db-on-disk": { type: "boolean", default: false },
    gateways: { type: "string" },
    "relay-users": { type: "string" },
    out: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const quick = args.quick ?? false;
const positive = (text: string | undefined, fallback: number, what: string) => {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${what}: expected a whole number > 0, got "${text}"`);
  return n;
};
const messages = positive(args.messages, quick ? 300 : 5000, "--messages");
const rounds = positive(args.rounds, quick ? 1 : 2, "--rounds");
const puppetCounts = (args.puppets ?? (quick ? "1,100" : "1,100,1000"))
  .split(",")
  .map((n) => positive(n.trim(), 1, "--puppets"));
const relayUsers = (args["relay-users"] ?? "1,50")
  .split(",")
  .map((n) => positive(n.trim(), 1, "--relay-users"));
const { scenarios: only, relayCases } = parseOnly(args.only ?? "relay,scale,restart,telegram", relayUsers);
const telegramBots = (args["telegram-bots"] ?? (quick ? "1,5" : "1,10"))
  .split(",")
  .map((n) => positive(n.trim(), 1, "--telegram-bots"));
const label = args.label?.trim();
if (label !== undefined && !/^[\w.-]+$/.test(label))
  throw new Error(`--label: letters, digits, '.', '-' and '_' only, got "${label}"`);
const selected = new Set((args.gateways ?? "postern,biboumi").split(",").map((s) => s.trim().toLowerCase()));
const relayOptions: RelayOptions = {
  messages,
  window: 100,
  pacedMessages: positive(
    args["paced-messages"],
    Math.max(50, Math.min(500, Math.round(messages / 10))),
    "--paced-messages",
  ),
  pacedRate: 20,
  stallMs: 60_000,
};
const telegramOptions: TelegramOptions = {
  updates: messages,
  window: relayOptions.window,
  pacedUpdates: relayOptions.pacedMessages,
  pacedRate: relayOptions.pacedRate,
  stallMs: relayOptions.stallMs,
};
const outDir = args.out ?? join(ROOT, "bench", "results");

const startedAt = new Date();
const log = (line: string) =>
  process.stdout.write(`[${((Date.now() - startedAt.getTime()) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);

/**
 * `--only`: scenario names, where "relay" means both directions and a direction alone or
 * "direction:N" picks relay cases (N users; every --relay-users count without ":N").
 */
function parseOnly(
  text: string,
  users: number[],
): { scenarios: Set<string>; relayCases: Array<{ direction: Direction; users: number }> } {
  const directions: Direction[] = ["irc-to-muc", "muc-to-irc"];
  const scenarios = new Set<string>();
  const cases = new Map<string, { direction: Direction; users: number }>();
  const addCase = (direction: Direction, n: number) =>
    cases.set(`${direction} ${n}`, { direction, users: n });
  for (const item of text.split(",").map((s) => s.trim().toLowerCase())) {
    const [name = "", count] = item.split(":");
    const direction = directions.find((d) => d === name);
    if (name === "relay" && count === undefined) {
      for (const d of directions) for (const n of users) addCase(d, n);
    } else if (direction !== undefined) {
      for (const n of count === undefined ? users : [positive(count, 1, `--only ${item}`)])
        addCase(direction, n);
    } else if (["scale", "restart", "telegram"].includes(name) && count === undefined) {
      scenarios.add(name);
    } else {
      throw new Error(
        `--only: unknown scenario "${item}" (relay, irc-to-muc[:N], muc-to-irc[:N], scale, restart, telegram)`,
      );
    }
  }
  // Report order: IRC → MUC first, fewer users first.
  const relayCases = [...cases.values()].sort(
    (a, b) => directions.indexOf(a.direction) - directions.indexOf(b.direction) || a.users - b.users,
  );
  return { scenarios, relayCases };
}

/** Alternation: Postern first in odd rounds, Biboumi first in even ones. */
function inRoundOrder<T extends { name: string }>(round: number, gateways: T[]): T[] {
  return round % 2 === 1 ? gateways : [...gateways].reverse();
}

function ensureBiboumi(): void {
  try {
    execFileSync("biboumi", ["--help"], { stdio: "ignore", timeout: 5_000 });
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") return; // it exists (and exits non-zero)
  }
  log("Biboumi is not installed: apt-get install -y --no-install-recommends biboumi");
  execFileSync("apt-get", ["install", "-y", "--no-install-recommends", "biboumi"], {
    stdio: "inherit",
    timeout: 300_000,
  });
}

function packageVersions(): string {
  try {
    return execFileSync(
      "dpkg-query",
      ["-W", `-f=${"$"}{Package} ${"$"}{Version}, `, "biboumi", "prosody", "ngircd", "redis-server"],
      {
        encoding: "utf8",
      },
    ).replace(/, $/, "");
  } catch {
    return "(dpkg-query failed)";
  }
}

async function main(): Promise<number> {
  stopOnSignals();
  ensureBiboumi();
  const results: BenchResults = {
    startedAt,
    mode: quick ? "quick" : "full",
    environment: [
      `${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, Node ${process.version}, ${packageVersions()}`,
      "all servers, both gateways and the bench clients on this one machine, on 127.0.0.1",
    ],
    settings: [
      `relay: ${messages} messages per throughput phase with at most ${relayOptions.window} incomplete at a time; latency phase ${relayOptions.pacedMessages} messages at ${relayOptions.pacedRate}/s; a phase ends ${relayOptions.stallMs / 1000} s after the last arrival if messages are missing (they count as lost); ${rounds} round(s) per case, medians of rounds for rates, latencies pooled over rounds`,
      `Postern IRC settings raised for the bench: flood burst ${POSTERN_BENCH_IRC_SETTINGS.flood.burst}, refill 1 line per ${POSTERN_BENCH_IRC_SETTINGS.flood.refillMs} ms, queue ${POSTERN_BENCH_IRC_SETTINGS.flood.maxQueued}; connections minIntervalMs ${POSTERN_BENCH_IRC_SETTINGS.connections.minIntervalMs}, maxTotal ${POSTERN_BENCH_IRC_SETTINGS.connections.maxTotal} (production defaults: burst 5, 1 line / 2000 ms, queue 20; 1 connection / 2000 ms, 1000 total); log level info (message deliveries are logged at debug, so info writes no line per message)`,
      `Biboumi: per-user server settings through its "configure" ad-hoc command (ports = the ngIRCd port, no TLS ports, throttle_limit ${BIBOUMI_THROTTLE_LIMIT} = no throttle; default 10 then 1 line/s); identd off; log_level 1 (info); SQLite database ${args["biboumi-db-on-disk"] ? "on disk" : "on /dev/shm (tmpfs), because SQLite syncs every history insert to disk: on this machine's disk a quick run gave Biboumi 60 messages/s IRC → MUC for 1 user and no delivery within 15 s of a 100-message burst for 50 users (--biboumi-db-on-disk measures that)"}, history recording on (its default)`,
      "Postern stores room archives and id maps in Redis (its default); both gateways archive every room message per user",
      "ngIRCd: MaxConnectionsIP 0, MaxPenaltyTime 0 and user mode +F for everyone (no flood limit), no DNS/ident lookups",
      `puppet scale: users spread over channels of 10; RSS from /proc/<pid>/status VmRSS, CPU from /proc/<pid>/stat utime+stime`,
      `Telegram: Postern's Telegram gateway with its default settings except \`apiRoot\` (the fake Bot API in the bench process, no flood check: inbound updates are not paced by Telegram); ${messages} updates per throughput phase spread over the bots, at most ${relayOptions.window} unreceived per bot; latency phase ${relayOptions.pacedMessages} updates at ${relayOptions.pacedRate}/s in all; bots ${telegramBots.join(", ")}; one fresh Postern process and fake per run`,
      `scenarios in this run: ${[...relayCases.map((c) => `${c.direction}:${c.users}`), ...only].join(", ")}`,
    ],
    relay: [],
    scale: [],
    restart: [],
    telegram: [],
    notes: [],
  };

  const lab = await startLab(log);
  const ircScenarios = relayCases.length > 0 || only.has("scale") || only.has("restart");
  const neededUsers = Math.max(
    1,
    ...relayCases.map((c) => c.users),
    ...(only.has("scale") || only.has("restart") ? puppetCounts : []),
  );
  const users = await lab.users(neededUsers);
  relayOptions.prosodyPid = await findPid(lab.prosody.dir);
  const probe = users[0]!;
  const cpuProfileDir = args["cpu-prof"];
  if (cpuProfileDir) await mkdir(cpuProfileDir, { recursive: true });

  // Biboumi only where it is compared: the relay and scale scenarios.
  let biboumi: GatewayUnderTest | undefined;
  if ((relayCases.length > 0 || only.has("scale")) && selected.has("biboumi")) {
    ensureBiboumi();
    const biboumiDatabase = args["biboumi-db-on-disk"] ? "disk" : "memory";
    const started = await startBiboumi(
      lab.servers,
      { domain: BIBOUMI_DOMAIN, secret: lab.secrets.biboumi, database: biboumiDatabase },
      probe,
    );
    biboumi = started;
    const prepStart = performance.now();
    await inBatches(users, 16, (u) => started.prepareUser(u));
    log(
      `Biboumi up (pid ${started.pid()}); ${users.length} users configured its IRC server in ${((performance.now() - prepStart) / 1000).toFixed(1)} s`,
    );
  }
  let postern: RunningPosternProcess | undefined;
  if (ircScenarios) {
    postern = await startPosternProcess(
      lab.servers,
      { domain: POSTERN_DOMAIN, secret: lab.secrets.postern, cpuProfileDir },
      probe,
    );
    log(`Postern up (pid ${postern.pid()})`);
  }
  const gateways = (): GatewayUnderTest[] =>
    [postern, biboumi].filter(
      (g): g is GatewayUnderTest => g !== undefined && selected.has(g.name.toLowerCase()),
    );

  // Scale runs first, on freshly started gateways, so "RSS before" is a nearly idle process rather
  // than one whose heap still holds the relay runs' garbage (which hides what puppets cost).
  // Restart (Postern only) follows the largest count's Postern run, once per round.
  if (postern && (only.has("scale") || only.has("restart"))) {
    const counts = only.has("scale") ? puppetCounts : [Math.max(...puppetCounts)];
    const largest = Math.max(...counts);
    for (const count of counts) {
      for (let round = 1; round <= rounds; round++) {
        // Restart alone compares nothing: Biboumi's scale run would only cost time.
        const inRound = only.has("scale") ? gateways() : gateways().filter((g) => g === postern);
        for (const gateway of inRoundOrder(round, inRound)) {
          const withRestart = gateway === postern && count === largest && only.has("restart");
          const restarter = withRestart
            ? async () => {
                const old = postern!;
                await old.stop();
                const next = await startPosternProcess(
                  lab.servers,
                  { domain: POSTERN_DOMAIN, secret: lab.secrets.postern, cpuProfileDir, dir: old.dir },
                  probe,
                );
                postern = next;
                return { gateway: next, startedAt: next.startedAt, onlineAt: performance.now() };
              }
            : undefined;
          const run = await scaleRun(
            gateway,
            users.slice(0, count),
            lab.irc,
            round,
            { channelSize: 10, joinTimeoutMs: 60_000 + count * 100, settleMs: 2_000 },
            restarter,
          );
          if (only.has("scale")) {
            results.scale.push(run.scale);
            log(describeScale(run.scale));
          }
          if (run.restart) {
            results.restart.push(run.restart);
            log(describeRestart(run.restart));
          }
        }
      }
    }
  }

  for (const { direction, users: count } of relayCases) {
    for (let round = 1; round <= rounds; round++) {
      for (const gateway of inRoundOrder(round, gateways())) {
        const run = await relayRun(gateway, direction, users.slice(0, count), lab.irc, round, relayOptions);
        results.relay.push(run);
        log(describeRelay(run));
      }
    }
  }
  await postern?.stop();

  if (only.has("telegram")) {
    const telegramUsers = await lab.users(Math.max(...telegramBots));
    for (const bots of telegramBots) {
      for (let round = 1; round <= rounds; round++) {
        const run = await telegramRun(lab, telegramUsers.slice(0, bots), round, {
          ...telegramOptions,
          cpuProfileDir,
        });
        results.telegram.push(run);
        log(describeTelegram(run));
      }
    }
  } else {
    results.notes.push("Telegram (scenario 5) not selected in this run.");
  }

  if (cpuProfileDir)
    results.notes.push(
      `Postern CPU profiles (node --cpu-prof) in ${cpuProfileDir}; summarize with \`node --import tsx bench/profile-summary.ts <file>\``,
    );

  const stamp = startedAt.toISOString().slice(0, 10) + (quick ? "-quick" : "") + (label ? `-${label}` : "");
  await mkdir(outDir, { recursive: true });
  const markdown = markdownReport(results);
  const svgName = `${stamp}.svg`;
  await writeFile(join(outDir, `${stamp}.md`), `${markdown}\n![Relay latency distributions](${svgName})\n`);
  await writeFile(join(outDir, svgName), latencySvg(results));
  await writeFile(
    join(outDir, `${stamp}.json`),
    `${JSON.stringify(withoutRawLatencies(results), null, 1)}\n`,
  );
  process.stdout.write(`\n${terminalSummary(markdown)}\n`);
  log(`report written to ${join(outDir, `${stamp}.md`)} (chart ${svgName})`);
  return 0;
}

/** The JSON keeps every figure but not the tens of thousands of raw latencies. */
function withoutRawLatencies(results: BenchResults): unknown {
  return {
    ...results,
    relay: results.relay.map((r) => ({
      ...r,
      throughput: { ...r.throughput, latenciesMs: undefined },
      paced: { ...r.paced, latenciesMs: undefined },
    })),
    telegram: results.telegram.map((r) => ({
      ...r,
      throughput: withoutLatencies(r.throughput),
      paced: withoutLatencies(r.paced),
    })),
  };
}

function withoutLatencies(phase: TelegramRunResult["paced"]): unknown {
  return {
    ...phase,
    latenciesMs: undefined,
    perBot: phase.perBot.map((p) => ({ ...p, latenciesMs: undefined })),
  };
}

function describeRelay(r: RelayRunResult): string {
  const t = r.throughput;
  return `${r.gateway.padEnd(7)} ${r.direction} ${r.users} user(s) round ${r.round}: ${t.messagesPerSecond.toFixed(0)} msg/s, lost ${t.lost + r.paced.lost}, dup ${t.duplicates + r.paced.duplicates}, order ${t.orderViolations + r.paced.orderViolations}, errors ${r.errors}${t.ending === "stalled" || r.paced.ending === "stalled" ? " (STALLED)" : ""}`;
}

function describeScale(r: ScaleRunResult): string {
  return `${r.gateway.padEnd(7)} ${r.users} puppet(s) round ${r.round}: joined in ${r.joinSeconds.toFixed(2)} s, RSS ${(r.rssBeforeKiB / 1024).toFixed(1)} → ${(r.rssAfterKiB / 1024).toFixed(1)} MiB (${r.perPuppetKiB.toFixed(1)} KiB/puppet), CPU ${r.cpuSeconds.toFixed(2)} s${r.failedJoins ? `, ${r.failedJoins} FAILED joins` : ""}`;
}

function describeTelegram(r: TelegramRunResult): string {
  const t = r.throughput;
  const p = r.paced;
  return `Postern Telegram, ${r.bots} bot(s) round ${r.round}: ${t.updatesPerSecond.toFixed(0)} updates/s, lost ${t.lost + p.lost}, dup ${t.duplicates + p.duplicates}, order ${t.orderViolations + p.orderViolations}${t.stalled || p.stalled ? " (STALLED)" : ""}`;
}

function describeRestart(r: RestartResult): string {
  return `Postern restart with ${r.users} users: online after ${r.onlineSeconds.toFixed(2)} s, ${r.rejoined}/${r.users} puppets back after ${r.allBackSeconds.toFixed(2)} s`;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
} finally {
  await cleanupAll();
}
process.exit(code);
