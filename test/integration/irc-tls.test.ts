/**
 * IRC over TLS against a real ngIRCd whose certificate comes from a throwaway CA nobody trusts:
 * with verification on, the adapter refuses it and tells the user why; a SHA-256 pin of exactly
 * that certificate lets it in, a wrong pin does not; `tlsVerify: false` lets it in and says so
 * in the logs.
 */
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ircAdapter } from "../../adapters/irc/index.ts";
import type { Adapter, JoinedRoom, SessionStateEvent } from "../../src/adapter/index.ts";
import { harnessSession, MemoryLeases, MemoryState, testFetcher } from "../support/adapter-harness.ts";
import { startTlsNgircd, type TlsIrcServer } from "../support/ircd-tls.ts";

const SERVER = "tls.ngircd.test";
let ircd: TlsIrcServer;
const cleanups: (() => Promise<void>)[] = [];

/** An adapter for the TLS server with `tlsOptions`; its logs go to the returned array. */
function makeAdapter(tlsOptions: Record<string, unknown>): { adapter: Adapter; logs: string[] } {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString("utf8"));
      done();
    },
  });
  const adapter = ircAdapter.create({
    gateway: { domain: "irc.localhost", name: "IRC" },
    settings: ircAdapter.configSchema.parse({
      servers: { [SERVER]: { host: "127.0.0.1", port: ircd.port, tls: true, ...tlsOptions } },
      connections: { minIntervalMs: 0 },
      reconnect: { minMs: 5_000, maxMs: 10_000 },
    }),
    log: pino({ level: "debug" }, sink),
    state: new MemoryState(),
    files: undefined,
    leases: new MemoryLeases(),
    fetcher: testFetcher(),
  });
  cleanups.push(() => adapter.stop());
  return { adapter, logs };
}

/** Opens alice's session and asks to join `#secure`; resolves with the join's outcome. */
async function aliceJoins(adapter: Adapter) {
  const h = harnessSession("alice@localhost");
  const session = await adapter.openSession(h.context);
  cleanups.push(() => session.close("test done"));
  const joined = session.joinRoom!({ room: `#secure%${SERVER}`, nick: "alice" });
  return { h, joined };
}

const isState = (e: { type: string }): e is SessionStateEvent => e.type === "session.state";

beforeAll(async () => {
  ircd = await startTlsNgircd({ serverName: SERVER });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await ircd?.stop();
});

describe("IRC over TLS", () => {
  it("refuses a certificate it cannot verify and tells the user why", async () => {
    const { adapter } = makeAdapter({ tlsVerify: true });
    const { h, joined } = await aliceJoins(adapter);
    joined.catch(() => undefined); // it cannot succeed; the session is closed after the test
    const state = await h.waitForEvent<SessionStateEvent>(
      (e) => isState(e) && e.state === "connecting" && e.reason?.includes("cannot connect") === true,
      "the failed TLS connection reported",
    );
    expect(state.reason).toMatch(/certificate/i);
    expect(h.events.some((e) => isState(e) && e.state === "online")).toBe(false);
  });

  it("connects and joins when the certificate matches the pinned fingerprint", async () => {
    const { adapter } = makeAdapter({ tlsVerify: true, tlsFingerprint: ircd.fingerprint });
    const { h, joined } = await aliceJoins(adapter);
    const room = (await joined) as JoinedRoom;
    expect(room.nick).toBe("alice");
    expect(room.occupants.map((o) => o.nick)).toContain("alice");
    expect(h.events.some((e) => isState(e) && e.state === "online")).toBe(true);
  });

  it("refuses a certificate that does not match the pin", async () => {
    const wrong = ircd.fingerprint.replace(/^../, ircd.fingerprint.startsWith("00") ? "11" : "00");
    const { adapter } = makeAdapter({ tlsVerify: true, tlsFingerprint: wrong });
    const { h, joined } = await aliceJoins(adapter);
    joined.catch(() => undefined);
    const state = await h.waitForEvent<SessionStateEvent>(
      (e) => isState(e) && e.state === "connecting" && e.reason?.includes("cannot connect") === true,
      "the refused pin reported",
    );
    expect(state.reason).toMatch(/does not match the pinned fingerprint/);
    expect(h.events.some((e) => isState(e) && e.state === "online")).toBe(false);
  });

  it("connects to a self-signed server with tlsVerify: false, and the logs say verification is off", async () => {
    const { adapter, logs } = makeAdapter({ tlsVerify: false });
    expect(logs.join("")).toMatch(/verification is off/);
    const { joined } = await aliceJoins(adapter);
    const room = (await joined) as JoinedRoom;
    expect(room.nick).toBe("alice");
  });
});
