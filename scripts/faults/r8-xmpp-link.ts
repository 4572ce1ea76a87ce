/**
 * R8 for the XMPP component link: the TCP fault proxy between Postern and Prosody's component
 * port blackholes the link; how long until Postern notices, and what is lost or duplicated
 * meanwhile.
 */
import { randomBytes } from "node:crypto";
import pino from "pino";
import { startPostern } from "../../src/core/app.ts";
import { startFaultProxy } from "../../test/support/fault-proxy.ts";
import { startProsody } from "../../test/support/prosody.ts";
import { startRedis } from "../../test/support/redis.ts";
import { registerWithForm } from "../../test/support/registration-form.ts";
import { TestNetwork } from "../../test/support/test-network.ts";
import { testNetworkConfig } from "../../test/support/test-network-config.ts";
import { connectXmpp } from "../../test/support/xmpp-client.ts";
import { type FaultRow, type RowOutcome, sleep } from "./row.ts";

export const rows: FaultRow[] = [
  {
    key: "R8 xmpp",
    title: "Half-open TCP: XMPP component link blackholed",
    tier: "N",
    run: () => runR8Xmpp(),
  },
];

/** How long R8 waits for Postern to notice the dead link (target: 90 s). */
const R8_WAIT_S = Number(process.env.POSTERN_R8_WAIT_S ?? 120);

async function runR8Xmpp(): Promise<RowOutcome> {
  const domain = "test.localhost";
  const secret = randomBytes(12).toString("hex");
  const redis = await startRedis();
  const prosody = await startProsody({
    components: [{ domain, secret }],
    users: [{ username: "alice", password: "pw" }],
  });
  const proxy = await startFaultProxy({ target: { host: "127.0.0.1", port: prosody.componentPort } });
  const network = new TestNetwork();
  const { config, factory } = testNetworkConfig(network, {
    domain,
    xmpp: { port: proxy.port, secret },
    redis: { url: redis.url },
    sourceName: "r8.yaml",
  });
  const postern = await startPostern(
    config,
    { test: factory },
    { log: pino({ level: process.env.POSTERN_TEST_LOG ?? "silent" }), waitOnlineMs: 15_000 },
  );
  const alice = await connectXmpp({
    port: prosody.c2sPort,
    domain: "localhost",
    username: "alice",
    password: "pw",
    resource: "r8",
  });
  try {
    await alice.sendPresence();
    await registerWithForm(alice, domain, { nick: "alice", password: "pw" });
    await alice.sendPresence({ to: domain });
    await network.waitForSession("alice@localhost");
    const copies = (text: string) => alice.stanzas.filter((s) => s.getChildText("body") === text);
    const received = (text: string) => copies(text).length > 0;
    const beforeAt = Date.now();
    await network.say("alice@localhost", { kind: "direct", id: "carol" }, "carol", "before the fault");
    await alice.waitFor((s) => s.getChildText("body") === "before the fault", "a message before the fault");

    const gateway = postern.gateways[0]!;
    const connectionsBefore = proxy.stats.connections;
    proxy.blackhole();
    const start = Date.now();
    // Messages from the network while the link is silently dead.
    const during = Array.from({ length: 5 }, (_, i) => `during the fault ${i}`);
    for (const text of during) {
      await network.say("alice@localhost", { kind: "direct", id: "carol" }, "carol", text);
      await sleep(1_000);
    }
    let detectedMs: number | null = null;
    while (Date.now() - start < R8_WAIT_S * 1000) {
      if (!gateway.online || proxy.stats.connections > connectionsBefore) {
        detectedMs = Date.now() - start;
        break;
      }
      await sleep(100);
    }
    proxy.pass();
    const lifted = Date.now();
    let recoveredMs: number | null = null;
    await network.say("alice@localhost", { kind: "direct", id: "carol" }, "carol", "after the fault");
    while (Date.now() - lifted < 60_000) {
      if (gateway.online && received("after the fault")) {
        recoveredMs = Date.now() - lifted;
        break;
      }
      await sleep(100);
    }
    // Anything still queued for the link gets a last chance to arrive.
    await sleep(5_000);
    const lost = during.filter((text) => !received(text)).length;
    const sent = ["before the fault", ...during, "after the fault"];
    const duplicated = sent.filter((text) => copies(text).length > 1);
    const duplicates = duplicated.reduce((n, text) => n + copies(text).length - 1, 0);
    // A copy with the id of the first can be dropped by the client (same stanza id); one with a
    // new id would be a second message to anyone.
    const newIds = duplicated.reduce(
      (n, text) => n + new Set(copies(text).map((s) => s.attrs.id)).size - 1,
      0,
    );
    return {
      status: "measured",
      figures: [
        {
          name: "dead link detected after",
          value: detectedMs === null ? `not within ${R8_WAIT_S} s` : `${(detectedMs / 1000).toFixed(1)} s`,
          target: "≤ 90 s",
          pass: detectedMs !== null && detectedMs <= 90_000,
        },
        {
          name: "messages through again after the blackhole lifts",
          value: recoveredMs === null ? "not within 60 s" : `${(recoveredMs / 1000).toFixed(1)} s`,
          target: "—",
          pass: null,
        },
        {
          name: "network → XMPP messages lost (sent while blackholed)",
          value: `${lost} of ${during.length}`,
          target: "0",
          pass: lost === 0,
        },
        {
          name: "network → XMPP messages received twice (of all 7 sent)",
          value:
            duplicates === 0
              ? "0"
              : `${duplicates} (${duplicated
                  .map((text) =>
                    text === "before the fault"
                      ? `"${text}", written ${start - beforeAt} ms before the blackhole`
                      : `"${text}"`,
                  )
                  .join("; ")})`,
          target: "— (window: 250 ms + a round trip)",
          pass: null,
        },
        {
          name: "duplicates carrying a new stanza id",
          value: String(newIds),
          target: "0",
          pass: newIds === 0,
        },
        {
          name: "bytes Postern wrote into the dead link",
          value: String(proxy.stats.droppedBytes),
          target: "—",
          pass: null,
        },
      ],
      notes: [
        "The fault proxy sits between Postern and Prosody's component port and blackholes both directions: no data, no FIN, no RST.",
        "Detection means: the gateway reports its link offline, or opens a new connection to the server.",
        "Postern pings the server after `xmpp.keepaliveMs` (30 s) of silence and drops the link after `xmpp.deadAfterMs` (85 s) without an answer (src/xmpp/connection.ts).",
        "A stanza written to the link stays unconfirmed until the answer to a ping written after it (src/core/xmpp-outbox.ts); the unconfirmed ones are written again, in order, on the next link. A duplicate is a stanza the server read whose confirmation the fault cut off: what was written within a round trip before the fault, or under sustained traffic (pings rationed to 4 a second) within 250 ms plus a round trip.",
        "The blackhole starts the moment alice has the message before the fault, when the server's answer to the ping confirming it may still be on its way back: that message can then arrive twice, with the same stanza id both times.",
      ],
    };
  } finally {
    await alice.stop().catch(() => undefined);
    await postern.stop().catch(() => undefined);
    await proxy.close();
    await prosody.stop();
    await redis.stop();
  }
}
