/**
 * Real IRC servers for tests: ngIRCd (plain RFC IRC, the common case) and InspIRCd 3 (IRCv3:
 * server-time, echo-message, message-tags, msgid, ...). Both are the Debian packages, run in the
 * foreground from a config written into a temp folder, listening on one loopback port.
 *
 * Every test client connects from 127.0.0.1, so per-IP connection limits and flood throttling are
 * lifted; hostname and ident lookups are off so registration is immediate and nothing leaves
 * loopback.
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { freePort } from "./ports.ts";
import {
  type RunningProcess,
  readLogTail,
  removeDir,
  startProcess,
  tempDir,
  waitForPort,
} from "./service.ts";

/** A running IRC server. */
export interface IrcServer {
  host: "127.0.0.1";
  port: number;
  /** The server's name as it appears in prefixes and numerics. */
  serverName: string;
  /** Stops the server and removes its temp folder. */
  stop(): Promise<void>;
  /** Stops the server (all clients are disconnected), waits `downMs`, starts it again on the same port. */
  restart(options?: { downMs?: number }): Promise<void>;
  /** What the server process printed so far, for diagnostics. */
  output(): string;
}

export interface IrcServerOptions {
  /** Server name; also what clients see as the source of numerics. */
  serverName?: string;
  /**
   * ngIRCd only: PING a client after this many seconds without a line from it (120 by default),
   * and drop it ("Ping timeout") when no PONG follows within `pongTimeoutS` (20 by default).
   */
  pingTimeoutS?: number;
  pongTimeoutS?: number;
}

/** Starts ngIRCd 26 with limits lifted for tests (see the config below for each setting's reason). */
export async function startNgircd(options: IrcServerOptions = {}): Promise<IrcServer> {
  const serverName = options.serverName ?? "irc.ngircd.test";
  const dir = await tempDir("ngircd");
  const port = await freePort();
  const configFile = join(dir, "ngircd.conf");
  // ngIRCd refuses to run as root and switches to "nobody" (ServerUID cannot be 0), so that user
  // must be able to reach the folder and write its pidfile.
  const runDir = join(dir, "run");
  await mkdir(runDir);
  await mkdir(join(dir, "conf.d"));
  await chmod(dir, 0o755);
  await chmod(runDir, 0o777);
  await writeFile(
    configFile,
    `[Global]
  Name = ${serverName}
  Info = Postern test server
  AdminInfo1 = Postern tests
  AdminInfo2 = loopback only
  AdminEMail = tests@localhost
  Listen = 127.0.0.1
  Ports = ${port}
  PidFile = ${join(runDir, "ngircd.pid")}
  MotdPhrase = Postern test server
[Limits]
  # Every test client comes from 127.0.0.1.
  MaxConnections = 0
  MaxConnectionsIP = 0
  MaxJoins = 0
  MaxNickLength = 30
  # No penalty time; together with user mode F for everyone this lifts the ~3 lines/s flood limit.
  MaxPenaltyTime = 0
  PingTimeout = ${options.pingTimeoutS ?? 120}
  PongTimeout = ${options.pongTimeoutS ?? 20}
[Options]
  DNS = no
  Ident = no
  PAM = no
  DefaultUserModes = F
  # Keep the system's /etc/ngircd/ngircd.conf.d out of the test server.
  IncludeDir = ${join(dir, "conf.d")}
`,
  );
  return launch({
    name: "ngircd",
    serverName,
    dir,
    port,
    command: "/usr/sbin/ngircd",
    args: ["--nodaemon", "--config", configFile],
  });
}

/** Starts InspIRCd 3 with the IRCv3 modules Debian ships and no flood limits for loopback clients. */
export async function startInspircd(options: IrcServerOptions = {}): Promise<IrcServer> {
  const serverName = options.serverName ?? "irc.inspircd.test";
  const dir = await tempDir("inspircd");
  const port = await freePort();
  const configFile = join(dir, "inspircd.conf");
  await writeFile(join(dir, "motd.txt"), "Postern test server\n");
  const ircv3Modules = [
    "cap",
    "ircv3", // away-notify, account-notify, extended-join
    "ircv3_servertime",
    "ircv3_echomessage",
    "ircv3_msgid",
    "ircv3_ctctags", // message-tags
    "ircv3_accounttag",
    "ircv3_capnotify",
    "ircv3_chghost",
    "ircv3_batch",
    "namesx", // multi-prefix
  ];
  await writeFile(
    configFile,
    `<config format="xml">
<define name="dir" value="${dir}">
<path configdir="&dir;" datadir="&dir;" logdir="&dir;" runtimedir="&dir;" moduledir="/usr/lib/inspircd/modules">
<server name="${serverName}" description="Postern test server" network="PosternTest">
<admin name="Postern tests" nick="tests" email="tests@localhost">
<bind address="127.0.0.1" port="${port}" type="clients">
# Loopback test clients: no host/ident lookups, no fake lag, no command rate or clone limits.
<connect name="loopback" allow="127.0.0.1" timeout="20" pingfreq="120"
         resolvehostnames="no" useident="no" fakelag="no" commandrate="1000000" threshold="1000000"
         recvq="65536" softsendq="1048576" hardsendq="4194304"
         localmax="100000" globalmax="100000" maxchans="1000" limit="100000">
# Hostname lookups are off; should anything still resolve, it must not leave loopback.
<dns server="127.0.0.1" timeout="1">
<files motd="&dir;/motd.txt">
<pid file="&dir;/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="&dir;/inspircd.log">
<limits maxnick="30" maxchan="64" maxtopic="390" maxquit="255" maxkick="255" maxreal="128" maxaway="200">
<channels users="1000" opers="1000">
<security hideserver="" userstats="Pu">
${ircv3Modules.map((name) => `<module name="${name}">`).join("\n")}
`,
  );
  return launch({
    name: "inspircd",
    serverName,
    dir,
    port,
    command: "/usr/sbin/inspircd",
    args: ["--config", configFile, "--nofork", "--runasroot"],
    logFile: join(dir, "inspircd.log"),
  });
}

interface LaunchSpec {
  name: string;
  serverName: string;
  dir: string;
  port: number;
  command: string;
  args: string[];
  /** A log file the server writes besides stdout/stderr, appended to diagnostics. */
  logFile?: string;
}

async function launch(spec: LaunchSpec): Promise<IrcServer> {
  let proc: RunningProcess | undefined;
  const output = () => proc?.output() ?? "";

  const start = async () => {
    proc = startProcess(spec.command, spec.args, { cwd: spec.dir });
    try {
      await waitForPort(spec.port, `${spec.name} client port`, 15_000, "127.0.0.1", proc);
    } catch (error) {
      await proc.kill();
      const log = spec.logFile ? await readLogTail(spec.logFile) : "";
      throw new Error(`${spec.name} did not start: ${(error as Error).message}\n${output()}${log}`);
    }
  };

  try {
    await start();
  } catch (error) {
    await removeDir(spec.dir);
    throw error;
  }

  return {
    host: "127.0.0.1",
    port: spec.port,
    serverName: spec.serverName,
    output,
    async stop() {
      await proc?.stop();
      await removeDir(spec.dir);
    },
    async restart({ downMs = 0 } = {}) {
      await proc?.stop();
      if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
      await start();
    },
  };
}
