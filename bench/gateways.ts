/**
 * The two gateways under test, each a separate process against the same Prosody and ngIRCd:
 * Postern (`node --import tsx src/cli.ts run`, with the IRC adapter) and Biboumi (the Debian
 * package, in the foreground with its own config and SQLite database in a temp folder).
 *
 * Both are given the same IRC server under the same name, 127.0.0.1, so a channel is
 * `#chan%127.0.0.1@<gateway domain>` on either. Flood limits are lifted on both sides for the
 * bench (see POSTERN_BENCH_IRC_SETTINGS and Biboumi's throttle limit), because the figures are
 * about the gateways, not about the limits that protect IRC servers in production.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type RunningProcess,
  readLogTail,
  removeDir,
  startProcess,
  tempDir,
} from "../test/support/service.ts";
import { type Element, type XmppTestClient, xml } from "../test/support/xmpp-client.ts";
import { onCleanup } from "./cleanup.ts";

export const ROOT = resolve(import.meta.dirname, "..");

/** The IRC server's name in room and contact addresses, on both gateways. */
export const IRC_SERVER = "127.0.0.1";

export type GatewayName = "Postern" | "Biboumi";

/** One gateway process under test. */
export interface GatewayUnderTest {
  name: GatewayName;
  /** Its component domain. */
  domain: string;
  /** Letter that starts its puppets' nicks, so both gateways' puppets never collide on IRC. */
  nickTag: string;
  /** The MUC JID of an IRC channel (with '#') on the bench IRC server. */
  roomJid(channel: string): string;
  /** The process to measure (/proc/<pid>). */
  pid(): number;
  /** Per-user setup needed once before the user can reach the bench IRC server. */
  prepareUser(client: XmppTestClient): Promise<void>;
  /** The last lines the process wrote (log), for error messages. */
  logTail(): Promise<string>;
  /** Stops the process gracefully (SIGTERM); resolves when it is gone. */
  stop(): Promise<void>;
}

/** Where the gateways connect. */
export interface BenchServers {
  componentPort: number;
  ircPort: number;
  redisUrl: string;
}

/**
 * Postern's IRC settings for the bench. Production defaults are burst 5 / one line per 2 s /
 * 20 queued lines per connection and one new connection per 2 s per server; here a puppet may send
 * 1000 lines/s with a 100 000-line burst and queue, and connections start with no spacing, as
 * Biboumi does.
 */
export const POSTERN_BENCH_IRC_SETTINGS = {
  flood: {
    burst: 100_000,
    refillMs: 1,
    maxQueued: 100_000,
    networkLinesPerSecond: 1_000_000,
    maxLinesPerMessage: 100,
  },
  connections: { maxPerUser: 5, maxTotal: 100_000, minIntervalMs: 0 },
};

/** Biboumi's per-server throttle limit for bench users: negative turns its 1 line/s throttle off. */
export const BIBOUMI_THROTTLE_LIMIT = "-1";

export interface PosternOptions {
  domain: string;
  secret: string;
  /** Write a V8 CPU profile (`node --cpu-prof`) into this folder when the process exits. */
  cpuProfileDir?: string;
  /** Reuse this config folder (restart on the same Redis state); a new one otherwise. */
  dir?: string;
  /** The adapter and its settings; the IRC adapter on the bench IRC server when absent. */
  adapter?: { name: string; settings: Record<string, unknown> };
  /** Redis key prefix, so separate Postern processes do not share state ("bench:" by default). */
  keyPrefix?: string;
}

export interface RunningPosternProcess extends GatewayUnderTest {
  /** When the process was spawned (performance.now()). */
  startedAt: number;
  dir: string;
}

/**
 * Starts Postern as a subprocess (the IRC gateway unless `options.adapter` says otherwise) and
 * resolves once its component is online.
 */
export async function startPosternProcess(
  servers: BenchServers,
  options: PosternOptions,
  probe: XmppTestClient,
): Promise<RunningPosternProcess> {
  const dir = options.dir ?? (await tempDir("bench-postern"));
  const configFile = join(dir, "postern.yaml");
  const logFile = join(dir, "postern.log");
  const config = {
    log: { level: "info" },
    mode: "development",
    redis: { url: servers.redisUrl, keyPrefix: options.keyPrefix ?? "bench:" },
    secrets: { encryptionKey: randomBytes(32).toString("hex") },
    gateways: [
      {
        domain: options.domain,
        adapter: options.adapter?.name ?? "irc",
        xmpp: { host: "127.0.0.1", port: servers.componentPort, secret: options.secret },
        users: { allowedDomains: ["localhost"] },
        limits: { registrationsPerHourPerDomain: 1_000_000 },
        settings: options.adapter?.settings ?? {
          servers: { [IRC_SERVER]: { host: "127.0.0.1", port: servers.ircPort } },
          ...POSTERN_BENCH_IRC_SETTINGS,
        },
      },
    ],
  };
  // The encryption key must survive a restart on the same Redis: keep the first one written.
  if (options.dir === undefined) await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`);
  const nodeArgs = [
    ...(options.cpuProfileDir ? ["--cpu-prof", "--cpu-prof-dir", options.cpuProfileDir] : []),
    "--import",
    "tsx",
    "src/cli.ts",
    "run",
    "--config",
    configFile,
  ];
  const startedAt = performance.now();
  const proc = startLogged(process.execPath, nodeArgs, logFile, ROOT);
  const stop = onCleanup("Postern", () => proc.stop(15_000));
  try {
    await waitForComponent(probe, options.domain, proc, logFile);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    name: "Postern",
    domain: options.domain,
    nickTag: "p",
    startedAt,
    dir,
    roomJid: (channel) => `${channel}%${IRC_SERVER}@${options.domain}`,
    pid: () => pidOf(proc),
    prepareUser: async () => {},
    logTail: () => tail(logFile),
    stop,
  };
}

export interface BiboumiOptions {
  domain: string;
  secret: string;
  /**
   * Where Biboumi's SQLite database lives: "memory" puts it on /dev/shm (tmpfs), "disk" in the
   * temp folder. Biboumi writes every room message to its history table for every user in one
   * transaction each, and SQLite syncs each transaction to disk. In a quick run on this machine's
   * disk that held it to 60 messages/s IRC → MUC for one user, and with 50 users a 100-message
   * burst produced no delivery within 15 s. On tmpfs the same inserts cost no disk sync, which
   * compares the gateways' code rather than the disk (Postern's Redis uses `appendfsync
   * everysec`, which never waits for the disk per message).
   */
  database: "memory" | "disk";
}

/** Starts Biboumi in the foreground and resolves once its component is online. */
export async function startBiboumi(
  servers: BenchServers,
  options: BiboumiOptions,
  probe: XmppTestClient,
): Promise<GatewayUnderTest> {
  const dir = await tempDir("bench-biboumi");
  const dbDir = options.database === "memory" ? await mkdtemp("/dev/shm/postern-bench-biboumi-") : dir;
  const configFile = join(dir, "biboumi.cfg");
  const logFile = join(dir, "biboumi.log");
  // identd_port=0: no identd (port 113 needs privileges and the bench needs none of it).
  // policy_directory: our folder, so no system TLS policy applies (bench users use plain ports).
  await writeFile(
    configFile,
    [
      `hostname=${options.domain}`,
      `password=${options.secret}`,
      "xmpp_server_ip=127.0.0.1",
      `port=${servers.componentPort}`,
      `db_name=${join(dbDir, "biboumi.sqlite")}`,
      "identd_port=0",
      `policy_directory=${dir}`,
      "realname_customization=true",
      "log_level=1",
      `log_file=${logFile}`,
      "",
    ].join("\n"),
  );
  const proc = startLogged("biboumi", [configFile], join(dir, "biboumi.out"), dir);
  const stop = onCleanup("Biboumi", async () => {
    await proc.stop(10_000);
    await removeDir(dir);
    if (dbDir !== dir) await rm(dbDir, { recursive: true, force: true });
  });
  try {
    await waitForComponent(probe, options.domain, proc, logFile);
  } catch (error) {
    await stop();
    throw error;
  }
  const serverJid = `${IRC_SERVER}@${options.domain}`;
  return {
    name: "Biboumi",
    domain: options.domain,
    nickTag: "b",
    roomJid: (channel) => `${channel}%${IRC_SERVER}@${options.domain}`,
    pid: () => pidOf(proc),
    prepareUser: (client) => configureBiboumiServer(client, serverJid, servers.ircPort),
    logTail: () => tail(logFile),
    stop,
  };
}

const COMMANDS_NS = "http://jabber.org/protocol/commands";
const DATA_NS = "jabber:x:data";

/**
 * Biboumi tries TLS on 6697 and plain 6667 by default, and sends at most one line per second after
 * 10; each user sets the bench server's port and lifts the throttle with the server's "configure"
 * ad-hoc command, as a Biboumi user would (the settings live in Biboumi's database).
 */
async function configureBiboumiServer(
  client: XmppTestClient,
  serverJid: string,
  port: number,
): Promise<void> {
  const first = await client.iq(
    xml(
      "iq",
      { type: "set", to: serverJid },
      xml("command", { xmlns: COMMANDS_NS, node: "configure", action: "execute" }),
    ),
  );
  const command = first.getChild("command", COMMANDS_NS);
  const sessionid = command?.attrs.sessionid;
  const form = command?.getChild("x", DATA_NS);
  if (!sessionid || !form) throw new Error(`Biboumi's configure command sent no form: ${first.toString()}`);
  const wanted: Record<string, string[]> = {
    ports: [String(port)],
    tls_ports: [],
    throttle_limit: [BIBOUMI_THROTTLE_LIMIT],
  };
  const fields: Element[] = [];
  for (const field of form.getChildren("field")) {
    const name = field.attrs.var;
    if (!name || field.attrs.type === "fixed") continue;
    const values = wanted[name] ?? field.getChildren("value").map((v) => v.getText());
    fields.push(xml("field", { var: name }, ...values.map((v) => xml("value", {}, v))));
  }
  for (const name of Object.keys(wanted)) {
    if (!fields.some((f) => f.attrs.var === name))
      throw new Error(`Biboumi's server form has no ${name} field`);
  }
  const done = await client.iq(
    xml(
      "iq",
      { type: "set", to: serverJid },
      xml(
        "command",
        { xmlns: COMMANDS_NS, node: "configure", sessionid, action: "complete" },
        xml("x", { xmlns: DATA_NS, type: "submit" }, ...fields),
      ),
    ),
  );
  const status = done.getChild("command", COMMANDS_NS)?.attrs.status;
  if (status !== "completed")
    throw new Error(`Biboumi's configure command ended "${status}": ${done.toString()}`);
}

/** Spawns `command` with stdout and stderr appended to `logFile` (exec keeps the pid the command's). */
function startLogged(command: string, args: string[], logFile: string, cwd: string): RunningProcess {
  return startProcess("/bin/sh", ["-c", `exec "$0" "$@" >>'${logFile}' 2>&1`, command, ...args], { cwd });
}

function pidOf(proc: RunningProcess): number {
  const pid = proc.child.pid;
  if (pid === undefined) throw new Error("the gateway process has no pid (it did not start)");
  return pid;
}

/** Polls disco#info on the component until it answers (Prosody bounces while it is offline). */
async function waitForComponent(
  probe: XmppTestClient,
  domain: string,
  proc: RunningProcess,
  logFile: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const exit = proc.exitStatus();
    if (exit !== undefined) throw new Error(`${domain}: the gateway ${exit}\n${await tail(logFile)}`);
    try {
      await probe.iq(
        xml(
          "iq",
          { type: "get", to: domain },
          xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }),
        ),
        2_000,
      );
      return;
    } catch {
      // Not connected yet (Prosody answers service-unavailable), or slow to answer: try again.
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${domain} to come online\n${await tail(logFile)}`,
      );
    await sleep(200);
  }
}

function tail(file: string, chars = 4_000): Promise<string> {
  return readLogTail(file, chars);
}
