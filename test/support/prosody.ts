/**
 * A real Prosody 0.12 (the Debian package) for tests: one virtual host for users, one XEP-0114
 * component port for gateways, plain TCP on loopback, config and data in a temp folder.
 *
 * Prosody quirks this works around (checked against 0.12.3):
 * - as root it refuses to run unless `run_as_root = true`, and `prosodyctl` likewise;
 * - it changes into its data folder, so the pidfile and log paths must be absolute;
 * - plain c2s needs `c2s_require_encryption = false` and `allow_unencrypted_plain_auth = true`;
 * - it looks for certificates next to the config file and logs an error if that folder is missing;
 * - mod_s2s is loaded automatically; it is disabled here so nothing listens or dials out.
 * mod_limits is left out on purpose: it throttles c2s reads and would skew benchmarks.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { freePort } from "./ports.ts";
import { type RunningProcess, removeDir, startProcess, tempDir, waitForPort } from "./service.ts";

/** A component (gateway) Prosody accepts on its component port. */
export interface ProsodyComponent {
  domain: string;
  secret: string;
}

/** An account to create before Prosody starts. */
export interface ProsodyUser {
  username: string;
  password: string;
}

export interface ProsodyOptions {
  /** The virtual host users live on; "localhost" by default. */
  domain?: string;
  components: ProsodyComponent[];
  users?: ProsodyUser[];
  /** Loads mod_register so clients can create accounts in-band (XEP-0077). */
  allowRegistration?: boolean;
  /** Prosody's log level; "info" by default (debug logs every stanza, which slows benchmarks). */
  logLevel?: "debug" | "info" | "warn";
  /**
   * What Prosody does when a component connects while a session for its domain is still open:
   * refuse the new one with `conflict` ("kick_new", Prosody's default) or replace the old one.
   */
  componentConflictResolve?: "kick_new" | "kick_old";
}

/** A running Prosody. */
export interface ProsodyServer {
  /** The users' virtual host. */
  domain: string;
  /** Client-to-server port (plain TCP, PLAIN/SCRAM auth without TLS) on 127.0.0.1. */
  c2sPort: number;
  /** XEP-0114 component port on 127.0.0.1 (nothing listens there when no component is configured). */
  componentPort: number;
  /** The temp folder holding config, data and log. */
  dir: string;
  /** Stops Prosody and removes its folder. */
  stop(): Promise<void>;
  /**
   * Stops Prosody, waits `downMs`, starts it again with the same ports and data (accounts, rosters,
   * archives). `kill`: SIGKILL instead of SIGTERM, so its sessions end without a word to anyone.
   */
  restart(options?: { downMs?: number; kill?: boolean }): Promise<void>;
  /** Creates an account (works whether or not Prosody is running). */
  createUser(username: string, password: string): Promise<void>;
  /** Prosody's stdout/stderr and the tail of its log file, for diagnostics. */
  output(): string;
}

/** Prosody's log file inside its folder. */
const LOG_FILE = "prosody.log";

/** Starts Prosody and resolves once both the c2s and the component port accept connections. */
export async function startProsody(options: ProsodyOptions): Promise<ProsodyServer> {
  const domain = options.domain ?? "localhost";
  const dir = await tempDir("prosody");
  const configFile = join(dir, "prosody.cfg.lua");
  const logFile = join(dir, LOG_FILE);
  let proc: RunningProcess | undefined;
  const output = () => `${proc?.output() ?? ""}${logTail(logFile)}`;

  const start = async (c2sPort: number, componentPort: number) => {
    proc = startProcess("prosody", ["-F", "--config", configFile], { cwd: dir });
    try {
      await waitForPort(c2sPort, "Prosody c2s port", 15_000, "127.0.0.1", proc);
      // mod_component, and so the component port, is loaded only when a Component is configured.
      if (options.components.length > 0) {
        await waitForPort(componentPort, "Prosody component port", 15_000, "127.0.0.1", proc);
      }
    } catch (error) {
      await proc.kill();
      throw new Error(`Prosody did not start: ${(error as Error).message}\n${output()}`);
    }
  };

  const createUser = (username: string, password: string) =>
    prosodyctl(configFile, ["register", username, domain, password]);

  try {
    const c2sPort = await freePort();
    const componentPort = await freePort();
    await mkdir(join(dir, "data"));
    await mkdir(join(dir, "certs"));
    await writeFile(configFile, prosodyConfig({ dir, domain, c2sPort, componentPort, options }));
    for (const user of options.users ?? []) await createUser(user.username, user.password);
    await start(c2sPort, componentPort);
    return {
      domain,
      c2sPort,
      componentPort,
      dir,
      output,
      createUser,
      async stop() {
        await proc?.stop();
        await removeDir(dir);
      },
      async restart({ downMs = 0, kill = false } = {}) {
        await (kill ? proc?.kill() : proc?.stop());
        if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
        await start(c2sPort, componentPort);
      },
    };
  } catch (error) {
    await proc?.kill();
    await removeDir(dir);
    throw error;
  }
}

interface ConfigInput {
  dir: string;
  domain: string;
  c2sPort: number;
  componentPort: number;
  options: ProsodyOptions;
}

/** The whole Prosody config; values are written as Lua string literals via JSON, which Lua reads alike for plain ASCII. */
function prosodyConfig({ dir, domain, c2sPort, componentPort, options }: ConfigInput): string {
  const lua = (value: string) => JSON.stringify(value);
  const modules = [
    "roster",
    "saslauth",
    "disco",
    "ping",
    "carbons",
    "mam",
    "pep",
    "vcard_legacy", // vcard-temp, stored in PEP
    "private",
    "blocklist",
    "time",
    "version",
    ...(options.allowRegistration ? ["register"] : []),
  ];
  const components = options.components
    .map((c) => `Component ${lua(c.domain)}\n  component_secret = ${lua(c.secret)}\n`)
    .join("\n");
  return `-- Written by test/support/prosody.ts for one test run.
run_as_root = true
pidfile = ${lua(join(dir, "prosody.pid"))}
data_path = ${lua(join(dir, "data"))}
certificates = ${lua(join(dir, "certs"))}
log = { { levels = { min = ${lua(options.logLevel ?? "info")} }, to = "file", filename = ${lua(join(dir, LOG_FILE))} } }

interfaces = { "127.0.0.1" }
c2s_ports = { ${c2sPort} }
c2s_interfaces = { "127.0.0.1" }
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }
component_ports = { ${componentPort} }
component_interfaces = { "127.0.0.1" }
s2s_ports = { }
http_ports = { }
https_ports = { }

c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"
archive_expires_after = "never"
allow_registration = ${options.allowRegistration ? "true" : "false"}
component_conflict_resolve = ${lua(options.componentConflictResolve ?? "kick_new")}

modules_enabled = { ${modules.map(lua).join(", ")} }
modules_disabled = { "s2s", "s2s_auth_certs" }

VirtualHost ${lua(domain)}

${components}`;
}

/** Runs `prosodyctl --config FILE ...` and fails with its output if it does not exit 0 within 15 s. */
function prosodyctl(configFile: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("prosodyctl", ["--config", configFile, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`prosodyctl ${args[0]} could not run: ${error.message}`));
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`prosodyctl ${args[0]} failed (${signal ?? `exit ${code}`}):\n${out}`));
    });
  });
}

/** The end of Prosody's log file (synchronously, for error messages); "" once the folder is gone. */
function logTail(file: string): string {
  try {
    return `\n--- ${file} ---\n${readFileSync(file, "utf8").slice(-8_000)}`;
  } catch {
    return "";
  }
}
