/**
 * S12: two Postern instances (two processes' worth: separate `startPostern` runs with their own
 * component domains, `irc-a.localhost` and `irc-b.localhost`) bridge the same IRC channel. alice
 * is in it through instance A, bob through instance B, carol is a plain IRC user. Each of the
 * three sends a share of 1 000 numbered messages; afterwards every copy everyone received is
 * counted. An echo is any copy beyond the one each other party should get — a message coming
 * back to the network it came from, or reaching a user twice (one instance relaying what the
 * other wrote as if it were new).
 *
 *   POSTERN_S12_MESSAGES=1000   (default)
 */
import { randomBytes } from "node:crypto";
import pino from "pino";
import { ircAdapter } from "../../adapters/irc/index.ts";
import type { AdapterFactory } from "../../src/adapter/adapter.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { type RunningPostern, startPostern } from "../../src/core/app.ts";
import { connectIrc } from "../../test/support/irc-client.ts";
import { joinRoom } from "../../test/support/irc-gateway-harness.ts";
import { startNgircd } from "../../test/support/ircd.ts";
import { startProsody } from "../../test/support/prosody.ts";
import { startRedis } from "../../test/support/redis.ts";
import { connectXmpp, type XmppTestClient, xml } from "../../test/support/xmpp-client.ts";
import { type FaultRow, type RowOutcome, sleep, timeUntil } from "./row.ts";

const MESSAGES = Number(process.env.POSTERN_S12_MESSAGES ?? 1000);
const CHANNEL = "#loop";
const A = "irc-a.localhost";
const B = "irc-b.localhost";

export const rows: FaultRow[] = [
  { key: "S12", title: "Loops / echo between two instances", tier: "N", run: runS12 },
];

const room = (gw: string) => `${CHANNEL}%localhost@${gw}`;

async function runS12(): Promise<RowOutcome> {
  const secret = randomBytes(8).toString("hex");
  const [redis, prosody, ircd] = await Promise.all([
    startRedis(),
    startProsody({
      components: [
        { domain: A, secret },
        { domain: B, secret },
      ],
      users: [
        { username: "alice", password: "pw" },
        { username: "bob", password: "pw" },
      ],
    }),
    startNgircd({ serverName: "irc.test" }),
  ]);
  const instances: RunningPostern[] = [];
  const clients: XmppTestClient[] = [];
  const carol = await connectIrc({ port: ircd.port, nick: "carol" });
  try {
    // Two instances, each with its own configuration and component, as two operators would run them.
    for (const domain of [A, B]) {
      const config = parseConfigText(
        `
mode: development
redis: { url: "${redis.url}", keyPrefix: "${domain}:" }
secrets: { encryptionKey: "${randomBytes(32).toString("hex")}" }
gateways:
  - domain: ${domain}
    adapter: irc
    xmpp: { host: 127.0.0.1, port: ${prosody.componentPort}, secret: "${secret}" }
    users: { allowedDomains: [localhost] }
    settings:
      servers: { localhost: { host: 127.0.0.1, port: ${ircd.port} } }
      connections: { minIntervalMs: 0 }
      flood: { burst: 100, refillMs: 10, maxQueued: 500, networkLinesPerSecond: 100000, maxLinesPerMessage: 100 }
`,
        `${domain}.yaml`,
        { adapterSchemas: { irc: (ircAdapter as AdapterFactory<unknown>).configSchema } },
      );
      instances.push(
        await startPostern(
          config,
          { irc: ircAdapter as AdapterFactory<unknown> },
          { log: pino({ level: process.env.POSTERN_TEST_LOG ?? "silent" }), waitOnlineMs: 15_000 },
        ),
      );
    }
    await carol.join(CHANNEL);
    for (const [user, gw] of [
      ["alice", A],
      ["bob", B],
    ] as const) {
      const client = await connectXmpp({
        port: prosody.c2sPort,
        domain: "localhost",
        username: user,
        password: "pw",
      });
      clients.push(client);
      await client.sendPresence();
      await joinRoom(client, CHANNEL, user, { gateway: gw, timeoutMs: 20_000 });
    }
    const [alice, bob] = clients as [XmppTestClient, XmppTestClient];
    // Both puppets in the channel as carol sees it.
    await carol.waitFor((l) => l.command === "JOIN" && l.nick === "bob", "bob's puppet in the channel", {
      timeoutMs: 20_000,
    });

    const sent: { from: "alice" | "bob" | "carol"; body: string }[] = [];
    for (let n = 0; n < MESSAGES; n++) {
      const from = (["alice", "bob", "carol"] as const)[n % 3]!;
      const body = `s12 ${from} ${n}`;
      sent.push({ from, body });
      if (from === "carol") carol.privmsg(CHANNEL, body);
      else {
        const client = from === "alice" ? alice : bob;
        await client.send(
          xml(
            "message",
            { to: room(from === "alice" ? A : B), type: "groupchat", id: `s12-${n}` },
            xml("body", {}, body),
          ),
        );
      }
      // 50 a second: fast, but inside what ngIRCd lets one client send without penalty.
      if (n % 10 === 9) await sleep(200);
    }

    /** Copies of each body as each party received it. */
    const copies = () => {
      const count = (bodies: string[]) => {
        const m = new Map<string, number>();
        for (const b of bodies) m.set(b, (m.get(b) ?? 0) + 1);
        return m;
      };
      const xmppBodies = (c: XmppTestClient, gw: string) =>
        c.stanzas
          .filter(
            (s) =>
              s.name === "message" &&
              s.attrs.type === "groupchat" &&
              s.attrs.from?.startsWith(`${room(gw)}/`),
          )
          .map((s) => s.getChildText("body") ?? "")
          .filter((b) => b.startsWith("s12 "));
      return {
        alice: count(xmppBodies(alice, A)),
        bob: count(xmppBodies(bob, B)),
        carol: count(
          carol.lines
            .filter((l) => l.command === "PRIVMSG" && l.params[0] === CHANNEL)
            .map((l) => l.params[1] ?? "")
            .filter((b) => b.startsWith("s12 ")),
        ),
      };
    };
    // Everyone should see every message once: XMPP users see their own as the room's reflection.
    const expected = (party: "alice" | "bob" | "carol", from: string) =>
      party === "carol" && from === "carol" ? 0 : 1;
    const complete = () => {
      const c = copies();
      return sent.every((m) =>
        (["alice", "bob", "carol"] as const).every((p) => (c[p].get(m.body) ?? 0) >= expected(p, m.from)),
      );
    };
    const settledMs = await timeUntil(complete, 60_000);
    // Echoes would come after the original: leave time for them to show.
    await sleep(5_000);
    const c = copies();
    let echoes = 0;
    let missing = 0;
    for (const m of sent)
      for (const p of ["alice", "bob", "carol"] as const) {
        const got = c[p].get(m.body) ?? 0;
        const want = expected(p, m.from);
        if (got > want) echoes += got - want;
        if (got < want) missing += want - got;
      }
    const strangers = [...c.alice.keys(), ...c.bob.keys(), ...c.carol.keys()].filter(
      (b) => !sent.some((m) => m.body === b),
    ).length;
    return {
      status: "measured",
      figures: [
        {
          name: "messages (alice via A, bob via B, carol on IRC)",
          value: String(MESSAGES),
          target: "—",
          pass: null,
        },
        {
          name: "echoes (copies beyond one per party)",
          value: String(echoes),
          target: "0",
          pass: echoes === 0,
        },
        { name: "copies missing", value: String(missing), target: "0", pass: missing === 0 },
        { name: "bodies nobody sent", value: String(strangers), target: "0", pass: strangers === 0 },
        {
          name: "all copies in after the last send",
          value: settledMs === null ? "not within 60 s" : `${(settledMs / 1000).toFixed(1)} s`,
          target: "—",
          pass: null,
        },
      ],
      notes: [
        "Two Postern instances in one test process (each its own startPostern, config, component domain and Redis key prefix) bridging #loop on one ngIRCd; alice joins through A, bob through B, carol is a raw IRC client.",
        "Each XMPP user counts their own message once (the room's reflection, as XEP-0045 asks); carol does not see her own lines (IRC does not echo them to a client without echo-message).",
        "Not covered: two Telegram portal instances on one group — Telegram does not deliver one bot's messages to another bot, so the fake cannot show a loop there either.",
      ],
    };
  } finally {
    for (const c of clients) await c.stop().catch(() => undefined);
    for (const p of instances) await p.stop().catch(() => undefined);
    await carol.close().catch(() => undefined);
    await Promise.all([redis.stop(), prosody.stop(), ircd.stop()]);
  }
}
