/**
 * R8 (RELIABILITY.md) for the IRC link, PR tier: the TCP fault proxy between Postern and ngIRCd
 * blackholes the link after the user joined a channel (no data, no FIN, no RST: a half-open
 * link). Postern must notice by itself (it PINGs after `keepaliveMs` of silence and drops the
 * socket after `deadAfterMs`), tell the user, reconnect once the link works again, rejoin, and
 * deliver in order both what the user sent after the loss was noticed and what Postern wrote
 * into the dead link before it knew (plain IRC has no receipts: lines the server never answered
 * are sent again, adapters/irc/unconfirmed.ts), with at most one duplicate.
 *
 * The timings are short here (settings `keepaliveMs`/`deadAfterMs`); `npm run test:faults`
 * (scripts/faults/r8-irc-link.ts) runs this same file with the defaults (60 s / 90 s) through
 * POSTERN_R8_IRC_DEFAULTS=1 and collects the figures from POSTERN_FAULTS_REPORT.
 */
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParsedLine } from "../support/irc-client.ts";
import {
  groupchat,
  IRC_GATEWAY,
  type IrcHarness,
  joinRoom,
  roomJid,
  roomMessage,
  startIrcHarness,
} from "../support/irc-gateway-harness.ts";
import type { Element } from "../support/xmpp-client.ts";

const DEFAULTS = process.env.POSTERN_R8_IRC_DEFAULTS === "1";
const KEEPALIVE_MS = DEFAULTS ? 60_000 : 1_000;
const DEAD_AFTER_MS = DEFAULTS ? 90_000 : 4_000;
/** Detection must come within the dead-link bound, with room for a busy machine. */
const DETECT_WAIT_MS = DEAD_AFTER_MS + 30_000;

let h: IrcHarness;

beforeAll(async () => {
  h = await startIrcHarness({
    faultProxy: true,
    settings: DEFAULTS ? "" : `keepaliveMs: ${KEEPALIVE_MS}\n      deadAfterMs: ${DEAD_AFTER_MS}`,
  });
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

const gatewayPresence = (s: Element) => s.name === "presence" && s.attrs.from === IRC_GATEWAY;
const fromAlice = (l: ParsedLine) => l.nick?.startsWith("alice") === true;
const said = (text: string) => (l: ParsedLine) =>
  l.command === "PRIVMSG" && l.params[0] === "#keep" && fromAlice(l) && l.params[1] === text;

describe("R8: the IRC link goes silent (half-open)", () => {
  it(
    "keeps a quiet healthy link, notices a dead one, tells the user, reconnects and delivers what was written into it and queued",
    async () => {
      const proxy = h.ircProxy!;
      const alice = await h.login("alice");
      await alice.sendPresence({ to: IRC_GATEWAY });
      const watch = await h.irc("keepwatch");
      await watch.join("#keep");
      await joinRoom(alice, "#keep", "alice");
      await alice.send(groupchat("#keep", "before the fault", "before"));
      await watch.waitFor(said("before the fault"), "alice's message before the fault");

      // A quiet but healthy link outlives the dead-link bound: the keepalive PING gets its PONG.
      const quiet = alice.mark();
      await new Promise((resolve) => setTimeout(resolve, DEAD_AFTER_MS + 1_000));
      expect(proxy.stats.connections, "connections through the proxy after a quiet spell").toBe(1);
      expect(alice.stanzas.slice(quiet).some(gatewayPresence), "a gateway presence while all is well").toBe(
        false,
      );

      const m = alice.mark();
      proxy.blackhole();
      const start = Date.now();
      // Written into the dead link before anyone can know: plain IRC has no delivery receipts.
      const inFlight = ["in flight 1", "in flight 2"];
      for (const [n, text] of inFlight.entries()) await alice.send(groupchat("#keep", text, `flight-${n}`));
      const lost = await alice.waitFor(
        (s) => gatewayPresence(s) && /lost localhost.*no answer/.test(s.getChildText("status") ?? ""),
        "the gateway saying the IRC link is dead",
        { since: m, timeoutMs: DETECT_WAIT_MS },
      );
      const detectedMs = Date.now() - start;
      expect(lost.getChildText("show")).toBe("xa");
      const connectionsAtDetection = proxy.stats.connections;

      // Sent once the loss is known: queued until the link is back, then delivered in order.
      const queued = ["queued 1", "queued 2", "queued 3"];
      for (const [n, text] of queued.entries()) await alice.send(groupchat("#keep", text, `queued-${n}`));
      // A reconnect attempt goes through the proxy (and into the blackhole) before the lift.
      const attempted = Date.now();
      while (proxy.stats.connections === connectionsAtDetection && Date.now() - attempted < 30_000) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const reconnectAttempts = proxy.stats.connections - 1;
      expect(reconnectAttempts, "reconnect attempts through the proxy").toBeGreaterThan(0);

      const w = watch.mark();
      proxy.pass();
      const lifted = Date.now();
      await watch.waitFor(
        (l) => l.command === "JOIN" && fromAlice(l) && l.params[0] === "#keep",
        "alice rejoining #keep after the blackhole lifts",
        { since: w, timeoutMs: 60_000 },
      );
      const rejoinedMs = Date.now() - lifted;
      // What was written into the dead link goes first (it was sent first), then what waited.
      const expected = [...inFlight, ...queued];
      await watch.waitFor(said(queued[queued.length - 1] as string), "the last queued message", {
        since: w,
        timeoutMs: 30_000,
      });
      const delivered = watch.lines
        .slice(w)
        .filter((l) => l.command === "PRIVMSG" && l.params[0] === "#keep" && fromAlice(l))
        .map((l) => l.params[1] ?? "");
      const firstSeen = delivered.filter((text, i) => delivered.indexOf(text) === i);
      const duplicates = delivered.length - firstSeen.length;
      await alice.waitFor(
        (s) => gatewayPresence(s) && s.attrs.type === undefined && s.getChild("show") === undefined,
        "the gateway online again",
        { since: m, timeoutMs: 30_000 },
      );
      const seen = new Set(
        watch.lines
          .filter((l) => l.command === "PRIVMSG" && l.params[0] === "#keep" && fromAlice(l))
          .map((l) => l.params[1]),
      );
      const inFlightLost = inFlight.filter((t) => !seen.has(t)).length;
      // Alice's own copies in the room: each message once, not again when it was resent.
      const ownCopy = (s: Element) =>
        roomMessage("#keep")(s) && s.attrs.from?.startsWith(`${roomJid("#keep")}/alice`) === true;
      await alice.waitFor(
        (s) => ownCopy(s) && s.getChildText("body") === queued[queued.length - 1],
        "alice's own copy of her last queued message",
        { since: m, timeoutMs: 30_000 },
      );
      const ownCopies = alice.stanzas
        .slice(m)
        .filter(ownCopy)
        .map((s) => s.getChildText("body") ?? "");
      const bounced = alice.stanzas
        .slice(m)
        .filter((s) => s.name === "message" && s.attrs.type === "error")
        .map((s) => s.attrs.id ?? "");
      report({
        keepaliveMs: KEEPALIVE_MS,
        deadAfterMs: DEAD_AFTER_MS,
        detectedMs,
        reason: lost.getChildText("status"),
        reconnectAttempts,
        rejoinedMs,
        queuedSent: queued.length,
        queuedDeliveredInOrder: firstSeen.filter((t) => queued.includes(t)).join("|") === queued.join("|"),
        inFlightSent: inFlight.length,
        inFlightLost,
        allInOrder: firstSeen.join("|") === expected.join("|"),
        duplicates,
        bounced,
      });

      expect(firstSeen, "what #keep saw from alice after the link came back").toEqual(expected);
      expect(duplicates, "lines #keep saw twice").toBeLessThanOrEqual(1);
      expect(bounced, "error replies").toEqual([]);
      expect(ownCopies, "alice's own copies of her messages in the room, each once, in order").toEqual(
        expected,
      );
    },
    DEAD_AFTER_MS * 2 + DETECT_WAIT_MS + 150_000,
  );
});

/** For `npm run test:faults`: the figures of this run, as JSON, where the runner asked for them. */
function report(figures: Record<string, unknown>): void {
  const file = process.env.POSTERN_FAULTS_REPORT;
  if (file) writeFileSync(file, JSON.stringify({ row: "R8 irc", ...figures }, null, 2));
}
