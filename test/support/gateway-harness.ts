/**
 * Starts the whole core for an integration test: a real Redis, a real Prosody with the gateway's
 * component and test users, and Postern in this process with the test network adapter.
 */
import { randomBytes } from "node:crypto";
import pino from "pino";
import type { AdapterFactory } from "../../src/adapter/adapter.ts";
import { parseConfigText } from "../../src/config/load.ts";
import type { PosternConfig } from "../../src/config/schema.ts";
import { type RunningPostern, startPostern } from "../../src/core/app.ts";
import { freePort } from "./ports.ts";
import { type ProsodyServer, startProsody } from "./prosody.ts";
import { type RedisServer, startRedis } from "./redis.ts";
import { TestNetwork, testAdapterFactory } from "./test-network.ts";
import { connectXmpp, type XmppTestClient } from "./xmpp-client.ts";

export const GATEWAY = "test.localhost";
export const USERS = ["alice", "bob", "mallory", "admin"] as const;
export const PASSWORD = "secret-pw";

export interface Harness {
  prosody: ProsodyServer;
  redis: RedisServer;
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
  const network = new TestNetwork();
  network.portalRooms = opts.portalRooms ?? [];
  const httpSection = opts.http
    ? `http: { host: 127.0.0.1, port: ${await freePort()}, filesDir: "${prosody.dir}/files", maxFileBytes: 1000000 }`
    : "";
  const factory = testAdapterFactory(network) as AdapterFactory<unknown>;
  const yaml = `
log: { level: warn }
redis: { url: "${redis.url}", keyPrefix: "test:"${opts.redisPassword ? `, password: "${opts.redisPassword}"` : ""} }
secrets: { encryptionKey: "${randomBytes(32).toString("hex")}" }
${httpSection}
gateways:
  - domain: ${GATEWAY}
    adapter: test
    xmpp: { host: 127.0.0.1, port: ${prosody.componentPort}, secret: "${secret}" }
    users: { allowedDomains: [localhost], admins: [admin@localhost] }
    limits: { maxStanzaBytes: ${opts.maxStanzaBytes ?? 262144}, maxBodyBytes: 4096 }
    settings: {}
`;
  const config = parseConfigText(yaml, "harness.yaml", { adapterSchemas: { test: factory.configSchema } });
  const log = opts.log ?? pino({ level: process.env.POSTERN_TEST_LOG ?? "silent" });
  const start = () => startPostern(config, { test: factory }, { log, waitOnlineMs: 15_000 });
  const clients: XmppTestClient[] = [];
  const harness: Harness = {
    prosody,
    redis,
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
      await Promise.all([prosody.stop(), redis.stop()]);
    },
  };
  return harness;
}
