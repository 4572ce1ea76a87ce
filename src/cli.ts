/**
 * The `postern` command: run the gateway, or check a configuration before running it.
 *
 * Exit codes: 0 success; 1 a runtime failure (a doctor check failed, the gateway stopped on an
 * error); 2 a usage or configuration error (nothing was started).
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { adapterRegistry } from "./adapters.ts";
import { developmentWarnings, formatCheck, runDoctorChecks } from "./config/doctor.ts";
import { ConfigError, loadConfig } from "./config/load.ts";
import { describeRefusal, findInsecureSettings } from "./config/production-checks.ts";
import type { PosternConfig } from "./config/schema.ts";
import { VERSION } from "./version.ts";

/** The help text of `postern --help`. */
export const USAGE = `Usage: postern <command> [options]

Commands:
  run            start the gateways of the configuration file
  check-config   validate the configuration file and exit
  doctor         validate the configuration, then check that Redis answers and that every
                 gateway can log in to its XMPP component port (logs in once, briefly)
  help           show this text

Options:
  -c, --config FILE   the configuration file (default: $POSTERN_CONFIG)
  -h, --help          show this text
  -V, --version       print the version

Exit status: 0 success, 1 a check or the gateway failed, 2 a usage or configuration error
(in production mode, the default, also: Redis without a password or a demo secret).
`;

/** Where the command line writes and what it reads; the real process by default, a fake in tests. */
export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
}

/**
 * What `run` expects from `src/core/app.ts` (written by the core team): `runPostern` starts every
 * gateway of the configuration with the given adapters and settles when the process should exit:
 * it resolves after a clean shutdown (SIGINT/SIGTERM handling is its job) and rejects on a fatal
 * error.
 */
interface AppModule {
  runPostern(config: PosternConfig, adapters: typeof adapterRegistry): Promise<void>;
}

// `help` is a word too, but it needs no configuration, so it is handled with --help.
const COMMANDS = ["run", "check-config", "doctor"] as const;
type Command = (typeof COMMANDS)[number];

/** Runs one command line (without `node` and the script) and returns the exit code. */
export async function main(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    // Node's messages run on ("… To specify a positional argument …"); the first sentence says it.
    return usageError(io, (error as Error).message.split(/\.\s/)[0]!);
  }
  const { values, positionals } = parsed;
  if (values.version) {
    io.stdout(`postern ${VERSION}\n`);
    return 0;
  }
  const [command, ...extra] = positionals;
  if (values.help || command === "help") {
    io.stdout(USAGE);
    return 0;
  }
  if (command === undefined) return usageError(io, "no command given");
  if (!isCommand(command)) return usageError(io, `unknown command "${command}"`);
  if (extra.length > 0) return usageError(io, `unexpected argument "${extra[0]}"`);

  const configPath = values.config ?? io.env.POSTERN_CONFIG;
  if (configPath === undefined || configPath === "") {
    return usageError(io, "no configuration file: give --config FILE or set POSTERN_CONFIG");
  }
  let config: PosternConfig;
  try {
    config = await loadConfig(configPath, { env: io.env, adapterSchemas: adapterSchemas() });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr(`${error.message}\n`);
    return 2;
  }
  // Production mode (the default) refuses demo secrets and an unauthenticated Redis: a
  // configuration error like the ones above, so every command reports it the same way.
  const insecure = config.mode === "production" ? findInsecureSettings(config) : [];
  if (insecure.length > 0) {
    io.stderr(`${describeRefusal(configPath, insecure)}\n`);
    return 2;
  }

  switch (command) {
    case "check-config":
      io.stdout(`${configSummary(config)}\n`);
      return 0;
    case "doctor":
      return doctor(config, io);
    case "run":
      return run(config, io);
  }
}

function parseCommandLine(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: "string", short: "c" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "V" },
    },
  });
}

function isCommand(word: string): word is Command {
  return (COMMANDS as readonly string[]).includes(word);
}

function usageError(io: CliIO, problem: string): number {
  io.stderr(`postern: ${problem}\n\n${USAGE}`);
  return 2;
}

function adapterSchemas() {
  return Object.fromEntries(
    Object.entries(adapterRegistry).map(([name, adapter]) => [name, adapter.configSchema]),
  );
}

/** `config OK: 2 gateway(s): irc.localhost (irc), telegram.localhost (telegram)` */
export function configSummary(config: PosternConfig): string {
  const gateways = config.gateways.map((gateway) => `${gateway.domain} (${gateway.adapter})`).join(", ");
  return `config OK: ${config.gateways.length} gateway(s): ${gateways}`;
}

async function doctor(config: PosternConfig, io: CliIO): Promise<number> {
  io.stdout(`${configSummary(config)}\n`);
  for (const warning of developmentWarnings(config)) io.stdout(`${warning}\n`);
  const checks = await runDoctorChecks(config);
  for (const check of checks) io.stdout(`${formatCheck(check)}\n`);
  return checks.every((check) => check.ok) ? 0 : 1;
}

async function run(config: PosternConfig, io: CliIO): Promise<number> {
  try {
    const app = await loadApp();
    await app.runPostern(config, adapterRegistry);
    return 0;
  } catch (error) {
    io.stderr(`postern: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

// Loaded on demand so that check-config and doctor never load the network code. The specifier is
// computed: from a compiled build the file is `app.js`.
async function loadApp(): Promise<AppModule> {
  const extension = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  const loaded: unknown = await import(new URL(`./core/app${extension}`, import.meta.url).href);
  if (!isAppModule(loaded)) throw new Error("src/core/app does not export runPostern(config, adapters)");
  return loaded;
}

function isAppModule(value: unknown): value is AppModule {
  return (
    typeof value === "object" && value !== null && typeof Reflect.get(value, "runPostern") === "function"
  );
}

function processIO(): CliIO {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
  };
}

/** `postern doctor | head -1` closes our stdout early: that is not a crash worth a stack trace. */
export function exitQuietlyOnClosedPipe(): void {
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    process.exit(process.exitCode ?? 0);
  });
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

// `node --import tsx src/cli.ts …` runs this file directly; bin/postern.js imports it and calls main.
if (isEntryPoint()) {
  exitQuietlyOnClosedPipe();
  process.exitCode = await main(process.argv.slice(2));
}
