/**
 * R8 on the component link, at PR scale: a link that goes silent (a half-open TCP connection,
 * made with the fault proxy's blackhole) is detected by the keepalive, dropped and replaced;
 * a link whose server answers its pings is left alone.
 */
import { randomBytes } from "node:crypto";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdapterFactory } from "../../src/adapter/adapter.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { type RunningPostern, startPostern } from "../../src/core/app.ts";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.ts";
import { type ProsodyServer, startProsody } from "../support/prosody.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";
import { TestNetwork, testAdapterFactory } from "../support/test-network.ts";

const GW = "test.localhost";
let redis: RedisServer;
let prosody: ProsodyServer;
let proxy: FaultProxy;
let postern: RunningPostern;

beforeAll(async () => {
  const secret = randomBytes(8).toString("hex");
  [redis, prosody] = await Promise.all([
    startRedis(),
    startProsody({ components: [{ domain: GW, secret }] }),
  ]);
  proxy = await startFaultProxy({ target: { host: "127.0.0.1", port: prosody.componentPort } });
  const network = new TestNetwork();
  const factory = testAdapterFactory(network) as AdapterFactory<unknown>;
  const config = parseConfigText(
    `
redis: { url: "${redis.url}" }
secrets: { encryptionKey: "${randomBytes(32).toString("hex")}" }
gateways:
  - domain: ${GW}
    adapter: test
    xmpp: { host: 127.0.0.1, port: ${proxy.port}, secret: "${secret}", keepaliveMs: 300, deadAfterMs: 1500 }
    users: { allowedDomains: [localhost] }
    settings: {}
`,
    "keepalive.yaml",
    { adapterSchemas: { test: factory.configSchema } },
  );
  postern = await startPostern(
    config,
    { test: factory },
    { log: pino({ level: "silent" }), waitOnlineMs: 15_000 },
  );
}, 60_000);

afterAll(async () => {
  await postern?.stop();
  await proxy?.close();
  await Promise.all([prosody?.stop(), redis?.stop()]);
});

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("component keepalive", () => {
  it("stays up while the server answers its pings", async () => {
    const opened = proxy.stats.connections;
    await new Promise((r) => setTimeout(r, 2_500));
    expect(postern.gateways[0]!.online).toBe(true);
    expect(proxy.stats.connections).toBe(opened);
  });

  it("notices a silent link, drops it and connects again", async () => {
    const gateway = postern.gateways[0]!;
    const opened = proxy.stats.connections;
    proxy.blackhole();
    await until(() => !gateway.online, "the dead link to be noticed");
    proxy.pass();
    await until(() => gateway.online && proxy.stats.connections > opened, "a new link");
  });
});
