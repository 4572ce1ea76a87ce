/**
 * The Telegram gateway end to end: a real Redis, a real Prosody with the `telegram.localhost`
 * component and test users, the fake Bot API server (test/fakes/telegram), and Postern in this
 * process with the real Telegram adapter, configured from YAML like an operator would, with its
 * HTTP file proxy on a free loopback port.
 *
 * Every log line Postern writes is kept (`logText()`), so tests can check no secret ever shows.
 */
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import pino from "pino";
import { telegramAdapter } from "../../adapters/telegram/index.ts";
import type { Adapter, AdapterFactory } from "../../src/adapter/adapter.ts";
import { parseConfigText } from "../../src/config/load.ts";
import type { PosternConfig } from "../../src/config/schema.ts";
import { type RunningPostern, startPostern } from "../../src/core/app.ts";
import { type FakeTelegram, type FakeTelegramOptions, startFakeTelegram } from "../fakes/telegram/server.ts";
import { type FaultProxy, type FaultTapEvent, startFaultProxy } from "./fault-proxy.ts";
import { freePort } from "./ports.ts";
import { type ProsodyServer, startProsody } from "./prosody.ts";
import { type RedisServer, startRedis } from "./redis.ts";
import { connectXmpp, type XmppTestClient } from "./xmpp-client.ts";

export const TG_GATEWAY = "telegram.localhost";
export const TG_USERS = ["alice", "bob", "mallory"] as const;
export const TG_PASSWORD = "secret-pw";

export interface TelegramHarness {
  prosody: ProsodyServer;
  redis: RedisServer;
  telegram: FakeTelegram;
  /** The fault proxy Postern reaches the fake Bot API through, when asked for (`faultProxy`). */
  proxy: FaultProxy | undefined;
  config: PosternConfig;
  postern: RunningPostern;
  login(user: (typeof TG_USERS)[number], resource?: string): Promise<XmppTestClient>;
  /** Everything Postern logged so far (debug level), one JSON object per line. */
  logText(): string;
  /**
   * Starts a fresh Postern on the same Redis. With `crash`, the old one is dropped as `kill -9`
   * would: the component link cut with no goodbye, its Redis connection closed, nothing flushed.
   */
  restartPostern(opts?: { crash?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

export interface TelegramHarnessOptions {
  /** Extra YAML for the gateway's `settings` mapping (one line, `key: value, …`). */
  settings?: string;
  fake?: FakeTelegramOptions;
  /** Origins the fetcher may reach although they are loopback (a test's own file server). */
  fetchAllowOrigins?: string[];
  /** Environment variables for `${NAME}` references in the config (e.g. the portal token). */
  env?: Record<string, string>;
  /** Put test/support/fault-proxy.ts between Postern and the fake Bot API (its tap, if given). */
  faultProxy?: { tap?: (event: FaultTapEvent) => void };
}

export async function startTelegramHarness(opts: TelegramHarnessOptions = {}): Promise<TelegramHarness> {
  const secret = randomBytes(12).toString("hex");
  const [redis, prosody, telegram] = await Promise.all([
    startRedis(),
    startProsody({
      components: [{ domain: TG_GATEWAY, secret }],
      users: TG_USERS.map((u) => ({ username: u, password: TG_PASSWORD })),
    }),
    startFakeTelegram(opts.fake),
  ]);
  const { port: fakePort } = new URL(telegram.apiRoot);
  const proxy = opts.faultProxy
    ? await startFaultProxy({
        target: { host: "127.0.0.1", port: Number(fakePort) },
        ...(opts.faultProxy.tap ? { tap: opts.faultProxy.tap } : {}),
      })
    : undefined;
  const apiRoot = proxy ? `http://127.0.0.1:${proxy.port}` : telegram.apiRoot;
  // Every adapter instance ever created, so the ones left behind by a simulated crash can be
  // stopped when the test ends (a killed process would have taken them along).
  const created: Adapter[] = [];
  const factory: AdapterFactory<unknown> = {
    ...(telegramAdapter as AdapterFactory<unknown>),
    create(context) {
      const adapter = (telegramAdapter as AdapterFactory<unknown>).create(context);
      created.push(adapter);
      return adapter;
    },
  };
  // The file proxy serves files from Telegram; the fetcher takes users' files (loopback only
  // where the test allows an origin).
  const yaml = `
log: { level: debug }
mode: development
redis: { url: "${redis.url}", keyPrefix: "tg:" }
secrets: { encryptionKey: "${randomBytes(32).toString("hex")}" }
http: { host: 127.0.0.1, port: ${await freePort()}, filesDir: "${prosody.dir}/files", maxFileBytes: 1000000 }
fetch: { maxBytes: 2000000, timeoutMs: 10000, allowOrigins: ${JSON.stringify(opts.fetchAllowOrigins ?? [])} }
gateways:
  - domain: ${TG_GATEWAY}
    adapter: telegram
    xmpp: { host: 127.0.0.1, port: ${prosody.componentPort}, secret: "${secret}" }
    users: { allowedDomains: [localhost] }
    limits: { maxBodyBytes: 65536 }
    settings: { apiRoot: "${apiRoot}", pollLeaseMs: 1500, retry: { baseMs: 50, maxMs: 400 }${opts.settings ? `, ${opts.settings}` : ""} }
`;
  const config = parseConfigText(yaml, "telegram-harness.yaml", {
    adapterSchemas: { telegram: factory.configSchema },
    env: opts.env ?? {},
  });
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString("utf8"));
      done();
    },
  });
  const echo = process.env.POSTERN_TEST_LOG;
  const log = pino(
    { level: "debug" },
    echo
      ? pino.multistream([
          { stream: sink, level: "debug" },
          { stream: process.stderr, level: echo as pino.Level },
        ])
      : sink,
  );
  const start = () => startPostern(config, { telegram: factory }, { log, waitOnlineMs: 15_000 });
  const clients: XmppTestClient[] = [];
  const harness: TelegramHarness = {
    prosody,
    redis,
    telegram,
    proxy,
    config,
    postern: await start(),
    async login(user, resource = "test") {
      const c = await connectXmpp({
        port: prosody.c2sPort,
        domain: "localhost",
        username: user,
        password: TG_PASSWORD,
        resource,
      });
      clients.push(c);
      await c.sendPresence();
      return c;
    },
    logText: () => lines.join(""),
    async restartPostern({ crash = false } = {}) {
      if (crash) {
        for (const g of harness.postern.gateways) await g.abandon();
        await harness.postern.store.close();
        // A killed process frees its port; the new one listens on the same.
        await harness.postern.http?.stop();
      } else {
        await harness.postern.stop();
      }
      harness.postern = await start();
    },
    async stop() {
      await Promise.all(clients.map((c) => c.stop().catch(() => undefined)));
      await harness.postern.stop().catch(() => undefined);
      await Promise.all(created.map((a) => a.stop().catch(() => undefined)));
      await proxy?.close();
      await Promise.all([prosody.stop(), redis.stop(), telegram.close()]);
    },
  };
  return harness;
}
