/**
 * S3 (RELIABILITY.md): corpus B in every XMPP-controlled field that reaches IRC, through a real
 * Prosody and a real ngIRCd. Postern reaches ngIRCd through a recording relay here, so every byte
 * its puppets send is checked: no extra protocol lines, no CTCP but ACTION, every line at most 512
 * bytes with CRLF and valid UTF-8, never `JOIN 0`. A raw IRC client in the channel sees what other
 * IRC users would.
 *
 * Payloads with characters XML cannot carry (NUL, \x01, \x07, other C0 controls) never reach the
 * gateway through a real server: Prosody closes a stream that contains them. A lone CR arrives as
 * LF after XML end-of-line handling.
 */
import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ircAdapter } from "../../adapters/irc/index.ts";
import type { AdapterFactory } from "../../src/adapter/adapter.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { type RunningPostern, startPostern } from "../../src/core/app.ts";
import { connectIrc, type RawIrcClient } from "../support/irc-client.ts";
import {
  contactJid,
  IRC_GATEWAY,
  joinRoom,
  NS_MUC,
  roomJid,
  runCommand,
} from "../support/irc-gateway-harness.ts";
import { type IrcServer, startNgircd } from "../support/ircd.ts";
import { type ProsodyServer, startProsody } from "../support/prosody.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";
import { connectXmpp, type Element, type XmppTestClient, xml } from "../support/xmpp-client.ts";

/** Corpus B, less what XML cannot carry (see above). */
const PAYLOADS = [
  "\r\nQUIT :x",
  "\rPRIVMSG #other :x",
  "\nJOIN #evil",
  "\nJOIN 0",
  ":leading colon",
  "x".repeat(600),
  `${"a".repeat(508)}😀 tail`,
  "line\u2028sep\u2029para\u0085next",
  "\u202Eevil",
  "zero\u200Dwidth",
  "topic\r\nQUIT :bye",
  "NICK\r\nPRIVMSG NickServ :IDENTIFY x",
  "é".repeat(300),
];

let redis: RedisServer;
let prosody: ProsodyServer;
let ircd: IrcServer;
let postern: RunningPostern;
let recorder: Recorder;
let alice: XmppTestClient;
let watcher: RawIrcClient;
let otherWatcher: RawIrcClient;

/** Bytes Postern sent to the IRC server, per connection. */
interface Recorder {
  port: number;
  streams: Buffer[][];
  close(): Promise<void>;
}

async function startRecorder(targetPort: number): Promise<Recorder> {
  const streams: Buffer[][] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const chunks: Buffer[] = [];
    streams.push(chunks);
    const upstream = tcpConnect({ host: "127.0.0.1", port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
      s.on("error", () => undefined);
    }
    client.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => client.write(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("recorder has no port");
  return {
    port: address.port,
    streams,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Every line Postern sent, as exact bytes (with the terminator they had). */
function sentLines(): Buffer[] {
  const lines: Buffer[] = [];
  for (const chunks of recorder.streams) {
    const all = Buffer.concat(chunks);
    let start = 0;
    for (let i = 0; i < all.length; i += 1) {
      if (all[i] === 0x0a) {
        lines.push(all.subarray(start, i + 1));
        start = i + 1;
      }
    }
    if (start < all.length) lines.push(all.subarray(start));
  }
  return lines;
}

const NICK = /^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]*$/;

/** The lines that break S3's rules, with the rule they break. */
function violations(allowedJoins: Set<string>): string[] {
  const bad: string[] = [];
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  for (const bytes of sentLines()) {
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      bad.push(`invalid UTF-8: ${bytes.toString("hex").slice(0, 80)}`);
      continue;
    }
    if (bytes.length > 512) bad.push(`${bytes.length} bytes: ${text.slice(0, 60)}`);
    if (!text.endsWith("\r\n")) bad.push(`no CRLF: ${JSON.stringify(text.slice(0, 80))}`);
    const line = text.replace(/\r\n$/, "");
    if (/[\r\n\0]/.test(line)) bad.push(`stray CR/LF/NUL: ${JSON.stringify(line.slice(0, 80))}`);
    const [command = "", ...rest] = line.split(" ");
    const params = rest.join(" ");
    const upper = command.toUpperCase();
    if (upper === "JOIN") {
      const channels = (params.split(" ")[0] ?? "").split(",");
      for (const c of channels) if (!allowedJoins.has(c.toLowerCase())) bad.push(`JOIN to ${c}: ${line}`);
      if (params.trim() === "0" || channels.includes("0")) bad.push(`JOIN 0: ${line}`);
    }
    if (upper === "NICK" && !NICK.test(params.replace(/^:/, "")))
      bad.push(`bad NICK: ${JSON.stringify(line)}`);
    if (upper === "QUIT") bad.push(`QUIT during the test: ${line}`);
    if (upper === "PRIVMSG" || upper === "NOTICE") {
      const target = params.split(" ")[0] ?? "";
      if (target.toLowerCase() === "#other" || target.toLowerCase() === "nickserv")
        bad.push(`message to ${target}: ${line}`);
      const trailing = params.slice(params.indexOf(" :") + 2);
      if (trailing.includes("\u0001") && !/^\u0001ACTION [^\u0001]*\u0001$/.test(trailing))
        bad.push(`CTCP other than ACTION: ${JSON.stringify(line)}`);
    }
  }
  return bad;
}

function errorCondition(stanza: Element): string | undefined {
  return stanza
    .getChild("error")
    ?.getChildElements()
    .find((c) => c.getNS() === "urn:ietf:params:xml:ns:xmpp-stanzas")?.name;
}

const JOINABLE = new Set(["#sec", "#keyed"]);

beforeAll(async () => {
  const secret = randomBytes(12).toString("hex");
  [redis, prosody, ircd] = await Promise.all([
    startRedis(),
    startProsody({
      components: [{ domain: IRC_GATEWAY, secret }],
      users: [{ username: "alice", password: "pw" }],
    }),
    startNgircd({ serverName: "irc.test" }),
  ]);
  recorder = await startRecorder(ircd.port);
  const factory = ircAdapter as AdapterFactory<unknown>;
  const config = parseConfigText(
    `
mode: development
redis: { url: "${redis.url}" }
secrets: { encryptionKey: "${randomBytes(32).toString("hex")}" }
gateways:
  - domain: ${IRC_GATEWAY}
    adapter: irc
    xmpp: { host: 127.0.0.1, port: ${prosody.componentPort}, secret: "${secret}" }
    users: { allowedDomains: [localhost] }
    limits: { maxBodyBytes: 16384 }
    settings:
      servers: { localhost: { host: 127.0.0.1, port: ${recorder.port} } }
      connections: { minIntervalMs: 0 }
      flood: { burst: 500, refillMs: 1, maxQueued: 2000, networkLinesPerSecond: 100000, maxLinesPerMessage: 100 }
`,
    "s3.yaml",
    { adapterSchemas: { irc: factory.configSchema } },
  );
  postern = await startPostern(
    config,
    { irc: factory },
    { log: pino({ level: process.env.POSTERN_TEST_LOG ?? "silent" }), waitOnlineMs: 15_000 },
  );
  watcher = await connectIrc({ port: ircd.port, nick: "watcher" });
  await watcher.join("#sec");
  otherWatcher = await connectIrc({ port: ircd.port, nick: "otherw" });
  await otherWatcher.join("#other");
  await otherWatcher.join("#evil");
  alice = await connectXmpp({
    port: prosody.c2sPort,
    domain: "localhost",
    username: "alice",
    password: "pw",
    resource: "r",
  });
  await alice.sendPresence();
  await joinRoom(alice, "#sec", "alice");
}, 60_000);

afterAll(async () => {
  await alice?.stop().catch(() => undefined);
  await watcher?.close().catch(() => undefined);
  await otherWatcher?.close().catch(() => undefined);
  await postern?.stop().catch(() => undefined);
  await recorder?.close();
  await Promise.all([prosody?.stop(), redis?.stop(), ircd?.stop()]);
});

/** Waits until the watcher saw `count` more PRIVMSG/TOPIC lines from the puppet than at `mark`. */
async function puppetLines(mark: number, what: string): Promise<void> {
  await watcher.waitFor((l) => l.nick !== undefined && l.nick !== "watcher", what, { since: mark });
}

describe("corpus B through XMPP", () => {
  it("in message bodies, /me actions and corrections", async () => {
    for (const [i, payload] of PAYLOADS.entries()) {
      const mark = watcher.mark();
      await alice.send(
        xml("message", { to: roomJid("#sec"), type: "groupchat", id: `b${i}` }, xml("body", {}, payload)),
      );
      await puppetLines(mark, `the body payload ${i}`);
      const mark2 = watcher.mark();
      await alice.send(
        xml(
          "message",
          { to: roomJid("#sec"), type: "groupchat", id: `m${i}` },
          xml("body", {}, `/me ${payload}`),
        ),
      );
      await puppetLines(mark2, `the /me payload ${i}`);
      const mark3 = watcher.mark();
      await alice.send(
        xml(
          "message",
          { to: roomJid("#sec"), type: "groupchat", id: `c${i}` },
          xml("body", {}, `fixed ${payload}`),
          xml("replace", { xmlns: "urn:xmpp:message-correct:0", id: `b${i}` }),
        ),
      );
      await watcher
        .waitFor((l) => l.nick !== undefined && l.nick !== "watcher", `the correction ${i}`, {
          since: mark3,
          timeoutMs: 3000,
        })
        .catch(() => undefined);
    }
    expect(violations(JOINABLE)).toEqual([]);
  }, 60_000);

  it("in OOB URLs and descriptions, and private messages", async () => {
    for (const [i, payload] of PAYLOADS.entries()) {
      const mark = watcher.mark();
      await alice.send(
        xml(
          "message",
          { to: roomJid("#sec"), type: "groupchat", id: `o${i}` },
          xml("body", {}, `https://example.org/f${i}`),
          xml(
            "x",
            { xmlns: "jabber:x:oob" },
            xml("url", {}, `https://example.org/f${i}${payload}`),
            xml("desc", {}, payload),
          ),
        ),
      );
      await puppetLines(mark, `the OOB payload ${i}`);
      const pmMark = watcher.mark();
      await alice.send(
        xml("message", { to: contactJid("watcher"), type: "chat", id: `p${i}` }, xml("body", {}, payload)),
      );
      await watcher.waitFor(
        (l) => l.command === "PRIVMSG" && l.params[0] === "watcher",
        `the PM payload ${i}`,
        { since: pmMark },
      );
    }
    expect(violations(JOINABLE)).toEqual([]);
  }, 60_000);

  it("in the subject (topic)", async () => {
    await alice.send(
      xml("message", { to: roomJid("#sec"), type: "groupchat", id: "t-op" }, xml("body", {}, "topic test")),
    );
    for (const [i, payload] of PAYLOADS.entries()) {
      const mark = alice.mark();
      await alice.send(
        xml("message", { to: roomJid("#sec"), type: "groupchat", id: `t${i}` }, xml("subject", {}, payload)),
      );
      // Either the topic changes (echoed as a subject) or an error comes back: never silence.
      await alice.waitFor(
        (s) =>
          (s.name === "message" &&
            s.attrs.from?.startsWith(roomJid("#sec")) === true &&
            s.getChild("subject") !== undefined) ||
          (s.attrs.type === "error" && s.attrs.id === `t${i}`),
        `the answer to topic payload ${i}`,
        { since: mark },
      );
    }
    expect(violations(JOINABLE)).toEqual([]);
  }, 60_000);

  it("in MUC nicks: refused nicks get an XMPP error, accepted ones become valid IRC nicks", async () => {
    const nicks = [
      "a b",
      "a,b",
      ":x",
      "0",
      "\u202Eevil",
      "zero\u200Dwidth",
      "x\nQUIT :y",
      "#chan",
      "n".repeat(100),
    ];
    for (const nick of nicks) {
      const mark = alice.mark();
      await alice.sendPresence({ to: `${roomJid("#sec")}/${nick}` });
      const answer = await alice.waitFor(
        (s) =>
          s.name === "presence" &&
          s.attrs.from?.startsWith(`${roomJid("#sec")}/`) === true &&
          (s.attrs.type === "error" || s.getChild("x", `${NS_MUC}#user`) !== undefined),
        `the answer to nick ${JSON.stringify(nick)}`,
        { since: mark },
      );
      expect(answer).toBeDefined();
    }
    for (const nick of nicks.slice(0, 4)) {
      const mark = alice.mark();
      await alice.sendPresence({ to: `${roomJid("#keyed")}/${nick}` }, [xml("x", { xmlns: NS_MUC })]);
      await alice.waitFor(
        (s) => s.name === "presence" && s.attrs.from?.startsWith(roomJid("#keyed")) === true,
        `the answer to joining with nick ${JSON.stringify(nick)}`,
        { since: mark },
      );
      await alice.sendPresence({ to: `${roomJid("#keyed")}/${nick}`, type: "unavailable" });
    }
    expect(violations(JOINABLE)).toEqual([]);
  }, 60_000);

  it("in room JIDs (channel names) and MUC passwords: refused with an XMPP error, no JOIN sent", async () => {
    const channels = ["#a,#b", "0", "#a b", "#evil,0", "#other\nJOIN #evil"];
    const answers: Record<string, string> = {};
    for (const channel of channels) {
      const to = `${roomJid(channel).replace(" ", "\\20")}/alice`;
      const mark = alice.mark();
      await alice.sendPresence({ to }, [xml("x", { xmlns: NS_MUC })]);
      const answer = await alice
        .waitFor((s) => s.name === "presence" && s.attrs.type === "error", `the refusal of ${channel}`, {
          since: mark,
          timeoutMs: 3000,
        })
        .catch(() => undefined);
      answers[channel] = answer ? (errorCondition(answer) ?? "no condition") : "silence";
    }
    const mark = alice.mark();
    await alice.sendPresence({ to: `${roomJid("#keyed")}/alice` }, [
      xml("x", { xmlns: NS_MUC }, xml("password", {}, "key with spaces\r\nJOIN #evil")),
    ]);
    await alice.waitFor(
      (s) => s.name === "presence" && s.attrs.from?.startsWith(roomJid("#keyed")) === true,
      "the keyed join",
      { since: mark },
    );
    expect(violations(JOINABLE)).toEqual([]);
    // A join nobody can honour is refused with an error, never ignored.
    expect(
      Object.entries(answers).filter(
        ([, a]) => !/jid-malformed|not-acceptable|item-not-found|bad-request/.test(a),
      ),
    ).toEqual([]);
  }, 60_000);

  it("in the registration nick and the configure-server fields", async () => {
    for (const nick of ["a b", "x\r\nQUIT :y", ":x", "0"]) {
      let condition: string | undefined;
      try {
        await alice.iq(
          xml(
            "iq",
            { type: "set", to: IRC_GATEWAY },
            xml(
              "query",
              { xmlns: "jabber:iq:register" },
              xml(
                "x",
                { xmlns: "jabber:x:data", type: "submit" },
                xml("field", { var: "nick" }, xml("value", {}, nick)),
              ),
            ),
          ),
        );
      } catch (err) {
        condition = (err as { condition?: string }).condition;
      }
      expect(condition, `registration nick ${JSON.stringify(nick)}`).toBe("not-acceptable");
    }
    for (const payload of PAYLOADS.slice(0, 4)) {
      await runCommand(alice, "irc:configure-server", [
        { server: "localhost" },
        {
          nick: `n${payload}`,
          username: payload,
          realname: payload,
          "nickserv-password": payload,
          autojoin: payload,
        },
      ]).catch(() => undefined);
    }
    expect(violations(JOINABLE)).toEqual([]);
  }, 60_000);

  it("the IRC side saw nothing but the puppet's own lines in #sec, and nothing in #other or #evil", async () => {
    const injected = otherWatcher.lines.filter(
      (l) => l.nick !== undefined && l.nick !== "otherw" && ["PRIVMSG", "JOIN", "NOTICE"].includes(l.command),
    );
    expect(injected.map((l) => l.raw)).toEqual([]);
    const quits = watcher.lines.filter((l) => l.command === "QUIT");
    expect(quits.map((l) => l.raw)).toEqual([]);
  });
});
