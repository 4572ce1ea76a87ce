/**
 * The IRCv3 and login parts of the IRC adapter that need a particular server: multi-prefix
 * against a real InspIRCd 3; SASL PLAIN, NickServ IDENTIFY, CHGHOST and a netsplit BATCH against
 * a tiny scripted server in this file (InspIRCd's SASL needs services, and changing a host or
 * splitting a network needs an oper or a second server).
 */
import { createServer, type Server, type Socket } from "node:net";
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ircAdapter } from "../../adapters/irc/index.ts";
import { writeUserServerSetup } from "../../adapters/irc/user-config.ts";
import type {
  Adapter,
  JoinedRoom,
  MessageEvent,
  RoomMemberEvent,
  SessionEvent,
} from "../../src/adapter/index.ts";
import {
  type HarnessSession,
  harnessSession,
  MemoryLeases,
  MemoryState,
  testFetcher,
} from "../support/adapter-harness.ts";
import { connectIrc } from "../support/irc-client.ts";
import { type IrcServer, startInspircd } from "../support/ircd.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const isMember = (e: SessionEvent): e is RoomMemberEvent => e.type === "room.member";
const isMessage = (e: SessionEvent): e is MessageEvent => e.type === "message";

/** Adapter logs (adapter and session) collected as text, to check what they never contain. */
function logCapture(): { log: pino.Logger; text(): string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString("utf8"));
      done();
    },
  });
  return { log: pino({ level: "trace" }, sink), text: () => chunks.join("") };
}

function makeAdapter(server: string, port: number, log: pino.Logger): Adapter {
  const adapter = ircAdapter.create({
    gateway: { domain: "irc.localhost", name: "IRC" },
    settings: ircAdapter.configSchema.parse({
      servers: { [server]: { host: "127.0.0.1", port } },
      flood: {
        burst: 100,
        refillMs: 10,
        maxQueued: 500,
        networkLinesPerSecond: 100_000,
        maxLinesPerMessage: 100,
      },
      connections: { minIntervalMs: 0 },
      reconnect: { minMs: 5_000, maxMs: 10_000 },
    }),
    log,
    state: new MemoryState(),
    files: undefined,
    leases: new MemoryLeases(),
    fetcher: testFetcher(),
  });
  cleanups.push(() => adapter.stop());
  return adapter;
}

// ---- a scripted IRC server ---------------------------------------------------------------------

const FAKE = "fake.test";

interface ScriptedIrcd {
  port: number;
  /** Every line received, in order, plus `<<001` where the welcome was sent. */
  lines: string[];
  /** Sends a raw line to the (last) connected client. */
  push(line: string): void;
  /** Resolves once a received line matches; fails after 10 s naming `what`. */
  waitForLine(match: (line: string) => boolean, what: string): Promise<string>;
  close(): Promise<void>;
}

interface ScriptOptions {
  /** Offer SASL PLAIN and accept exactly this password (anything else gets 904). */
  saslPassword?: string;
  /** Other members of every channel joined, as NAMES entries. */
  names?: string[];
}

/**
 * Just enough of a server for one client: CAP LS/REQ/END, SASL PLAIN (900/903 or 904), the
 * welcome once CAP negotiation ended, JOIN with NAMES, PING. Everything received is recorded.
 */
async function scriptedIrcd(options: ScriptOptions = {}): Promise<ScriptedIrcd> {
  const lines: string[] = [];
  const sockets = new Set<Socket>();
  let last: Socket | undefined;
  const watchers = new Set<() => void>();
  const caps = ["multi-prefix", "batch", "chghost", "account-tag"];
  if (options.saslPassword !== undefined) caps.push("sasl");

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    last = socket;
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let nick = "*";
    let user = false;
    let capping = false;
    let welcomed = false;
    const send = (line: string) => socket.write(`${line}\r\n`);
    const welcome = () => {
      if (welcomed || capping || nick === "*" || !user) return;
      welcomed = true;
      lines.push("<<001");
      send(`:${FAKE} 001 ${nick} :Welcome`);
      send(`:${FAKE} 005 ${nick} PREFIX=(ov)@+ CHANTYPES=# CASEMAPPING=rfc1459 :are supported`);
      send(`:${FAKE} 422 ${nick} :No MOTD`);
    };
    let buffer = "";
    socket.on("data", (chunk) => {
      buffer += chunk.toString("utf8");
      for (;;) {
        const end = buffer.indexOf("\r\n");
        if (end === -1) break;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        lines.push(line);
        for (const watcher of watchers) watcher();
        const [command = "", ...params] = line.split(" ");
        const trailing = line.includes(" :") ? line.slice(line.indexOf(" :") + 2) : params.at(-1);
        switch (command) {
          case "CAP":
            if (params[0] === "LS") {
              capping = true;
              send(`:${FAKE} CAP * LS :${caps.join(" ")}`);
            } else if (params[0] === "REQ") send(`:${FAKE} CAP * ACK :${trailing}`);
            else if (params[0] === "END") {
              capping = false;
              welcome();
            }
            break;
          case "AUTHENTICATE":
            if (params[0] === "PLAIN") send("AUTHENTICATE +");
            else if (params[0] !== "+") {
              const [, authcid, password] = Buffer.from(params[0] ?? "", "base64")
                .toString("utf8")
                .split("\0");
              if (password === options.saslPassword) {
                send(`:${FAKE} 900 ${nick} ${nick}!u@127.0.0.1 ${authcid} :You are now logged in`);
                send(`:${FAKE} 903 ${nick} :SASL authentication successful`);
              } else send(`:${FAKE} 904 ${nick} :SASL authentication failed`);
            }
            break;
          case "NICK":
            nick = params[0] ?? nick;
            welcome();
            break;
          case "USER":
            user = true;
            welcome();
            break;
          case "JOIN": {
            const channel = params[0] ?? "";
            send(`:${nick}!u@127.0.0.1 JOIN ${channel}`);
            send(`:${FAKE} 353 ${nick} = ${channel} :${[nick, ...(options.names ?? [])].join(" ")}`);
            send(`:${FAKE} 366 ${nick} ${channel} :End of /NAMES list.`);
            break;
          }
          case "PING":
            send(`:${FAKE} PONG ${FAKE} :${trailing}`);
            break;
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  const ircd: ScriptedIrcd = {
    port: address.port,
    lines,
    push(line) {
      last?.write(`${line}\r\n`);
    },
    waitForLine(match, what) {
      const found = lines.find(match);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const watcher = () => {
          const line = lines.find(match);
          if (line === undefined) return;
          watchers.delete(watcher);
          clearTimeout(timer);
          resolve(line);
        };
        const timer = setTimeout(() => {
          watchers.delete(watcher);
          reject(new Error(`timed out waiting for ${what}; received:\n  ${lines.join("\n  ")}`));
        }, 10_000);
        watchers.add(watcher);
      });
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  cleanups.push(() => ircd.close());
  return ircd;
}

/** Alice's session on the scripted server, her stored settings applied first, logs captured. */
async function aliceOn(ircd: ScriptedIrcd, setup: Parameters<typeof writeUserServerSetup>[2] = {}) {
  const logs = logCapture();
  const adapter = makeAdapter(FAKE, ircd.port, logs.log);
  const h = harnessSession("alice@localhost");
  await writeUserServerSetup(h.state, FAKE, { nick: "alice", ...setup });
  const session = await adapter.openSession({ ...h.context, log: logs.log });
  cleanups.push(() => session.close("test done"));
  return { h, session, logs };
}

// ---- tests ---------------------------------------------------------------------------------------

describe("SASL PLAIN and NickServ (scripted server)", () => {
  it("logs in with SASL PLAIN using the password the user configured", async () => {
    const ircd = await scriptedIrcd({ saslPassword: "sasl-s3cret" });
    const { session, logs } = await aliceOn(ircd, { saslPassword: "sasl-s3cret" });
    await session.joinRoom!({ room: `#login%${FAKE}`, nick: "alice" });
    expect(ircd.lines).toContain("AUTHENTICATE PLAIN");
    const credentials = ircd.lines.find((l) => /^AUTHENTICATE [A-Za-z0-9+/=]{8,}$/.test(l)) ?? "";
    const [authzid, authcid, password] = Buffer.from(credentials.slice("AUTHENTICATE ".length), "base64")
      .toString("utf8")
      .split("\0");
    expect(["", "alice"]).toContain(authzid);
    expect({ authcid, password }).toEqual({ authcid: "alice", password: "sasl-s3cret" });
    // Logged in before registration ended.
    expect(ircd.lines.indexOf("CAP END")).toBeGreaterThan(ircd.lines.indexOf(credentials));
    expect(logs.text()).not.toContain("sasl-s3cret");
    expect(logs.text()).not.toContain(credentials.slice("AUTHENTICATE ".length));
  });

  it("tells the user when the SASL login fails, and still connects", async () => {
    const ircd = await scriptedIrcd({ saslPassword: "the-right-one" });
    const { h, session, logs } = await aliceOn(ircd, { saslPassword: "a-wrong-one" });
    await session.joinRoom!({ room: `#login%${FAKE}`, nick: "alice" });
    const notice = await h.waitForEvent<SessionEvent & { type: "notice" }>(
      (e) => e.type === "notice" && /SASL/.test(e.text),
      "a notice about the failed SASL login",
    );
    expect(notice.text).toMatch(/SASL login to fake\.test failed/);
    expect(logs.text()).not.toContain("a-wrong-one");
  });

  it("identifies to NickServ after the welcome, and never logs the password", async () => {
    const ircd = await scriptedIrcd();
    const { session, logs } = await aliceOn(ircd, { nickservPassword: "ns-s3cret" });
    await session.joinRoom!({ room: `#login%${FAKE}`, nick: "alice" });
    const identify = await ircd.waitForLine((l) => l.startsWith("PRIVMSG NickServ "), "IDENTIFY to NickServ");
    expect(identify).toBe("PRIVMSG NickServ :IDENTIFY ns-s3cret");
    expect(ircd.lines.indexOf(identify)).toBeGreaterThan(ircd.lines.indexOf("<<001"));
    expect(ircd.lines.filter((l) => l.startsWith("AUTHENTICATE"))).toEqual([]);
    expect(logs.text()).not.toContain("ns-s3cret");
  });
});

describe("CHGHOST and netsplit BATCH (scripted server)", () => {
  it("a host change is not a quit and join for the room", async () => {
    const ircd = await scriptedIrcd({ names: ["@bob"] });
    const { h, session } = await aliceOn(ircd);
    await session.joinRoom!({ room: `#hosts%${FAKE}`, nick: "alice" });
    const since = h.mark();
    ircd.push(":bob!bob@old.host CHGHOST bob new.host");
    ircd.push(":bob!bob@new.host PRIVMSG #hosts :still here");
    await h.waitForEvent((e) => isMessage(e) && e.text.text === "still here", "bob's message", { since });
    expect(h.events.slice(since).map((e) => e.type)).toEqual(["message"]);
  });

  it("a netsplit batch of QUITs is one leave per user and nothing else", async () => {
    const ircd = await scriptedIrcd({ names: ["bob", "+carol", "dave"] });
    const { h, session } = await aliceOn(ircd);
    await session.joinRoom!({ room: `#split%${FAKE}`, nick: "alice" });
    const since = h.mark();
    ircd.push(`:${FAKE} BATCH +ns1 netsplit hub.test leaf.test`);
    ircd.push("@batch=ns1 :bob!u@h QUIT :hub.test leaf.test");
    ircd.push("@batch=ns1 :carol!u@h QUIT :hub.test leaf.test");
    ircd.push(`:${FAKE} BATCH -ns1`);
    ircd.push(":dave!u@h PRIVMSG #split :did the net split?");
    await h.waitForEvent((e) => isMessage(e) && e.from.nick === "dave", "dave's message after the split", {
      since,
    });
    const after = h.events.slice(since);
    expect(after.map((e) => e.type)).toEqual(["room.member", "room.member", "message"]);
    expect(after.filter(isMember).map((e) => [e.change, e.occupant.nick])).toEqual([
      ["leave", "bob"],
      ["leave", "carol"],
    ]);
  });
});

describe("multi-prefix (InspIRCd)", () => {
  let ircd: IrcServer;
  const SERVER = "inspircd.test";
  beforeAll(async () => {
    ircd = await startInspircd({ serverName: SERVER });
  });
  afterAll(async () => {
    await ircd?.stop();
  });

  it("takes the role from the highest prefix and keeps the others (@+ then -o)", async () => {
    const bob = await connectIrc({ port: ircd.port, nick: "bob", caps: ["multi-prefix"] });
    cleanups.push(() => bob.close());
    await bob.join("#mp");
    bob.send("MODE #mp +v bob");
    await bob.waitFor((l) => l.command === "MODE" && l.params[1] === "+v", "bob voiced");
    const beforeNames = bob.mark();
    bob.send("NAMES #mp");
    const names = await bob.waitFor((l) => l.command === "353", "NAMES of #mp", { since: beforeNames });
    expect(names.params.at(-1)?.split(" ")).toContain("@+bob"); // the server does multi-prefix

    const adapter = makeAdapter(SERVER, ircd.port, pino({ level: "silent" }));
    const h: HarnessSession = harnessSession("alice@localhost");
    const session = await adapter.openSession(h.context);
    cleanups.push(() => session.close("test done"));
    const joined = (await session.joinRoom!({ room: `#mp%${SERVER}`, nick: "alice" })) as JoinedRoom;
    expect(joined.occupants.find((o) => o.nick === "bob")).toMatchObject({
      role: "moderator",
      affiliation: "admin",
    });

    // Without multi-prefix the gateway would not know bob still has voice after -o.
    const since = h.mark();
    bob.send("MODE #mp -o bob");
    const change = await h.waitForEvent<RoomMemberEvent>(
      (e) => isMember(e) && e.change === "role",
      "bob's role change",
      { since },
    );
    expect(change.occupant).toMatchObject({ nick: "bob", role: "participant", affiliation: "member" });
  });
});
