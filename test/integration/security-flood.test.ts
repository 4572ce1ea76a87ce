/**
 * S7 (RELIABILITY.md): flood limits, on the real rig (Prosody, Redis, ngIRCd, Postern with the IRC
 * adapter) and with the production throttle profile: `irc-prod.localhost` has the IRC settings'
 * defaults (per puppet burst 5, then 1 line / 2 s, 20 lines queued; 10 lines/s per server; at
 * most 3 lines per message; 1 new connection / 2 s per server) and the core's default limits.
 *
 * What users see is asserted where they see it: a raw IRC client in the channel records when each
 * line arrives at the server's side, and the XMPP clients get an answer for every message.
 * Numbers are scaled down from the row to keep the file under a minute: 30 messages instead of
 * 1 000, 25 joins instead of 200, 4 registrations instead of 50. A queue of 20 lines at one line
 * per 2 s still takes 40 s to drain; that is the limit working, not the test dawdling.
 *
 * ngIRCd in the rig runs with its flood protection relaxed (user mode F), so "no Excess Flood
 * kill" is shown as no QUIT and no lost connection, together with the pacing that stays within
 * what servers allow by default.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParsedLine, RawIrcClient } from "../support/irc-client.ts";
import {
  groupchat,
  type IrcHarness,
  joinRoom,
  NS_MUC,
  PROD_GATEWAY,
  roomJid,
  startIrcHarness,
  statusCodes,
} from "../support/irc-gateway-harness.ts";
import { registerWithForm } from "../support/registration-form.ts";
import { type Element, IqError, type XmppTestClient, xml } from "../support/xmpp-client.ts";

const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
/** Slack for timers and loopback delivery when checking spacing the limiter enforces. */
const TOLERANCE_MS = 500;

let h: IrcHarness;
let watcher: RawIrcClient;
let arrivals: ArrivalClock;
/** The flooder. */
let alice: XmppTestClient;
/** Others in the same channel, on the same gateway. */
let others: { nick: string; client: XmppTestClient }[];
/** When each puppet's JOIN reached the channel, in arrival order. */
let joins: { nick: string; at: number }[];

/**
 * When each line reached a second raw IRC client in the channel, one in a process of its own:
 * Postern runs in this process, and its work would delay the times stamped here. Lines are
 * matched by their exact text (prefix included), which the tests keep unique.
 */
interface ArrivalClock {
  /** The arrival times of `lines` (as the in-process watcher got them); waits until all are known. */
  timesOf(lines: readonly ParsedLine[]): Promise<number[]>;
  stop(): void;
}

const CLOCK_SCRIPT = `
const { connectIrc } = await import(process.env.IRC_CLIENT);
const client = await connectIrc({ port: Number(process.env.IRC_PORT), nick: process.env.IRC_NICK });
let reported = 0;
setInterval(() => {
  const at = Date.now();
  for (; reported < client.lines.length; reported++)
    process.stdout.write(JSON.stringify({ at, raw: client.lines[reported].raw }) + "\\n");
  // Never outlive the IRC server, whatever happens to the test process.
  if (client.closed) process.exit(0);
}, 2);
await client.join(process.env.IRC_CHANNEL);
process.stdout.write(JSON.stringify({ ready: true }) + "\\n");
`;

async function startArrivalClock(port: number, nick: string, channel: string): Promise<ArrivalClock> {
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", CLOCK_SCRIPT], {
    env: {
      ...process.env,
      IRC_CLIENT: new URL("../support/irc-client.ts", import.meta.url).pathname,
      IRC_PORT: String(port),
      IRC_NICK: nick,
      IRC_CHANNEL: channel,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const times = new Map<string, number>();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the arrival clock did not join in 20 s")), 20_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the arrival clock's IRC client exited (${code}) before joining`));
    });
    createInterface({ input: child.stdout }).on("line", (text) => {
      const record = JSON.parse(text) as { at?: number; raw?: string; ready?: boolean };
      if (record.ready) {
        clearTimeout(timer);
        resolve();
      } else if (record.raw !== undefined && !times.has(record.raw)) times.set(record.raw, record.at ?? 0);
    });
  });
  return {
    async timesOf(lines) {
      for (let waited = 0; lines.some((l) => !times.has(l.raw)); waited += 20) {
        if (waited > 5_000)
          throw new Error("the arrival clock did not see every line within 5 s of the watcher");
        await sleep(20);
      }
      return lines.map((l) => times.get(l.raw) as number);
    },
    stop: () => {
      child.kill();
    },
  };
}

/** The most of `times` (ascending) inside any window of `windowMs` that starts at one of them. */
function busiestWindow(times: readonly number[], windowMs: number): number {
  let most = 0;
  for (const [i, start] of times.entries()) {
    most = Math.max(most, times.slice(i).filter((t) => t < start + windowMs).length);
  }
  return most;
}

function privmsgFrom(nick: string, channel = "#flood"): (l: ParsedLine) => boolean {
  return (l) => l.command === "PRIVMSG" && l.nick === nick && l.params[0] === channel;
}

function errorOf(stanza: Element): { condition: string; type: string; text: string } {
  const error = stanza.getChild("error");
  return {
    condition: error?.getChildElements().find((c) => c.getNS() === STANZAS && c.name !== "text")?.name ?? "",
    type: error?.attrs.type ?? "",
    text: error?.getChildText("text", STANZAS) ?? "",
  };
}

/**
 * Sends groupchat messages to #flood on the production gateway with ids `${prefix}-N`, then
 * waits for each one's outcome: its reflection to the sender (accepted) or an error (refused).
 */
async function sendAll(
  client: XmppTestClient,
  prefix: string,
  bodies: readonly string[],
): Promise<{ accepted: string[]; refused: Element[] }> {
  const mark = client.mark();
  for (const [i, body] of bodies.entries())
    await client.send(groupchat("#flood", body, `${prefix}-${i}`, PROD_GATEWAY));
  const idPattern = new RegExp(`^${prefix}-\\d+$`);
  const outcomes = await client.waitForAll(
    (s) => s.name === "message" && idPattern.test(s.attrs.id ?? ""),
    bodies.length,
    `an outcome for each of ${client.bare}'s ${bodies.length} messages`,
    { since: mark, timeoutMs: 20_000 },
  );
  return {
    accepted: outcomes.filter((s) => s.attrs.type === "groupchat").map((s) => s.getChildText("body") ?? ""),
    refused: outcomes.filter((s) => s.attrs.type === "error"),
  };
}

beforeAll(async () => {
  h = await startIrcHarness({ productionGateway: true });
  watcher = await h.irc("floodwatch");
  await watcher.join("#flood");
  arrivals = await startArrivalClock(h.ircd.port, "floodclock", "#flood");
  const nicks = ["alice", "bob", "carol", "frank"] as const;
  const clients = await Promise.all(nicks.map((nick) => h.login(nick)));
  alice = clients[0]!;
  others = nicks.slice(1).map((nick, i) => ({ nick, client: clients[i + 1]! }));
  // Four users' first joins at once: four new connections to the same server.
  const mark = watcher.mark();
  await Promise.all(
    nicks.map((nick, i) =>
      joinRoom(clients[i]!, "#flood", nick, { gateway: PROD_GATEWAY, timeoutMs: 30_000 }),
    ),
  );
  const joinLines = await watcher.waitForAll(
    (l) => l.command === "JOIN" && (nicks as readonly string[]).includes(l.nick ?? ""),
    nicks.length,
    "the puppets' JOINs",
    { since: mark },
  );
  const joinTimes = await arrivals.timesOf(joinLines);
  joins = joinLines.map((l, i) => ({ nick: l.nick ?? "", at: joinTimes[i]! }));
}, 60_000);

afterAll(async () => {
  arrivals?.stop();
  await h?.stop();
});

describe("new IRC connections", () => {
  it("start at most one per 2 s per server, however many users connect at once", () => {
    const gaps = joins.slice(1).map((j, i) => j.at - joins[i]!.at);
    expect(gaps).toHaveLength(3);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(2000 - TOLERANCE_MS);
  });
});

describe("a user flooding a channel", () => {
  it("is paced to a burst of 5 then 1 line / 2 s, refused beyond its 20-line queue, loses nothing, and does not hold up others", async () => {
    // The flooder's JOIN took a token; let the bucket fill up again first (one refill period).
    const aliceJoin = joins.find((j) => j.nick === "alice")!.at;
    await sleep(Math.max(0, aliceJoin + 2000 + 250 - Date.now()));
    const ircMark = watcher.mark();
    const total = 30;
    const flood = await sendAll(
      alice,
      "flood",
      Array.from({ length: total }, (_, i) => `flood ${i}`),
    );
    // Right after the flooder's burst, three others say 4 lines each: 17 lines asked of the
    // server within about a second, more than the gateway may send it (10 per second).
    const said = await Promise.all(
      others.map(({ nick, client }) =>
        sendAll(
          client,
          nick,
          Array.from({ length: 4 }, (_, i) => `${nick} ${i}`),
        ),
      ),
    );

    // Every message has an answer: accepted (reflected to the sender) or refused with
    // resource-constraint of type wait, and the queue held 20 lines beyond the burst of 5.
    expect(flood.accepted.length + flood.refused.length).toBe(total);
    expect(flood.accepted.length).toBeGreaterThanOrEqual(25);
    expect(flood.refused.length).toBeGreaterThan(0);
    for (const refusal of flood.refused) {
      expect(errorOf(refusal)).toMatchObject({ condition: "resource-constraint", type: "wait" });
    }
    for (const { refused } of said) expect(refused).toEqual([]);

    // What was accepted reaches IRC, all of it, in order; what was refused never does.
    const aliceLines = await watcher.waitForAll(
      privmsgFrom("alice"),
      flood.accepted.length,
      "every accepted flood message on IRC",
      { since: ircMark, timeoutMs: 2000 * flood.accepted.length + 10_000 },
    );
    expect(aliceLines.map((l) => l.params[1])).toEqual(flood.accepted);
    const othersLines = await watcher.waitForAll(
      (l) => others.some(({ nick }) => privmsgFrom(nick)(l)),
      4 * others.length,
      "the others' messages on IRC",
      { since: ircMark },
    );
    const refusedBodies = new Set(flood.refused.map((s) => (s.attrs.id ?? "").replace("-", " ")));
    expect(watcher.lines.slice(ircMark).filter((l) => refusedBodies.has(l.params[1] ?? ""))).toEqual([]);

    // The flooder's own pace, as the server saw it: at most 5 at once, then 1 per 2 s. Counted
    // in windows: a token bucket keeps its average when a timer fires late, not every gap.
    const aliceTimes = await arrivals.timesOf(aliceLines);
    expect(busiestWindow(aliceTimes, 2000 - TOLERANCE_MS)).toBeLessThanOrEqual(5);
    expect(busiestWindow(aliceTimes.slice(5), 4000 - TOLERANCE_MS)).toBeLessThanOrEqual(2);
    expect(busiestWindow(aliceTimes, 10_000)).toBeLessThanOrEqual(10);

    // The server's view of the whole gateway: at most 10 lines per second (over windows
    // shortened by the tolerance; unpaced, the others' 12 lines would arrive within a few ms).
    const allLines = watcher.lines.slice(ircMark).filter((l) => l.command === "PRIVMSG");
    const allTimes = await arrivals.timesOf(allLines);
    const networkBusiest = busiestWindow(allTimes, 1000 - TOLERANCE_MS);
    expect(networkBusiest).toBeLessThanOrEqual(10);

    // The others got through while the flooder was still queued.
    const othersTimes = await arrivals.timesOf(othersLines);
    const othersDone = Math.max(...othersTimes);
    expect(othersDone).toBeLessThan(aliceTimes.at(-1)!);

    // No flood kill: no puppet quit or lost its connection.
    const quits = watcher.lines.slice(ircMark).filter((l) => l.command === "QUIT" || l.command === "KILL");
    expect(quits.map((l) => l.raw)).toEqual([]);
    for (const client of [alice, ...others.map((o) => o.client)]) {
      const lost = client.stanzas.filter(
        (s) => s.name === "presence" && /lost|reconnect|flood/i.test(s.getChildText("status") ?? ""),
      );
      expect(lost.map((s) => s.toString())).toEqual([]);
    }
    const start = allTimes[0]!;
    report("S7 flood", {
      sent: total,
      accepted: flood.accepted.length,
      refusedWait: flood.refused.length,
      flooderBusiest1500ms: busiestWindow(aliceTimes, 2000 - TOLERANCE_MS),
      flooderBusiest10s: busiestWindow(aliceTimes, 10_000),
      flooderGapsAfterBurstMs: aliceTimes.slice(5).map((t, i) => t - aliceTimes[i + 4]!),
      networkBusiest500ms: networkBusiest,
      networkBusiest1s: busiestWindow(allTimes, 1000),
      othersArrivalsMs: othersTimes.map((t) => t - start),
      flooderLastArrivalMs: aliceTimes.at(-1)! - start,
      connectionGapsMs: joins.slice(1).map((j, i) => j.at - joins[i]!.at),
    });
  }, 90_000);
});

describe("a long message", () => {
  it("of more than 3 IRC lines is refused with not-acceptable naming the limit and a paste service, and nothing reaches IRC", async () => {
    const ircMark = watcher.mark();
    const longLine = `long ${"word ".repeat(400)}`; // about 2 000 bytes: 5 wire lines
    const bob = others[0]!.client;
    const result = await sendAll(bob, "multi", ["alpha\nbeta\ngamma\ndelta", longLine, "one\ntwo\nthree"]);
    expect(result.refused.map((s) => s.attrs.id)).toEqual(["multi-0", "multi-1"]);
    for (const refusal of result.refused) {
      const error = errorOf(refusal);
      expect(error.condition).toBe("not-acceptable");
      expect(error.text).toMatch(/at most 3/);
      expect(error.text).toMatch(/paste/);
    }
    expect(result.accepted).toEqual(["one\ntwo\nthree"]);
    const lines = await watcher.waitForAll(
      (l) => privmsgFrom("bob")(l) && ["one", "two", "three"].includes(l.params[1] ?? ""),
      3,
      "the three-line message",
      { since: ircMark },
    );
    expect(lines.map((l) => l.params[1])).toEqual(["one", "two", "three"]);
    const refusedText = watcher.lines
      .slice(ircMark)
      .filter((l) => privmsgFrom("bob")(l) && /^(alpha|beta|gamma|delta|long )/.test(l.params[1] ?? ""));
    expect(refusedText).toEqual([]);
  });
});

describe("registrations", () => {
  it("allows 3 per hour per JID (changes count), answers the 4th with resource-constraint (wait), and still lets the user unregister", async () => {
    const dave = await h.login("dave");
    const register = (nick: string) => registerWithForm(dave, PROD_GATEWAY, { nick });
    for (const nick of ["dave1", "dave2", "dave3"]) await register(nick);
    const refused = await register("dave4").catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(IqError);
    expect((refused as IqError).condition).toBe("resource-constraint");
    expect((refused as IqError).type).toBe("wait");
    expect((refused as IqError).message).toMatch(/at most 3 registrations per hour/);
    const removed = await dave.iq(
      xml(
        "iq",
        { type: "set", to: PROD_GATEWAY },
        xml("query", { xmlns: "jabber:iq:register" }, xml("remove")),
      ),
    );
    expect(removed.attrs.type).toBe("result");
  });
});

describe("MUC joins", () => {
  it("beyond 20 new rooms in 10 s are refused with resource-constraint (wait); a room already joined is not counted", async () => {
    // On the main gateway, whose IRC side is not paced, so the joins complete at once; the join
    // limit is the core's default.
    const erin = await h.login("erin");
    const channels = Array.from({ length: 25 }, (_, i) => `#j${i}`);
    const mark = erin.mark();
    await Promise.all(
      channels.map((c) => erin.sendPresence({ to: `${roomJid(c)}/erin` }, [xml("x", { xmlns: NS_MUC })])),
    );
    const answers = await erin.waitForAll(
      (s) =>
        s.name === "presence" &&
        channels.some((c) => s.attrs.from === `${roomJid(c)}/erin`) &&
        (s.attrs.type === "error" || statusCodes(s).includes("110")),
      channels.length,
      "an answer to each of 25 joins",
      { since: mark, timeoutMs: 30_000 },
    );
    const refused = answers.filter((s) => s.attrs.type === "error");
    const joined = answers.filter((s) => s.attrs.type !== "error");
    expect(joined).toHaveLength(20);
    expect(refused).toHaveLength(5);
    for (const refusal of refused) {
      expect(errorOf(refusal)).toMatchObject({ condition: "resource-constraint", type: "wait" });
      expect(errorOf(refusal).text).toMatch(/at most 20 new rooms per 10 seconds/);
    }

    // Another resource of the same user joining a room the user is in: not a new join.
    const inRoom = joined[0]!.attrs.from!.split("/")[0]!;
    const second = await h.login("erin", "second");
    const m2 = second.mark();
    await second.sendPresence({ to: `${inRoom}/erin` }, [xml("x", { xmlns: NS_MUC })]);
    const answer = await second.waitFor(
      (s) =>
        s.name === "presence" &&
        s.attrs.from === `${inRoom}/erin` &&
        (s.attrs.type === "error" || statusCodes(s).includes("110")),
      `the second resource's join of ${inRoom}`,
      { since: m2 },
    );
    expect(answer.attrs.type).toBeUndefined();
    // ...while a new room is still refused.
    const m3 = second.mark();
    await second.sendPresence({ to: `${roomJid("#j-extra")}/erin` }, [xml("x", { xmlns: NS_MUC })]);
    const extra = await second.waitFor(
      (s) => s.name === "presence" && s.attrs.from === `${roomJid("#j-extra")}/erin`,
      "the answer to one more new room",
      { since: m3 },
    );
    expect(errorOf(extra)).toMatchObject({ condition: "resource-constraint", type: "wait" });
    report("S7 joins", { joinsSent: 25, joined: joined.length, refusedWait: refused.length });
  });
});

/** Prints a test's figures for docs/reliability.md when POSTERN_TEST_FIGURES is set. */
function report(what: string, figures: Record<string, unknown>): void {
  if (process.env.POSTERN_TEST_FIGURES) console.info(`${what}: ${JSON.stringify(figures)}`);
}
