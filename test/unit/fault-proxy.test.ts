/**
 * The TCP fault proxy (test/support/fault-proxy.ts) against a local echo server: each mode does
 * what fault tests rely on, seen from both ends.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.ts";

/** An echo server that also records what it received and how many connections it saw. */
interface EchoServer {
  port: number;
  received(): string;
  connections: number;
  sockets: Set<Socket>;
  close(): Promise<void>;
}

async function startEcho(): Promise<EchoServer> {
  let received = "";
  const sockets = new Set<Socket>();
  const echo: EchoServer = {
    port: 0,
    received: () => received,
    connections: 0,
    sockets,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((socket) => {
    echo.connections += 1;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    socket.on("data", (chunk) => {
      received += chunk.toString("utf8");
      socket.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("echo server: no port");
  echo.port = address.port;
  return echo;
}

/** A client socket that keeps everything it received and how it ended. */
interface Client {
  socket: Socket;
  text(): string;
  /** Resolves once the client received at least `length` characters. */
  waitForText(length: number, what: string): Promise<string>;
  /** Resolves with the error code the socket ended with ("" for a clean close). */
  closed: Promise<string>;
}

async function connectClient(port: number): Promise<Client> {
  const socket = tcpConnect({ host: "127.0.0.1", port });
  let text = "";
  let errorCode = "";
  const waiters = new Set<() => void>();
  socket.on("data", (chunk: Buffer) => {
    text += chunk.toString("utf8");
    for (const w of [...waiters]) w();
  });
  socket.on("error", (err: NodeJS.ErrnoException) => {
    errorCode = err.code ?? err.message;
  });
  const closed = new Promise<string>((resolve) => socket.on("close", () => resolve(errorCode)));
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return {
    socket,
    text: () => text,
    closed,
    waitForText: (length, what) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (text.length >= length) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(text);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what} (have ${JSON.stringify(text)})`));
        }, 5_000);
        waiters.add(check);
        check();
      }),
  };
}

let echo: EchoServer;
let proxy: FaultProxy;
const clients: Client[] = [];

async function client(): Promise<Client> {
  const c = await connectClient(proxy.port);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  echo = await startEcho();
  proxy = await startFaultProxy({ target: { host: "127.0.0.1", port: echo.port } });
});

afterEach(() => {
  for (const c of clients.splice(0)) c.socket.destroy();
  proxy.pass();
});

afterAll(async () => {
  await proxy?.close();
  await echo?.close();
});

describe("fault proxy", () => {
  it("passes bytes both ways and counts connections and bytes", async () => {
    const before = proxy.stats;
    const c = await client();
    c.socket.write("hello");
    expect(await c.waitForText(5, "the echo")).toBe("hello");
    const after = proxy.stats;
    expect(after.connections - before.connections).toBe(1);
    expect(after.bytesToTarget - before.bytesToTarget).toBe(5);
    expect(after.bytesToClient - before.bytesToClient).toBe(5);
  });

  it("delays each chunk without reordering a direction", async () => {
    const c = await client();
    proxy.delay(50, 200);
    const started = Date.now();
    const parts = Array.from({ length: 30 }, (_, i) => `<${i}>`);
    for (const part of parts) {
      c.socket.write(part);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const all = parts.join("");
    expect(await c.waitForText(all.length, "the delayed echo")).toBe(all);
    // A lower bound only: the data cannot have come back before one delay each way.
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(echo.received().endsWith(all)).toBe(true);
  });

  it("blackholes an open connection both ways and tells neither side", async () => {
    const c = await client();
    c.socket.write("a");
    await c.waitForText(1, "the first echo");
    proxy.blackhole();
    c.socket.write("lost");
    // Prove the drop: after the blackhole lifts, the next bytes arrive and "lost" never did.
    await waitUntil(() => proxy.stats.droppedBytes >= 4, "the proxy to read the blackholed bytes");
    proxy.pass();
    c.socket.write("b");
    expect(await c.waitForText(2, "the echo after the blackhole")).toBe("ab");
    expect(echo.received()).not.toContain("lost");
    expect(c.socket.destroyed).toBe(false);
  });

  it("accepts new connections while blackholed but never reaches the target", async () => {
    proxy.blackhole();
    const seen = echo.connections;
    const c = await client();
    c.socket.write("nobody hears this");
    await waitUntil(() => proxy.stats.droppedBytes >= 17, "the proxy to read the bytes");
    expect(echo.connections).toBe(seen);
    expect(c.text()).toBe("");
  });

  it("holds back a close while blackholed and passes it on when the blackhole lifts", async () => {
    const c = await client();
    c.socket.write("x");
    await c.waitForText(1, "the echo");
    const upstreams = echo.sockets.size;
    proxy.blackhole();
    const active = proxy.stats.active;
    c.socket.destroy();
    await waitUntil(() => proxy.stats.active === active - 1, "the proxy to see the client go");
    // The proxy has handled the close by now; give a forwarded close time to reach the target.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(echo.sockets.size).toBe(upstreams);
    proxy.pass();
    await waitUntil(() => echo.sockets.size === upstreams - 1, "the target to see the close");
  });

  it("resets every open connection", async () => {
    const c = await client();
    c.socket.write("x");
    await c.waitForText(1, "the echo");
    proxy.reset();
    expect(await c.closed).toBe("ECONNRESET");
  });

  it("closes a connection after n bytes in both directions together", async () => {
    const c = await client();
    proxy.closeAfterBytes(15);
    c.socket.write("0123456789");
    // 10 bytes went up, so 5 come back, then both sides are closed.
    expect(await c.closed).toBe("");
    expect(c.text()).toBe("01234");
    expect(echo.received().endsWith("0123456789")).toBe(true);
  });

  it("refuses new connections and leaves open ones alone", async () => {
    const open = await client();
    proxy.refuse();
    const refused = connectClient(proxy.port);
    const outcome = await refused.then(
      async (c) => c.closed,
      (err: NodeJS.ErrnoException) => err.code ?? "error",
    );
    expect(["ECONNRESET", ""]).toContain(outcome);
    open.socket.write("still here");
    expect(await open.waitForText(10, "the echo on the open connection")).toBe("still here");
  });
});

async function waitUntil(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
