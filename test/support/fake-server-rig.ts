/**
 * Postern in this process with the test network adapter, connected to a fake XMPP server
 * (fake-xmpp-server.ts) instead of Prosody, so a test speaks on the component socket itself: it
 * stamps any sender a server could, sends what no server would pass on, and sees every stanza the
 * gateway emits. Starts a Redis (or takes the test's), the fake server and Postern, and resolves
 * once the component has completed its handshake.
 */
import { randomBytes } from "node:crypto";
import { type Element, xml } from "@xmpp/component-core";
import pino from "pino";
import { type RunningPostern, startPostern } from "../../src/core/app.ts";
import { type ComponentPeer, startFakeXmppServer } from "./fake-xmpp-server.ts";
import { type RedisServer, startRedis } from "./redis.ts";
import { registrationQuery } from "./registration-form.ts";
import { TestNetwork } from "./test-network.ts";
import { type TestNetworkConfigOptions, testNetworkConfig } from "./test-network-config.ts";

const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

export interface FakeServerRigOptions
  extends Pick<TestNetworkConfigOptions, "mode" | "users" | "limits" | "factory" | "sourceName"> {
  /** The gateway's domain; "test.localhost" unless given. */
  domain?: string;
  /** The network the adapter bridges to; a fresh one unless given (set it up before Postern starts). */
  network?: TestNetwork;
  /** A Redis the test started (and stops); the rig starts and stops its own unless given. */
  redis?: RedisServer;
  /** Entries of the `redis` section over `{ url: <the Redis's url> }` (another URL, a keyPrefix). */
  redisConfig?: { url?: string; keyPrefix?: string };
  /** Prefix of the ids the rig stamps (s1, s2, …); "s" unless given. */
  idPrefix?: string;
}

export interface FakeServerRig {
  readonly domain: string;
  readonly redis: RedisServer;
  readonly network: TestNetwork;
  readonly postern: RunningPostern;
  /** The gateway's component connection: the first, or the one `reconnected` last found. */
  readonly peer: ComponentPeer;
  /** After the gateway closed `peer`: waits for its next connection and makes that `peer`. */
  reconnected(timeoutMs?: number): Promise<ComponentPeer>;
  /** Sends `stanza` as the server would, with a fresh id; returns the id. */
  send(stanza: Element): string;
  /**
   * Sends XML text as is, for what no element could hold (broken XML, split bytes), with each
   * `ID` in it replaced by one fresh id; returns the id.
   */
  sendXml(text: string): string;
  /** The gateway's answer (a stanza with that id and a type) to the stanza sent with `id`. */
  answer(id: string): Promise<Element>;
  /** "result", or the error answer's condition and type, e.g. "forbidden/auth". */
  outcome(id: string): Promise<string>;
  /** Submits the registration form (XEP-0077) as `from`; resolves with its `outcome`. */
  register(from: string, fields: Record<string, string>): Promise<string>;
  /** Stops Postern, the fake server and the Redis the rig started. */
  stop(): Promise<void>;
}

export async function startFakeServerRig(opts: FakeServerRigOptions = {}): Promise<FakeServerRig> {
  const domain = opts.domain ?? "test.localhost";
  const network = opts.network ?? new TestNetwork();
  const secret = randomBytes(8).toString("hex");
  const redis = opts.redis ?? (await startRedis());
  const server = await startFakeXmppServer({ domain, secret });
  let started: Promise<RunningPostern> | undefined;
  let peer: ComponentPeer;
  let postern: RunningPostern;
  try {
    const { config, factory } = testNetworkConfig(network, {
      domain,
      xmpp: { port: server.port, secret },
      redis: { url: redis.url, ...opts.redisConfig },
      mode: opts.mode,
      users: opts.users,
      limits: opts.limits,
      factory: opts.factory,
      sourceName: opts.sourceName,
    });
    started = startPostern(
      config,
      { test: factory },
      { log: pino({ level: process.env.POSTERN_TEST_LOG ?? "silent" }) },
    );
    // Together, so a Postern that fails to start says why instead of the handshake timing out.
    [peer, postern] = await Promise.all([server.nextComponent(), started]);
  } catch (err) {
    // Leave nothing running behind a failed start: the test's afterAll has no rig to stop.
    await started?.then((p) => p.stop()).catch(() => undefined);
    await server.close();
    if (!opts.redis) await redis.stop();
    throw err;
  }
  const idPrefix = opts.idPrefix ?? "s";
  let counter = 0;
  /** Unique within the rig, across reconnections. */
  const nextId = () => {
    counter += 1;
    return `${idPrefix}${counter}`;
  };
  const rig: FakeServerRig = {
    domain,
    redis,
    network,
    postern,
    get peer() {
      return peer;
    },
    async reconnected(timeoutMs = 30_000) {
      peer = await server.nextComponent(timeoutMs);
      return peer;
    },
    send(stanza) {
      const id = nextId();
      stanza.attrs.id = id;
      peer.sendRaw(stanza.toString());
      return id;
    },
    sendXml(text) {
      const id = nextId();
      peer.sendRaw(text.replaceAll("ID", id));
      return id;
    },
    answer(id) {
      return peer.waitFor((e) => e.attrs.id === id && e.attrs.type !== undefined, `a reply to ${id}`);
    },
    async outcome(id) {
      const el = await rig.answer(id);
      if (el.attrs.type !== "error") return el.attrs.type ?? "none";
      const error = el.getChild("error");
      const condition = error?.getChildElements().find((c) => c.getNS() === STANZAS)?.name ?? "none";
      return `${condition}/${error?.attrs.type}`;
    },
    register(from, fields) {
      return rig.outcome(rig.send(xml("iq", { type: "set", from, to: domain }, registrationQuery(fields))));
    },
    async stop() {
      await postern.stop();
      await server.close();
      if (!opts.redis) await redis.stop();
    },
  };
  return rig;
}
