/**
 * R6: a server that K-lines the user. A scripted IRC server (test/support/scripted-ircd.ts)
 * welcomes the client, then closes the link with `ERROR :Closing Link … (K-lined: Banned)`; the
 * adapter must tell the user why and not come back for `bannedMs`, while an ordinary drop is
 * retried. The same through XMPP: irc-gateway-ban.test.ts.
 */
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ircAdapter } from "../../adapters/irc/index.ts";
import type { Adapter, SessionStateEvent } from "../../src/adapter/index.ts";
import { harnessSession, MemoryLeases, MemoryState, testFetcher } from "../support/adapter-harness.ts";
import { type ScriptedIrcd, startScriptedIrcd } from "../support/scripted-ircd.ts";

/** Welcomes each client (001), then closes with `closing` (an ERROR line) or a bare drop. */
function scriptedServer(closing: string | undefined): Promise<ScriptedIrcd> {
  return startScriptedIrcd({
    onRegister(client) {
      client.welcome();
      if (closing !== undefined) client.close(closing);
      else client.drop();
    },
  });
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function adapterFor(port: number): Adapter {
  const adapter = ircAdapter.create({
    gateway: { domain: "irc.localhost", name: "IRC" },
    settings: ircAdapter.configSchema.parse({
      servers: { "fake.test": { host: "127.0.0.1", port } },
      connections: { minIntervalMs: 0 },
      reconnect: { minMs: 20, maxMs: 100, bannedMs: 600_000 },
    }),
    log: pino({ level: "silent" }),
    state: new MemoryState(),
    files: undefined,
    leases: new MemoryLeases(),
    fetcher: testFetcher(),
  });
  cleanups.push(() => adapter.stop());
  return adapter;
}

async function connectAlice(adapter: Adapter) {
  const h = harnessSession("alice@localhost");
  const session = await adapter.openSession(h.context);
  // Any message opens the connection; it fails once the link is closed, which is fine here.
  session
    .sendMessage({
      conversation: { kind: "direct", id: "bob%fake.test" },
      kind: "normal",
      text: { text: "hi", spans: [] },
      clientId: "1",
    })
    .catch(() => undefined);
  return h;
}

describe("K-line / ban", () => {
  it("tells the user and does not reconnect for bannedMs", async () => {
    const server = await scriptedServer("ERROR :Closing Link: 127.0.0.1 (K-lined: Banned)");
    cleanups.push(() => server.close());
    const h = await connectAlice(adapterFor(server.port));
    const state = await h.waitForEvent<SessionStateEvent>(
      (e) => e.type === "session.state" && e.state === "reconnecting",
      "reconnecting after the ban",
    );
    expect(state.reason).toMatch(/banned/i);
    expect(state.reason).toContain("600 s");
    // An ordinary drop is retried within ~20-100 ms (next test); give a ban 20 times that.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(server.connections).toBe(1);
  });

  it("retries an ordinary drop with backoff", async () => {
    const server = await scriptedServer(undefined);
    cleanups.push(() => server.close());
    const h = await connectAlice(adapterFor(server.port));
    await h.waitForEvent(
      (e) => e.type === "session.state" && e.state === "reconnecting",
      "reconnecting after a drop",
    );
    await server.waitForConnection(3);
  });
});
