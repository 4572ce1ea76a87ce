/**
 * R8 (RELIABILITY.md), what a lost IRC link may have swallowed: a scripted IRC server
 * (test/support/scripted-ircd.ts) records every line the adapter writes and drops the link on
 * cue. Message lines not yet written, or written after the last bytes the server sent, are sent
 * again after the reconnect, in order; lines the server confirmed (its PONG to the adapter's
 * confirmation PING, or any line after them) are not. irc-keepalive.test.ts shows the same
 * through XMPP on a blackholed link to ngIRCd.
 */
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ircAdapter } from "../../adapters/irc/index.ts";
import type { Adapter, MessageEvent, Session } from "../../src/adapter/index.ts";
import {
  type HarnessSession,
  harnessSession,
  MemoryLeases,
  MemoryState,
  testFetcher,
} from "../support/adapter-harness.ts";
import { type ScriptedIrcd, startScriptedIrcd } from "../support/scripted-ircd.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(settings: Record<string, unknown>): Promise<{
  server: ScriptedIrcd;
  session: Session;
  h: HarnessSession;
  say(text: string): Promise<void>;
  said(): string[];
}> {
  const server = await startScriptedIrcd();
  cleanups.push(() => server.close());
  const adapter: Adapter = ircAdapter.create({
    gateway: { domain: "irc.localhost", name: "IRC" },
    settings: ircAdapter.configSchema.parse({
      servers: { "fake.test": { host: "127.0.0.1", port: server.port } },
      connections: { minIntervalMs: 0 },
      reconnect: { minMs: 20, maxMs: 100 },
      ...settings,
    }),
    log: pino({ level: "silent" }),
    state: new MemoryState(),
    files: undefined,
    leases: new MemoryLeases(),
    fetcher: testFetcher(),
  });
  cleanups.push(() => adapter.stop());
  const h = harnessSession("alice@localhost");
  const session = await adapter.openSession(h.context);
  const conversation = { kind: "direct" as const, id: "bob%fake.test" };
  return {
    server,
    session,
    h,
    say: async (text) => {
      await session.sendMessage({ conversation, kind: "normal", text: { text, spans: [] }, clientId: text });
    },
    said: () =>
      server.received
        .filter((l) => l.command === "PRIVMSG" && l.params[0] === "bob")
        .map((l) => l.params[1] ?? ""),
  };
}

const privmsg = (text: string) => (l: { command: string; params: string[] }) =>
  l.command === "PRIVMSG" && l.params[0] === "bob" && l.params[1] === text;

/** The user's own copies of their messages (no echo-message here: the adapter reports them). */
function ownCopies(h: HarnessSession): string[] {
  return h.events
    .filter((e): e is MessageEvent => e.type === "message" && e.from.self === true)
    .map((e) => e.text.text);
}

describe("R8: messages a lost IRC link may have swallowed", () => {
  it("sends again, in order, what was written after the server last spoke and what still waited in the flood queue", async () => {
    // One line per second after the first: "b" and "c" wait in the flood queue when the link
    // drops, at once, maybe before the answer to the PING written after "a" is back.
    const t = await setup({ flood: { burst: 1, refillMs: 1_000 } });
    for (const text of ["a", "b", "c"]) await t.say(text);
    await t.server.waitForLine(privmsg("a"), "PRIVMSG bob :a");
    const since = t.h.mark();
    t.server.client("alice")?.drop();
    await t.server.waitForConnection(2);
    await t.server.waitForLine(privmsg("c"), "PRIVMSG bob :c after the reconnect", { timeoutMs: 15_000 });
    // "a" was read; unless the answer to the PING after it came back before the drop, nothing
    // says so and it comes twice (the plan's one duplicate); "b" and "c" had not left.
    const said = t.said();
    expect(
      said.filter((text, i) => said.indexOf(text) === i),
      "what the server got, in order",
    ).toEqual(["a", "b", "c"]);
    expect(["a,b,c", "a,a,b,c"], "at most one duplicate").toContain(said.join(","));
    expect(ownCopies(t.h), "the user's own copies, each once").toEqual(["a", "b", "c"]);
    const notices = t.h.events.slice(since).filter((e) => e.type === "notice");
    expect(notices, "notices about lines not sent").toEqual([]);
  });

  it("does not send again what the server confirmed with its PONG to the PING after the message", async () => {
    const t = await setup({});
    await t.say("confirmed");
    await t.server.waitForLine(privmsg("confirmed"), "PRIVMSG bob :confirmed");
    await t.server.waitForLine(
      (l) => l.command === "PING" && l.params[0]?.startsWith("postern-confirm-") === true,
      "the PING written after the message",
    );
    // The server answered that PING; its own PING, answered after it, shows the answer was read.
    const mark = t.server.received.length;
    t.server.client("alice")?.send("PING :probe");
    await t.server.waitForLine((l) => l.command === "PONG" && l.params.includes("probe"), "PONG :probe", {
      since: mark,
    });
    t.server.client("alice")?.drop();
    await t.server.waitForConnection(2);
    await t.say("after");
    await t.server.waitForLine(privmsg("after"), "PRIVMSG bob :after the reconnect", { timeoutMs: 15_000 });
    expect(t.said(), "what the server got, in order").toEqual(["confirmed", "after"]);
  });
});
