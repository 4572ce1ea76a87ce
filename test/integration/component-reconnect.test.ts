/**
 * The component link against a server that accepts the TCP connection and resets it at once (a
 * restarting server, or a load balancer with nothing behind it): every attempt fails before the
 * stream opens. Found by R7 of RELIABILITY.md: each failed attempt left an unhandled rejection
 * behind (vitest fails the file on one), and retries came sooner than the plan allows.
 */
import { createServer, type Server } from "node:net";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ComponentLink } from "../../src/xmpp/connection.ts";

let server: Server;
let port: number;
const connectTimes: number[] = [];

beforeAll(async () => {
  server = createServer((socket) => {
    connectTimes.push(Date.now());
    socket.resetAndDestroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe("component link against a server that resets every connection", () => {
  it("keeps trying without unhandled rejections, never twice within a second", {
    timeout: 20_000,
  }, async () => {
    const link = new ComponentLink({
      host: "127.0.0.1",
      port,
      domain: "gw.localhost",
      secret: "s",
      maxStanzaBytes: 65_536,
      // Short backoff so the 1 s floor between attempts is what spaces them.
      backoff: { firstMaxMs: 50, maxMs: 100 },
      keepalive: { pingTo: "localhost", idleMs: 30_000, deadMs: 85_000 },
      log: pino({ level: "silent" }),
    });
    link.start();
    const deadline = Date.now() + 15_000;
    while (connectTimes.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await link.stop();
    expect(connectTimes.length).toBeGreaterThanOrEqual(4);
    const gaps = connectTimes.slice(1).map((t, i) => t - connectTimes[i]!);
    // The floor is 1 000 ms from the start of one attempt to the next; allow for timer slack.
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(950);
    expect(link.online).toBe(false);
  });
});
