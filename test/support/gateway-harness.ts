/**
 * Starts the whole core for an integration test: a real Redis, a real Prosody with the gateway's
 * component and test users, and Postern in this process with the test network adapter.
 */
import { randomBytes } from "node:crypto";
import pino from "pino";
import type { PosternConfig } from "../../src/config/schema.ts";
import { type RunningPostern, startPostern } from "../../src/core/app.ts";
import { type FaultProxy, startFaultProxy } from "./fault-proxy.ts";
import { freePort } from "./ports.ts";
import { type ProsodyServer, startProsody } from "./prosody.ts";
import { type RedisServer, startRedis } from "./redis.ts";
import { TestNetwork } from "./test-network.ts";
import { testNetworkConfig } from "./test-network-config.ts";
import { connectXmpp, type XmppTestClient } from "./xmpp-client.ts";

export const GATEWAY = "test.localhost";
export const USERS = ["alice", "bob", "mallory", "admin"] as const;
export const PASSWORD = "secret-pw";

export interface Harness {
  prosody: ProsodyServer;
  redis: RedisServer;
  /** With the `redisProxy` option: the TCP fault proxy between Postern and Redis. */
  redisProxy?: FaultProxy;
  network: TestNetwork;
  config: PosternConfig;
  postern: RunningPostern;
  /** Logs in a test user (resource defaults to "test"). */
  login(user: (typeof USERS)[number], resource?: string): Promise<XmppTestClient>;
  /** Stops Postern (as after a crash when `crash`: no goodbyes) and starts a fresh one on the same Redis. */
  restartPostern(opts?: { crash?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

export async function startHarness(
  opts: {
    maxStanzaBytes?: number;
    http?: boolean;
    portalRooms?: string[];
    /** Where Postern logs (silent unless POSTERN_TEST_LOG names a level). */
    log?: pino.Logger;
    /** The component secret and a Redis password, for tests that look for them. */
    componentSecret?: string;
    redisPassword?: string;
    /** Postern reaches Redis through a TCP fault proxy (`redisProxy`). */
    redisProxy?: boolean;
  } = {},
): Promise<Harness> {
  const secret = opts.componentSecret ?? randomBytes(12).toString("hex");
  const [redis, prosody] = await Promise.all([
    startRedis({ password: opts.redisPassword }),
    startProsody({
      components: [{ domain: GATEWAY, secret }],
      users: USERS.map((u) => ({ username: u, password: PASSWORD })),
    }),
  ]);
  const redisProxy = opts.redisProxy
    ? await startFaultProxy({ target: { host: "127.0.0.1", port: redis.port } })
    : undefined;
  const redisUrl = redisProxy ? `redis://127.0.0.1:${redisProxy.port}` : redis.url;
  const network = new TestNetwork();
  network.portalRooms = opts.portalRooms ?? [];
  const { config, factory } = testNetworkConfig(network, {
    domain: GATEWAY,
    xmpp: { port: prosody.componentPort, secret },
    redis: { url: redisUrl, keyPrefix: "test:", password: opts.redisPassword },
    log: { level: "warn" },
    http: opts.http
      ? { host: "127.0.0.1", port: await freePort(), filesDir: `${prosody.dir}/files`, maxFileBytes: 1000000 }
      : undefined,
    users: { allowedDomains: ["localhost"], admins: ["admin@localhost"] },
    limits: { maxStanzaBytes: opts.maxStanzaBytes ?? 262144, maxBodyBytes: 4096 },
    sourceName: "harness.yaml",
  });
  const log = opts.log ?? pino({ level: process.env.POSTERN_TEST_LOG ?? "silent" });
  const start = () => startPostern(config, { test: factory }, { log, waitOnlineMs: 15_000 });
  const clients: XmppTestClient[] = [];
  const harness: Harness = {
    prosody,
    redis,
    redisProxy,
    network,
    config,
    postern: await start(),
    async login(user, resource = "test") {
      const c = await connectXmpp({
        port: prosody.c2sPort,
        domain: "localhost",
        username: user,
        password: PASSWORD,
        resource,
      });
      clients.push(c);
      // Like any client: initial presence, so the server delivers messages sent to the bare JID.
      await c.sendPresence();
      return c;
    },
    async restartPostern({ crash = false } = {}) {
      if (crash) {
        // As after kill -9: nothing is said to anyone; the component link just drops.
        for (const g of harness.postern.gateways) await g.abandon();
        await harness.postern.store.close();
        network.sessions.clear();
      } else {
        await harness.postern.stop();
      }
      harness.postern = await start();
    },
    async stop() {
      await Promise.all(clients.map((c) => c.stop().catch(() => undefined)));
      await harness.postern.stop().catch(() => undefined);
      await redisProxy?.close();
      await Promise.all([prosody.stop(), redis.stop()]);
    },
  };
  return harness;
}
