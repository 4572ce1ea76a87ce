/**
 * R3 (RELIABILITY.md), PR tier: Redis is killed (SIGKILL) while a user keeps writing to a contact
 * at about 10 messages a second. Promise: the process survives with no unhandled rejection;
 * every message sent during the outage is delivered after Redis returns or answered with an
 * XMPP error of type `wait` (silent drops = 0); and messages flow again within 5 s of Redis
 * being back.
 *
 * `npm run test:faults` runs this same file with POSTERN_R3_OUTAGE_S=60 (the N-tier row) and
 * POSTERN_FAULTS_REPORT set, to collect the figures.
 */
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GATEWAY, type Harness, startHarness } from "../support/gateway-harness.ts";
import { registerWithForm } from "../support/registration-form.ts";
import { type Element, type XmppTestClient, xml } from "../support/xmpp-client.ts";

const OUTAGE_S = Number(process.env.POSTERN_R3_OUTAGE_S ?? 10);
const RATE_PER_S = 10;
/** After Redis returns, every message must be settled (delivered or answered) within this. */
const SETTLE_MS = 30_000;
/** The promise: messages flow again this soon after Redis returns. */
const RESUME_MS = 5_000;
const CONTACT = `carol@${GATEWAY}`;

let h: Harness;
let alice: XmppTestClient;
const rejections: unknown[] = [];
const onRejection = (reason: unknown) => rejections.push(reason);

beforeAll(async () => {
  process.on("unhandledRejection", onRejection);
  h = await startHarness();
  alice = await h.login("alice");
  await registerWithForm(alice, GATEWAY, { nick: "alice", password: "pw" });
  await alice.sendPresence({ to: GATEWAY });
  await h.network.waitForSession("alice@localhost");
  // One message through before the fault, and time for AOF (everysec) to sync the registration.
  await alice.send(xml("message", { to: CONTACT, type: "chat", id: "warmup" }, xml("body", {}, "warm up")));
  await h.network.waitForSent(1, "the warm-up message");
  await new Promise((resolve) => setTimeout(resolve, 1_500));
}, 60_000);

afterAll(async () => {
  process.off("unhandledRejection", onRejection);
  await h?.stop();
});

interface Outcome {
  delivered: number;
  errorWait: number;
  /** Answered with an error of another type: "condition/type" → count. */
  errorOther: Record<string, number>;
  /** Every error answer by "condition/type" → count (delivered or not), for the report. */
  conditions: Record<string, number>;
  /** Both delivered and answered with an error (the user would resend: a duplicate). */
  deliveredAndError: number;
  silent: number;
}

function errorFor(id: string): Element | undefined {
  return alice.stanzas.find((s) => s.name === "message" && s.attrs.type === "error" && s.attrs.id === id);
}

function tally(ids: string[], bodyOf: (id: string) => string): Outcome {
  const sentTexts = new Set(h.network.sent.map((s) => s.message.text.text));
  const outcome: Outcome = {
    delivered: 0,
    errorWait: 0,
    errorOther: {},
    conditions: {},
    deliveredAndError: 0,
    silent: 0,
  };
  for (const id of ids) {
    const delivered = sentTexts.has(bodyOf(id));
    const error = errorFor(id)?.getChild("error");
    if (delivered) outcome.delivered += 1;
    if (delivered && error) outcome.deliveredAndError += 1;
    if (error) {
      const type = error.attrs.type ?? "none";
      const condition = error.getChildElements().find((c) => c.name !== "text")?.name ?? "none";
      const key = `${condition}/${type}`;
      outcome.conditions[key] = (outcome.conditions[key] ?? 0) + 1;
      if (!delivered && type === "wait") outcome.errorWait += 1;
      else if (!delivered) outcome.errorOther[key] = (outcome.errorOther[key] ?? 0) + 1;
    }
    if (!delivered && !error) outcome.silent += 1;
  }
  return outcome;
}

describe(`R3: Redis down for ${OUTAGE_S} s under ${RATE_PER_S} msg/s`, () => {
  it(
    "loses nothing silently, answers with wait, survives, and resumes within 5 s",
    async () => {
      const ids: string[] = [];
      const bodyOf = (id: string) => `r3 message ${id}`;
      const rssBefore = process.memoryUsage().rss;
      await h.redis.kill();
      const outageStart = Date.now();
      for (let i = 0; Date.now() - outageStart < OUTAGE_S * 1000; i += 1) {
        const id = `r3-${i}`;
        ids.push(id);
        await alice.send(xml("message", { to: CONTACT, type: "chat", id }, xml("body", {}, bodyOf(id))));
        const next = outageStart + ((i + 1) * 1000) / RATE_PER_S;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())));
      }
      await h.redis.restart();
      const back = Date.now();

      // Resumption: a fresh message every 250 ms until one reaches the network.
      let resumedMs: number | null = null;
      for (let n = 0; Date.now() - back < RESUME_MS; n += 1) {
        const id = `probe-${n}`;
        await alice.send(xml("message", { to: CONTACT, type: "chat", id }, xml("body", {}, bodyOf(id))));
        const until = Date.now() + 250;
        while (
          Date.now() < until &&
          !h.network.sent.some((s) => s.message.text.text.startsWith("r3 message probe-"))
        )
          await new Promise((resolve) => setTimeout(resolve, 20));
        if (h.network.sent.some((s) => s.message.text.text.startsWith("r3 message probe-"))) {
          resumedMs = Date.now() - back;
          break;
        }
      }

      // Settling: every outage message delivered or answered, within a bound.
      let outcome = tally(ids, bodyOf);
      const deadline = Date.now() + SETTLE_MS;
      while (outcome.silent > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        outcome = tally(ids, bodyOf);
      }

      // The process is alive and serving: the gateway answers a ping.
      const pong = await alice.iq(
        xml("iq", { type: "get", to: GATEWAY }, xml("ping", { xmlns: "urn:xmpp:ping" })),
      );
      for (const id of ids) {
        const e = errorFor(id);
        if (e) console.log("ERRDBG", id, e.toString());
      }
      console.log(
        "ERRDBG sent",
        h.network.sent.length,
        new Set(h.network.sent.map((s) => s.message.text.text)).size,
      );
      const rssGrowthMb = Math.round((process.memoryUsage().rss - rssBefore) / 1024 / 1024);
      report({
        sent: ids.length,
        ...outcome,
        resumedMs,
        unhandledRejections: rejections.length,
        rssGrowthMb,
      });

      const summary = JSON.stringify({ sent: ids.length, ...outcome, resumedMs });
      expect(pong.attrs.type, summary).toBe("result");
      expect(rejections.map(String), summary).toEqual([]);
      expect(outcome.silent, `silent drops; ${summary}`).toBe(0);
      expect(outcome.errorOther, `errors not of type wait; ${summary}`).toEqual({});
      // "Either delivered or answered": an error for a delivered message invites a resend, a duplicate.
      expect(outcome.deliveredAndError, `delivered and also answered with an error; ${summary}`).toBe(0);
      expect(outcome.delivered + outcome.errorWait, summary).toBe(ids.length);
      expect(
        resumedMs,
        `no message reached the network within ${RESUME_MS} ms of Redis returning; ${summary}`,
      ).not.toBeNull();
    },
    (OUTAGE_S + SETTLE_MS / 1000 + 60) * 1000,
  );
});

/** For `npm run test:faults`: the figures of this run, as JSON, where the runner asked for them. */
function report(figures: Record<string, unknown>): void {
  const file = process.env.POSTERN_FAULTS_REPORT;
  if (file) writeFileSync(file, JSON.stringify({ row: "R3", outageS: OUTAGE_S, ...figures }, null, 2));
}
