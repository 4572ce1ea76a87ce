/**
 * R10 of RELIABILITY.md: getUpdates across crashes. 1 000 Telegram updates wait for one registered
 * user's bot (fake Bot API); Postern runs as a real process and is killed with SIGKILL three times
 * while it works through the batches, each time restarted at once on the same Redis; a second
 * Postern process on the same config runs alongside the whole time.
 *
 * Promised: every update reaches the XMPP user (lost = 0); after dedupe by stanza id each update
 * is shown once (raw duplicates are counted too); no getUpdates names an offset past an update the
 * user has not received; the second instance does not poll while the first holds the bot's lease,
 * and no poll is answered 409.
 *
 * Each instance reaches the fake Bot API through its own small HTTP relay in this file, so the
 * polls of each are told apart, and a killed process's open long poll ends with its socket as on
 * the real Bot API.
 */
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeBot, type FakeTelegram, startFakeTelegram } from "../fakes/telegram/server.ts";
import { type PosternProcess, startPosternProcess } from "../support/postern-process.ts";
import { type ProsodyServer, startProsody } from "../support/prosody.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";
import { registerWithForm } from "../support/registration-form.ts";
import { removeDir, tempDir } from "../support/service.ts";
import { waitUntil as waitFor } from "../support/wait.ts";
import { connectXmpp, type XmppTestClient } from "../support/xmpp-client.ts";

const GW = "telegram.localhost";
const TOKEN = "7200001:AAr10-reliability-token-012345678";
const ADA = 41_001;
const UPDATES = 1_000;

interface Poll {
  instance: "first" | "second";
  start: number;
  end?: number;
  offset?: number;
  status?: number;
}

/** A relay to the fake Bot API that records each getUpdates of one instance. */
async function startRelay(target: string, instance: Poll["instance"], polls: Poll[]): Promise<Server> {
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    const isPoll = /\/getUpdates$/i.test(req.url ?? "");
    const poll: Poll | undefined = isPoll ? { instance, start: Date.now() } : undefined;
    if (poll) polls.push(poll);
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
      },
      (answer) => {
        if (poll) poll.status = answer.statusCode;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on("end", () => {
          if (poll) poll.end = Date.now();
        });
      },
    );
    out.on("error", () => res.destroy());
    // The client went away (a killed process): end the upstream request with it.
    res.on("close", () => {
      if (poll && poll.end === undefined) poll.end = Date.now();
      if (!res.writableFinished) out.destroy();
    });
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

let redis: RedisServer;
let prosody: ProsodyServer;
let telegram: FakeTelegram;
let bot: FakeBot;
let dir: string;
let first: PosternProcess;
let second: PosternProcess | undefined;
let alice: XmppTestClient;
const relays: Server[] = [];
const polls: Poll[] = [];

async function configFor(name: string, relay: Server, secret: string, key: string): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  const port = (relay.address() as AddressInfo).port;
  await writeFile(
    file,
    `
log: { level: info }
mode: development
redis: { url: "${redis.url}" }
secrets: { encryptionKey: "${key}" }
gateways:
  - domain: ${GW}
    adapter: telegram
    xmpp: { host: 127.0.0.1, port: ${prosody.componentPort}, secret: "${secret}" }
    users: { allowedDomains: [localhost] }
    settings: { apiRoot: "http://127.0.0.1:${port}", pollLeaseMs: 1500, retry: { baseMs: 50, maxMs: 400 } }
`,
  );
  return file;
}

/** Waits for `check`; a timeout shows the end of the first instance's output. */
function waitUntil(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  return waitFor(check, what, timeoutMs, () => first?.output().slice(-3000) ?? "");
}

let secondConfig: string;

beforeAll(async () => {
  const secret = randomBytes(8).toString("hex");
  const key = randomBytes(32).toString("hex");
  [redis, prosody, telegram] = await Promise.all([
    startRedis(),
    startProsody({ components: [{ domain: GW, secret }], users: [{ username: "alice", password: "pw" }] }),
    startFakeTelegram(),
  ]);
  bot = telegram.addBot({ token: TOKEN, username: "r10_bot", first_name: "R10" });
  telegram.addUser({ id: ADA, first_name: "Ada" });
  dir = await tempDir("r10");
  relays.push(
    await startRelay(telegram.apiRoot, "first", polls),
    await startRelay(telegram.apiRoot, "second", polls),
  );
  const firstConfig = await configFor("first", relays[0]!, secret, key);
  secondConfig = await configFor("second", relays[1]!, secret, key);
  alice = await connectXmpp({
    port: prosody.c2sPort,
    domain: "localhost",
    username: "alice",
    password: "pw",
  });
  await alice.sendPresence();
  first = startPosternProcess(firstConfig);
  await first.waitForOutput("component online", "the first Postern's component link");
  await registerWithForm(alice, GW, { token: TOKEN }, 20_000);
  await alice.sendPresence({ to: GW });
  await waitUntil(() => bot.isLongPolling(), "the bot long-polling", 20_000);
}, 90_000);

afterAll(async () => {
  await first?.stop();
  await second?.stop();
  await alice?.stop();
  for (const r of relays) await new Promise((resolve) => r.close(resolve));
  await Promise.all([redis?.stop(), prosody?.stop(), telegram?.close()]);
  if (dir) await removeDir(dir);
});

describe("R10: getUpdates across three kill -9 and a second instance", () => {
  it("loses no update, shows each once, never moves the offset past an undelivered one, and one poller at a time", {
    timeout: 120_000,
  }, async () => {
    second = startPosternProcess(secondConfig);
    // When each stanza reached the XMPP user, sampled every few ms.
    const arrivedAt: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        while (arrivedAt.length < alice.stanzas.length) arrivedAt.push(Date.now());
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const since = alice.mark();
    const updateIdOf = new Map<string, number>();
    for (let n = 0; n < UPDATES; n++) {
      const text = `u-${n}`;
      telegram.userSends(TOKEN, { from: ADA, text });
      updateIdOf.set(text, bot.pendingUpdates().at(-1)!.update_id);
    }
    const received = () =>
      alice.stanzas
        .slice(since)
        .filter((s) => s.name === "message" && s.getChildText("body")?.startsWith("u-") === true);
    const distinct = () => new Set(received().map((s) => s.getChildText("body"))).size;
    const killTimes: number[] = [];
    for (const at of [150, 400, 650]) {
      await waitUntil(() => distinct() >= at, `${at} updates at the XMPP user`, 40_000);
      killTimes.push(Date.now());
      await first.kill9();
      first.restart();
    }
    await waitUntil(() => distinct() >= UPDATES, "every update at the XMPP user", 40_000).catch(
      () => undefined,
    );
    await new Promise((r) => setTimeout(r, 1_000));
    sampling = false;
    await sampler;

    const messages = received();
    const bodies = messages.map((s) => s.getChildText("body")!);
    const lost = [...updateIdOf.keys()].filter((t) => !bodies.includes(t));
    const rawDuplicates = bodies.length - new Set(bodies).size;
    const byIdSeen = new Set<string>();
    let duplicatesAfterIdDedupe = 0;
    const shown = new Set<string>();
    for (const s of messages) {
      const id = s.attrs.id ?? "";
      if (byIdSeen.has(id)) continue;
      byIdSeen.add(id);
      const body = s.getChildText("body")!;
      if (shown.has(body)) duplicatesAfterIdDedupe++;
      shown.add(body);
    }
    // Offset check: when a getUpdates named offset O, every update below O had reached the user.
    const firstArrival = new Map<number, number>();
    alice.stanzas.forEach((s, i) => {
      const id = updateIdOf.get(s.getChildText("body") ?? "");
      if (id !== undefined && i >= since && !firstArrival.has(id))
        firstArrival.set(id, arrivedAt[i] ?? Infinity);
    });
    const ourIds = [...updateIdOf.values()];
    let offsetAheadOfUser = 0;
    let offsetAheadOfUserBy1s = 0;
    let worstLeadMs = 0;
    const getUpdates = telegram.requests().filter((r) => r.method.toLowerCase() === "getupdates");
    for (const r of getUpdates) {
      const offset = Number(r.params.offset ?? Number.NaN);
      if (!Number.isFinite(offset)) continue;
      const behind = ourIds.filter((id) => id < offset);
      const late = behind.filter((id) => (firstArrival.get(id) ?? Infinity) > r.at);
      if (late.length > 0) offsetAheadOfUser++;
      for (const id of late) worstLeadMs = Math.max(worstLeadMs, (firstArrival.get(id) ?? Infinity) - r.at);
      if (behind.some((id) => (firstArrival.get(id) ?? Infinity) > r.at + 1_000)) offsetAheadOfUserBy1s++;
    }
    const conflicts = getUpdates.filter((r) => r.status === 409).length;
    // Overlap: a poll of the second instance while one of the first was open (and the reverse).
    const open = (p: Poll) => [p.start, p.end ?? Number.POSITIVE_INFINITY] as const;
    const firstPolls = polls.filter((p) => p.instance === "first");
    const secondPolls = polls.filter((p) => p.instance === "second");
    const overlapping = secondPolls.filter((b) =>
      firstPolls.some((a) => {
        const [as, ae] = open(a);
        const [bs, be] = open(b);
        return bs < ae && as < be;
      }),
    ).length;
    console.log(
      `R10: ${UPDATES} updates, kills at ${killTimes.length}; received ${bodies.length} (distinct ${new Set(bodies).size}); ` +
        `lost ${lost.length}; raw duplicates ${rawDuplicates}; duplicates after stanza-id dedupe ${duplicatesAfterIdDedupe}; ` +
        `getUpdates ${getUpdates.length} (first ${firstPolls.length}, second ${secondPolls.length}, overlapping ${overlapping}); ` +
        `409 answers ${conflicts}; offset past an update not yet at the user: ${offsetAheadOfUser} polls (by > 1 s: ${offsetAheadOfUserBy1s}; worst ${worstLeadMs} ms)\n` +
        `second instance: ${second?.current.exitStatus() ?? "running"}, component link ${second?.current.output().includes("component online") ? "came online" : "never online"}; ` +
        `its last output: ${second?.current.output().split("\n").filter(Boolean).slice(-2).join(" | ").slice(0, 600)}` +
        (lost.length > 0 ? `\nlost: ${lost.slice(0, 20).join(", ")}` : ""),
    );
    expect(lost).toEqual([]);
    expect(duplicatesAfterIdDedupe).toBe(0);
    expect(offsetAheadOfUserBy1s).toBe(0);
    expect(overlapping).toBe(0);
    expect(conflicts).toBe(0);
  });
});
