/**
 * R8 (RELIABILITY.md) for the Redis link, PR tier: the TCP fault proxy between Postern and Redis
 * blackholes the link (no data, no FIN, no RST: a half-open link) while a user keeps writing to a
 * contact. Promise: Redis commands fail within the command timeout instead of hanging, the link
 * is dropped and reconnected, every message sent meanwhile is delivered or answered with an
 * error of type `wait` (silent drops = 0), and messages flow again once the link works.
 *
 * `npm run test:faults` (scripts/faults/r8-redis-link.ts) runs this same file with a longer
 * blackhole (POSTERN_R8_REDIS_S) and collects the figures from POSTERN_FAULTS_REPORT.
 */
import { writeFileSync } from "node:fs";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedis } from "../../src/store/redis.ts";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.ts";
import { GATEWAY, type Harness, startHarness } from "../support/gateway-harness.ts";
import { registerWithForm } from "../support/registration-form.ts";
import { type Element, type XmppTestClient, xml } from "../support/xmpp-client.ts";

/** Longer than the 10 s socket timeout, so the dead link is dropped while blackholed. */
const BLACKHOLE_S = Number(process.env.POSTERN_R8_REDIS_S ?? 12);
const RATE_PER_S = 5;
/** After the lift, every message must be settled (delivered or answered) within this. */
const SETTLE_MS = 60_000;
const CONTACT = `carol@${GATEWAY}`;

let h: Harness;
let proxy: FaultProxy;
/** A second client with Postern's Redis settings, through its own proxy: times a single command. */
let probeProxy: FaultProxy;
let probe: ReturnType<typeof createRedis>;
let alice: XmppTestClient;
const rejections: unknown[] = [];
const onRejection = (reason: unknown) => rejections.push(reason);

beforeAll(async () => {
  process.on("unhandledRejection", onRejection);
  h = await startHarness({ redisProxy: true });
  proxy = h.redisProxy!;
  probeProxy = await startFaultProxy({ target: { host: "127.0.0.1", port: h.redis.port } });
  probe = createRedis({ url: `redis://127.0.0.1:${probeProxy.port}` }, pino({ level: "silent" }));
  await probe.ping();
  alice = await h.login("alice");
  await registerWithForm(alice, GATEWAY, { nick: "alice", password: "pw" });
  await alice.sendPresence({ to: GATEWAY });
  await h.network.waitForSession("alice@localhost");
  await alice.send(xml("message", { to: CONTACT, type: "chat", id: "warmup" }, xml("body", {}, "warm up")));
  await h.network.waitForSent(1, "the warm-up message");
}, 60_000);

afterAll(async () => {
  process.off("unhandledRejection", onRejection);
  probe?.disconnect();
  await probeProxy?.close();
  await h?.stop();
});

function errorFor(id: string): Element | undefined {
  return alice.stanzas.find((s) => s.name === "message" && s.attrs.type === "error" && s.attrs.id === id);
}

interface Outcome {
  delivered: number;
  errorWait: number;
  errorOther: Record<string, number>;
  deliveredAndError: number;
  silent: number;
}

function tally(ids: string[], bodyOf: (id: string) => string): Outcome {
  const sentTexts = new Set(h.network.sent.map((s) => s.message.text.text));
  const outcome: Outcome = { delivered: 0, errorWait: 0, errorOther: {}, deliveredAndError: 0, silent: 0 };
  for (const id of ids) {
    const delivered = sentTexts.has(bodyOf(id));
    const error = errorFor(id)?.getChild("error");
    if (delivered) outcome.delivered += 1;
    if (delivered && error) outcome.deliveredAndError += 1;
    if (error && !delivered) {
      const type = error.attrs.type ?? "none";
      const condition = error.getChildElements().find((c) => c.name !== "text")?.name ?? "none";
      if (type === "wait") outcome.errorWait += 1;
      else outcome.errorOther[`${condition}/${type}`] = (outcome.errorOther[`${condition}/${type}`] ?? 0) + 1;
    }
    if (!delivered && !error) outcome.silent += 1;
  }
  return outcome;
}

/** Whether the messages that reached the network kept the order they were sent in. */
function inOrder(ids: string[], bodyOf: (id: string) => string): boolean {
  const position = new Map(ids.map((id, i) => [bodyOf(id), i]));
  const seen = h.network.sent.map((s) => position.get(s.message.text.text)).filter((i) => i !== undefined);
  return seen.every((i, n) => n === 0 || i > (seen[n - 1] as number));
}

describe(`R8: the Redis link blackholed for ${BLACKHOLE_S} s`, () => {
  it(
    "fails commands within the timeout, reconnects, loses nothing silently and resumes",
    async () => {
      const ids: string[] = [];
      const bodyOf = (id: string) => `r8 redis message ${id}`;
      const rssBefore = process.memoryUsage().rss;
      const connectionsBefore = proxy.stats.connections;
      proxy.blackhole();
      probeProxy.blackhole();
      const start = Date.now();
      let probeFailedMs: number | null = null;
      let probeError = "";
      const probed = probe.ping().then(
        () => {
          probeError = "answered (through a blackhole?)";
        },
        (error: unknown) => {
          probeFailedMs = Date.now() - start;
          probeError = error instanceof Error ? error.message : String(error);
        },
      );
      let firstErrorMs: number | null = null;
      let reconnectMs: number | null = null;
      for (let i = 0; Date.now() - start < BLACKHOLE_S * 1000; i += 1) {
        const id = `r8-${i}`;
        ids.push(id);
        await alice.send(xml("message", { to: CONTACT, type: "chat", id }, xml("body", {}, bodyOf(id))));
        const next = start + ((i + 1) * 1000) / RATE_PER_S;
        while (Date.now() < next) {
          if (firstErrorMs === null && ids.some((x) => errorFor(x))) firstErrorMs = Date.now() - start;
          if (reconnectMs === null && proxy.stats.connections > connectionsBefore)
            reconnectMs = Date.now() - start;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      const deliveredDuring = tally(ids, bodyOf).delivered;
      proxy.pass();
      probeProxy.pass();
      const lifted = Date.now();

      // Resumption: a fresh message every 250 ms until one reaches the network.
      let resumedMs: number | null = null;
      const probeBody = (n: number) => bodyOf(`probe-${n}`);
      const probeArrived = () => h.network.sent.some((s) => s.message.text.text.startsWith(bodyOf("probe-")));
      for (let n = 0; resumedMs === null && Date.now() - lifted < SETTLE_MS; n += 1) {
        await alice.send(
          xml("message", { to: CONTACT, type: "chat", id: `probe-${n}` }, xml("body", {}, probeBody(n))),
        );
        const until = Date.now() + 250;
        while (Date.now() < until && !probeArrived()) await new Promise((resolve) => setTimeout(resolve, 20));
        if (probeArrived()) resumedMs = Date.now() - lifted;
      }

      let outcome = tally(ids, bodyOf);
      const deadline = Date.now() + SETTLE_MS;
      while (outcome.silent > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        outcome = tally(ids, bodyOf);
      }
      await probed;
      const rssGrowthMb = Math.round((process.memoryUsage().rss - rssBefore) / 1024 / 1024);
      const figures = {
        blackholeS: BLACKHOLE_S,
        sent: ids.length,
        ...outcome,
        deliveredDuring,
        inOrder: inOrder(ids, bodyOf),
        probeFailedMs,
        probeError,
        firstErrorMs,
        reconnectMs,
        connections: proxy.stats.connections - connectionsBefore,
        resumedMs,
        unhandledRejections: rejections.length,
        rssGrowthMb,
      };
      report(figures);
      const summary = JSON.stringify(figures);

      expect(probeFailedMs, `a PING on the blackholed link failed; ${summary}`).not.toBeNull();
      expect(reconnectMs, `Postern opened a new Redis connection; ${summary}`).not.toBeNull();
      expect(rejections.map(String), summary).toEqual([]);
      expect(outcome.silent, `silent drops; ${summary}`).toBe(0);
      expect(outcome.errorOther, `errors not of type wait; ${summary}`).toEqual({});
      expect(figures.inOrder, `delivery order; ${summary}`).toBe(true);
      expect(resumedMs, `no message reached the network after the lift; ${summary}`).not.toBeNull();
    },
    (BLACKHOLE_S + (2 * SETTLE_MS) / 1000 + 60) * 1000,
  );
});

/** For `npm run test:faults`: the figures of this run, as JSON, where the runner asked for them. */
function report(figures: Record<string, unknown>): void {
  const file = process.env.POSTERN_FAULTS_REPORT;
  if (file) writeFileSync(file, JSON.stringify({ row: "R8 redis", ...figures }, null, 2));
}
