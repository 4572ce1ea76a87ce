/**
 * `npm run demo` really works: scripts/demo.sh starts Redis, Prosody, ngIRCd and Postern; alice
 * logs in with an XMPP client, joins #postern%localhost@irc.localhost through the gateway and
 * talks with somebody on IRC; Ctrl-C (SIGINT to the script) stops every process it started.
 *
 * The script runs as an operator would run it, with two differences: free ports instead of the
 * well-known ones (which a developer's own servers may hold), and a temp folder instead of
 * .demo/. POSTERN_DEMO_NO_INSTALL keeps it from calling apt-get: the test rig's servers are
 * installed already.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectIrc } from "../support/irc-client.ts";
import { freePort } from "../support/ports.ts";
import { connectXmpp, type Element, xml } from "../support/xmpp-client.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const ROOM = "#postern%localhost@irc.localhost";
const NS_MUC = "http://jabber.org/protocol/muc";
const NS_MUC_USER = "http://jabber.org/protocol/muc#user";
/** Installing nothing, the demo is up in seconds; the bound covers a slow first tsx compile. */
const START_TIMEOUT_MS = 90_000;
/** Postern gets 20 s to say goodbye, the servers 10 s each. */
const STOP_TIMEOUT_MS = 60_000;

interface Ports {
  xmpp: number;
  component: number;
  redis: number;
  irc: number;
  http: number;
}

let demo: ChildProcess;
let output = "";
let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
let dir: string;
let ports: Ports;
/** The processes the script started, seen while it ran. */
let children: { pid: number; command: string }[] = [];
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "postern-demo-"));
  ports = {
    xmpp: await freePort(),
    component: await freePort(),
    redis: await freePort(),
    irc: await freePort(),
    http: await freePort(),
  };
  demo = spawn("bash", ["scripts/demo.sh"], {
    cwd: ROOT,
    env: {
      ...process.env,
      POSTERN_DEMO_DIR: dir,
      POSTERN_DEMO_NO_INSTALL: "1",
      POSTERN_DEMO_XMPP_PORT: String(ports.xmpp),
      POSTERN_DEMO_COMPONENT_PORT: String(ports.component),
      POSTERN_DEMO_REDIS_PORT: String(ports.redis),
      POSTERN_DEMO_IRC_PORT: String(ports.irc),
      POSTERN_DEMO_HTTP_PORT: String(ports.http),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  demo.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  demo.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  exited = new Promise((done) => demo.once("exit", (code, signal) => done({ code, signal })));
  await waitForOutput("Postern demo is running", START_TIMEOUT_MS);
  children = await childrenOf(demo.pid!);
}, START_TIMEOUT_MS + 10_000);

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  // Only if a test failed before the demo was stopped: end it and whatever it left behind.
  if (demo?.exitCode === null && demo.signalCode === null) {
    demo.kill("SIGINT");
    await Promise.race([exited, new Promise((r) => setTimeout(r, STOP_TIMEOUT_MS))]);
  }
  for (const child of children) if (isRunning(child.pid)) process.kill(child.pid, "SIGKILL");
  if (dir) await rm(dir, { recursive: true, force: true });
}, STOP_TIMEOUT_MS + 10_000);

describe("npm run demo", () => {
  it("starts Redis, Prosody, ngIRCd and Postern and says how to use them", () => {
    const commands = children.map((c) => c.command);
    for (const service of ["redis-server", "prosody", "ngircd", "src/cli.ts run"]) {
      expect(
        commands.filter((command) => command.includes(service)),
        service,
      ).toHaveLength(1);
    }
    expect(output).toContain(`account  alice@localhost   password  ${password("alice")}`);
    expect(output).toContain(`account  bob@localhost     password  ${password("bob")}`);
    expect(output).toContain(`Server 127.0.0.1, port ${ports.xmpp}.`);
    expect(output).toContain(`Join the group chat   ${ROOM}`);
    expect(output).toContain(`any IRC client at 127.0.0.1 port ${ports.irc}`);
    expect(output).toContain(`curl http://127.0.0.1:${ports.http}/health`);
  });

  it("reports a healthy gateway on /health", async () => {
    const response = await fetch(`http://127.0.0.1:${ports.http}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      ok: true,
      redis: true,
      gateways: [{ domain: "irc.localhost", online: true }],
    });
  });

  it("lets an XMPP user and an IRC user talk in #postern", async () => {
    const carol = await connectIrc({ port: ports.irc, nick: "carol" });
    cleanups.push(() => carol.close());
    await carol.join("#postern");

    const alice = await connectXmpp({
      port: ports.xmpp,
      domain: "localhost",
      username: "alice",
      password: password("alice"),
    });
    cleanups.push(() => alice.stop());
    await alice.sendPresence({ to: `${ROOM}/alice` }, [xml("x", { xmlns: NS_MUC })]);
    const self = await alice.waitFor(
      (s) => s.name === "presence" && s.attrs.from === `${ROOM}/alice` && hasStatus(s, "110"),
      "alice's self-presence in #postern",
      { timeoutMs: 20_000 },
    );
    expect(self.attrs.type).toBeUndefined();
    await alice.waitFor(
      (s) => s.name === "presence" && s.attrs.from === `${ROOM}/carol`,
      "carol listed as an occupant",
    );
    await carol.waitFor((l) => l.command === "JOIN" && l.nick === "alice", "alice joining #postern on IRC");

    const ircMark = carol.mark();
    await alice.send(
      xml("message", { to: ROOM, type: "groupchat", id: "demo-1" }, xml("body", {}, "hello from XMPP")),
    );
    const line = await carol.waitFor(
      (l) => l.command === "PRIVMSG" && l.nick === "alice" && l.params[0] === "#postern",
      "alice's message on IRC",
      { since: ircMark },
    );
    expect(line.params[1]).toBe("hello from XMPP");

    const xmppMark = alice.mark();
    carol.privmsg("#postern", "hello alice, this is IRC");
    const answer = await alice.waitFor(
      (s) => s.name === "message" && s.attrs.from === `${ROOM}/carol` && s.getChildText("body") !== null,
      "carol's answer in #postern",
      { since: xmppMark },
    );
    expect(answer.attrs.type).toBe("groupchat");
    expect(answer.getChildText("body")).toBe("hello alice, this is IRC");
  });

  it("stops every process it started on Ctrl-C", async () => {
    expect(children.length).toBe(4);
    demo.kill("SIGINT");
    const exit = await within(exited, STOP_TIMEOUT_MS, "the demo script to exit after SIGINT");
    expect(exit).toEqual({ code: 0, signal: null });
    expect(output).toContain("Demo stopped.");
    expect(children.filter((c) => isRunning(c.pid))).toEqual([]);
    // Postern stopped first and cleanly: it finished its Redis writes before Redis went away.
    const log = await readFile(join(dir, "postern.log"), "utf8");
    expect(log).toContain('"msg":"stopped"');
  });
});

function password(account: string): string {
  const found = new RegExp(`account {2}${account}@localhost +password {2}(\\S+)`).exec(output);
  if (!found) throw new Error(`the demo printed no password for ${account}:\n${output}`);
  return found[1]!;
}

function hasStatus(stanza: Element, code: string): boolean {
  const x = stanza.getChild("x", NS_MUC_USER);
  return x?.getChildren("status").some((s) => s.attrs.code === code) ?? false;
}

/** Resolves once the script printed `text`; fails naming it, with the output and logs, otherwise. */
async function waitForOutput(text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!output.includes(text)) {
    if (demo.exitCode !== null || demo.signalCode !== null) {
      throw new Error(`the demo exited before printing "${text}":\n${output}${await logTails()}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for "${text}":\n${output}${await logTails()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}:\n${output}`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function logTails(): Promise<string> {
  let text = "";
  for (const name of ["redis", "prosody", "ngircd", "postern"]) {
    try {
      const log = await readFile(join(dir, `${name}.log`), "utf8");
      text += `\n--- ${name}.log ---\n${log.slice(-3_000)}`;
    } catch {
      // Not started yet.
    }
  }
  return text;
}

/** The direct children of a process with their command lines, from /proc (`stat` names the parent). */
async function childrenOf(parent: number): Promise<{ pid: number; command: string }[]> {
  const found: { pid: number; command: string }[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = await readFile(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid …"; comm may hold spaces and parentheses, so split after the last ")".
    const close = stat.lastIndexOf(")");
    const ppid = Number(stat.slice(close + 2).split(" ")[1]);
    if (ppid !== parent) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    found.push({ pid: Number(entry), command: cmdline.split("\0").join(" ").trim() });
  }
  return found;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
