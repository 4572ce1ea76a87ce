/**
 * The real `postern run` process, with the IRC adapter against ngircd: a clean shutdown on
 * SIGTERM says goodbye everywhere, and after `kill -9` a new process brings the user's puppet
 * back into their channel from Redis alone.
 */
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectIrc, type RawIrcClient } from "../support/irc-client.ts";
import { type IrcServer, startNgircd } from "../support/ircd.ts";
import { type ProsodyServer, startProsody } from "../support/prosody.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";
import { type RunningProcess, removeDir, startProcess, tempDir } from "../support/service.ts";
import { waitUntil as waitFor } from "../support/wait.ts";
import { connectXmpp, type XmppTestClient, xml } from "../support/xmpp-client.ts";

const GW = "irc.localhost";
const ROOM = `#life%localhost@${GW}`;

let redis: RedisServer;
let prosody: ProsodyServer;
let ircd: IrcServer;
let dir: string;
let configFile: string;
let postern: RunningProcess | undefined;
let alice: XmppTestClient;
let watcher: RawIrcClient;

function startPostern(): RunningProcess {
  return startProcess(process.execPath, ["--import", "tsx", "src/cli.ts", "run", "--config", configFile], {
    cwd: process.cwd(),
  });
}

/** Waits for `check`; a timeout shows the end of Postern's output. */
function waitUntil(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  return waitFor(check, what, timeoutMs, () => `postern output:\n${postern?.output().slice(-3000)}`);
}

beforeAll(async () => {
  const secret = randomBytes(8).toString("hex");
  [redis, prosody, ircd] = await Promise.all([
    startRedis(),
    startProsody({ components: [{ domain: GW, secret }], users: [{ username: "alice", password: "pw" }] }),
    startNgircd(),
  ]);
  dir = await tempDir("process");
  configFile = join(dir, "postern.yaml");
  await writeFile(
    configFile,
    `
log: { level: info }
mode: development
redis: { url: "${redis.url}" }
secrets: { encryptionKey: "${randomBytes(32).toString("hex")}" }
gateways:
  - domain: ${GW}
    adapter: irc
    xmpp: { host: 127.0.0.1, port: ${prosody.componentPort}, secret: "${secret}" }
    users: { allowedDomains: [localhost] }
    settings:
      servers: { localhost: { host: 127.0.0.1, port: ${ircd.port} } }
      connections: { minIntervalMs: 0 }
      reconnect: { minMs: 100, maxMs: 2000 }
`,
  );
  watcher = await connectIrc({ port: ircd.port, nick: "watcher" });
  await watcher.join("#life");
  alice = await connectXmpp({
    port: prosody.c2sPort,
    domain: "localhost",
    username: "alice",
    password: "pw",
  });
  await alice.sendPresence();
}, 60_000);

afterAll(async () => {
  await postern?.kill();
  await alice?.stop();
  await watcher?.close();
  await Promise.all([redis?.stop(), prosody?.stop(), ircd?.stop()]);
  if (dir) await removeDir(dir);
});

describe("postern run", () => {
  it("comes online, and on SIGTERM tells the user and the IRC server goodbye, then exits 0", {
    timeout: 90_000,
  }, async () => {
    postern = startPostern();
    await waitUntil(
      () => postern!.output().includes("component online"),
      "Postern's component link to come up",
    );
    const mark = alice.mark();
    await alice.sendPresence({ to: GW });
    await alice.waitFor(
      (s) => s.name === "presence" && s.attrs.from === GW && !s.attrs.type,
      "the gateway's available presence",
      { since: mark, timeoutMs: 20_000 },
    );
    const ircMark = watcher.mark();
    await alice.sendPresence({ to: `${ROOM}/alice` }, [
      xml("x", { xmlns: "http://jabber.org/protocol/muc" }),
    ]);
    await alice.waitFor(
      (s) => s.getChild("subject") !== undefined && s.attrs.from === ROOM,
      "the join to finish",
      { since: mark, timeoutMs: 20_000 },
    );
    await watcher.waitFor((l) => l.command === "JOIN" && l.nick === "alice", "alice's puppet joining", {
      since: ircMark,
    });

    const byeMark = alice.mark();
    postern.child.kill("SIGTERM");
    const roomBye = await alice.waitFor(
      (s) => s.name === "presence" && s.attrs.type === "unavailable" && s.attrs.from === `${ROOM}/alice`,
      "the room saying goodbye",
      { since: byeMark },
    );
    expect(
      roomBye
        .getChild("x", "http://jabber.org/protocol/muc#user")
        ?.getChildren("status")
        .map((s) => s.attrs.code),
    ).toEqual(expect.arrayContaining(["110", "332"]));
    await alice.waitFor(
      (s) => s.name === "presence" && s.attrs.type === "unavailable" && s.attrs.from === GW,
      "the gateway going offline",
      { since: byeMark },
    );
    await watcher.waitFor((l) => l.command === "QUIT" && l.nick === "alice", "the puppet quitting IRC", {
      since: ircMark,
    });
    await waitUntil(() => postern!.child.exitCode !== null, "the process to exit");
    expect(postern.child.exitCode).toBe(0);
  });

  it("after kill -9, a new process reconnects the puppet and rejoins its channel from Redis", {
    timeout: 120_000,
  }, async () => {
    // Restart after the clean stop: the user's room and resources were kept in Redis.
    const restartMark = watcher.mark();
    postern = startPostern();
    await watcher.waitFor(
      (l) => l.command === "JOIN" && l.nick === "alice",
      "the puppet back after a clean restart",
      { since: restartMark, timeoutMs: 30_000 },
    );
    const ircMark = watcher.mark();
    await postern.kill();
    await watcher.waitFor(
      (l) => l.command === "QUIT" && l.nick === "alice",
      "the dead process's IRC connection to drop",
      { since: ircMark, timeoutMs: 30_000 },
    );
    postern = startPostern();
    await watcher.waitFor(
      (l) => l.command === "JOIN" && l.nick === "alice",
      "the puppet rejoining after kill -9",
      { since: ircMark, timeoutMs: 30_000 },
    );
    const mark = alice.mark();
    watcher.privmsg("#life", "welcome back");
    const msg = await alice.waitFor(
      (s) => s.getChildText("body") === "welcome back",
      "a channel message reaching the same XMPP client",
      { since: mark, timeoutMs: 20_000 },
    );
    expect(msg.attrs.from).toBe(`${ROOM}/watcher`);
  });
});
