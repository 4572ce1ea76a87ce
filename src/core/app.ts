/**
 * The running process: one Redis store shared by every configured gateway, each gateway with its
 * own component link and adapter. `startPostern` is what tests call; `runPostern` adds signal
 * handling for the command line.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino, { type Logger } from "pino";
import type { AdapterFactory } from "../adapter/adapter.ts";
import {
  describeDevelopmentWarning,
  findInsecureSettings,
  InsecureConfigError,
} from "../config/production-checks.ts";
import type { PosternConfig } from "../config/schema.ts";
import { FileStore } from "../http/file-store.ts";
import { SafeFetcher } from "../http/safe-fetch.ts";
import { HttpServer } from "../http/server.ts";
import { createRedis, Store } from "../store/index.ts";
import { Gateway } from "./gateway.ts";

/**
 * Log keys whose values are replaced with "[redacted]", at the top level and one level down.
 * Secrets are never logged on purpose; this is the net under that rule.
 */
const SECRET_KEYS = [
  "password",
  "secret",
  "token",
  "botToken",
  "encryptionKey",
  "saslPassword",
  "nickservPassword",
  "registration",
  "values",
];
export const REDACTED_PATHS = SECRET_KEYS.flatMap((k) => [k, `*.${k}`]);

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    { level, redact: { paths: REDACTED_PATHS, censor: "[redacted]" }, base: { app: "postern" } },
    destination,
  );
}

export interface RunningPostern {
  gateways: Gateway[];
  store: Store;
  http: HttpServer | undefined;
  stop(): Promise<void>;
}

export async function startPostern(
  config: PosternConfig,
  adapters: Record<string, AdapterFactory<unknown>>,
  opts: { log?: Logger; waitOnlineMs?: number } = {},
): Promise<RunningPostern> {
  const log = opts.log ?? createLogger(config.log.level);
  // Before anything connects: production mode refuses demo secrets and an unauthenticated Redis.
  const insecure = findInsecureSettings(config);
  if (insecure.length > 0) {
    if (config.mode === "production") throw new InsecureConfigError("the configuration", insecure);
    log.warn(describeDevelopmentWarning(insecure));
  }
  const redis = createRedis(config.redis, log.child({ part: "redis" }));
  const store = await Store.open({
    redis,
    prefix: config.redis.keyPrefix,
    encryptionKey: config.secrets.encryptionKey,
  });
  const files = config.http
    ? new FileStore({
        dir: config.http.filesDir ?? join(tmpdir(), "postern-files"),
        publicUrl: config.http.publicUrl ?? `http://${config.http.host}:${config.http.port}`,
        ttlMs: config.http.fileTtlHours * 3_600_000,
        maxBytes: config.http.maxFileBytes,
      })
    : undefined;
  const fetcher = new SafeFetcher({
    maxBytes: config.fetch.maxBytes,
    timeoutMs: config.fetch.timeoutMs,
    allowOrigins: config.fetch.allowOrigins.map((o) => new URL(o).origin),
  });
  const gateways: Gateway[] = [];
  for (const gatewayConfig of config.gateways) {
    const factory = adapters[gatewayConfig.adapter];
    if (!factory) throw new Error(`no adapter named ${gatewayConfig.adapter}`);
    gateways.push(
      new Gateway({
        config: gatewayConfig,
        factory,
        settings: gatewayConfig.settings,
        store,
        log,
        files,
        fetcher,
      }),
    );
  }
  const http = config.http
    ? new HttpServer({
        host: config.http.host,
        port: config.http.port,
        files,
        log: log.child({ part: "http" }),
        health: {
          gateways: () => gateways.map((g) => ({ domain: g.ctx.domain, online: g.online })),
          redisOk: () => store.ping(),
        },
      })
    : undefined;
  await http?.start();
  const sweeper = files ? setInterval(() => void files.sweep().catch(() => undefined), 3_600_000) : undefined;
  sweeper?.unref();
  await Promise.all(gateways.map((g) => g.start({ waitOnlineMs: opts.waitOnlineMs })));
  let stopping: Promise<void> | null = null;
  return {
    gateways,
    store,
    http,
    stop() {
      stopping ??= (async () => {
        clearInterval(sweeper);
        await Promise.all(gateways.map((g) => g.stop()));
        await http?.stop();
        await store.close();
        log.info("stopped");
      })();
      return stopping;
    },
  };
}

/** Runs until SIGINT/SIGTERM, then shuts down cleanly. */
export async function runPostern(
  config: PosternConfig,
  adapters: Record<string, AdapterFactory<unknown>>,
): Promise<void> {
  const log = createLogger(config.log.level);
  process.on("unhandledRejection", (reason) => log.error({ err: String(reason) }, "unhandled rejection"));
  const running = await startPostern(config, adapters, { log });
  log.info({ gateways: config.gateways.map((g) => g.domain) }, "Postern running");
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      log.info({ signal }, "shutting down");
      const forced = setTimeout(() => {
        log.error("shutdown took too long; exiting");
        process.exit(1);
      }, 15_000);
      forced.unref();
      running.stop().then(resolve, (err: unknown) => {
        log.error({ err: String(err) }, "shutdown failed");
        resolve();
      });
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  });
}
