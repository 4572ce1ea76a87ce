/**
 * The configuration of a Postern run in a test's own process with one gateway on the in-process
 * test network adapter (test-network.ts). It is written out as text and read by
 * `parseConfigText`, so it passes the same schema, defaults and checks as an operator's file.
 */
import { randomBytes } from "node:crypto";
import type { z } from "zod";
import type { AdapterFactory } from "../../src/adapter/adapter.ts";
import { parseConfigText } from "../../src/config/load.ts";
import type { createConfigSchema, Mode, PosternConfig } from "../../src/config/schema.ts";
import { type TestNetwork, testAdapterFactory } from "./test-network.ts";

/** The configuration file as written (before defaults are filled in). */
type ConfigInput = z.input<ReturnType<typeof createConfigSchema>>;
type GatewayInput = ConfigInput["gateways"][number];

export interface TestNetworkConfigOptions {
  /** The gateway's component domain, e.g. "test.localhost". */
  domain: string;
  /**
   * The component port on 127.0.0.1 (Prosody's, a fake XMPP server's or a fault proxy's), its
   * secret, and keepalive timings when a test shortens them.
   */
  xmpp: Omit<GatewayInput["xmpp"], "host">;
  /** The `redis` section. */
  redis: ConfigInput["redis"];
  /**
   * "development" unless given: the test Redis servers have no password, which production mode
   * refuses. A test of a production setup says "production".
   */
  mode?: Mode;
  /** The gateway's `users` section; `{ allowedDomains: [localhost] }` unless given. */
  users?: GatewayInput["users"];
  /** The gateway's `limits` section; the defaults unless given. */
  limits?: GatewayInput["limits"];
  log?: ConfigInput["log"];
  http?: ConfigInput["http"];
  /** The factory registered as adapter `test`: the test network's unless a test wraps it. */
  factory?: AdapterFactory<unknown>;
  /** Names the configuration in error messages. */
  sourceName?: string;
}

/** The parsed configuration, and the adapter factory to start Postern with (`{ test: factory }`). */
export interface TestNetworkConfig {
  config: PosternConfig;
  factory: AdapterFactory<unknown>;
}

/** Builds and parses the configuration; the encryption key is fresh each time. */
export function testNetworkConfig(network: TestNetwork, opts: TestNetworkConfigOptions): TestNetworkConfig {
  const factory = opts.factory ?? (testAdapterFactory(network) as AdapterFactory<unknown>);
  const file: ConfigInput = {
    mode: opts.mode ?? "development",
    log: opts.log,
    redis: opts.redis,
    secrets: { encryptionKey: randomBytes(32).toString("hex") },
    http: opts.http,
    gateways: [
      {
        domain: opts.domain,
        adapter: "test",
        xmpp: { host: "127.0.0.1", ...opts.xmpp },
        users: opts.users ?? { allowedDomains: ["localhost"] },
        limits: opts.limits,
        settings: {},
      },
    ],
  };
  // JSON is YAML; JSON.stringify leaves out the sections a test did not give.
  const text = JSON.stringify(file, null, 2);
  const config = parseConfigText(text, opts.sourceName ?? "test-network.yaml", {
    adapterSchemas: { test: factory.configSchema },
  });
  return { config, factory };
}
