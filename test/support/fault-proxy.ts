/**
 * A TCP fault proxy for tests: sits between Postern and one server (Prosody, Redis, an ircd, the
 * fake Bot API) on a loopback port and misbehaves on demand, like a bad network would. There is
 * no Docker or Toxiproxy on these machines, so this is the chaos layer of RELIABILITY.md.
 *
 * Modes apply at once to every connection, open or new; switch them at any time:
 * - `pass()`               forward everything (the start mode).
 * - `delay(ms, jitterMs)`  hold each chunk ms + [0, jitterMs) before forwarding, never reordering
 *                          a direction (a chunk waits for the one before it).
 * - `blackhole()`          accept and read, but forward and answer nothing, in both directions, and
 *                          pass on no FIN or RST either: a half-open link. Bytes read meanwhile are
 *                          dropped (counted in `stats.droppedBytes`). A connection accepted while
 *                          blackholed never gets an upstream; it stays a dead end.
 * - `closeAfterBytes(n)`   forward n more bytes per connection (both directions together), then
 *                          close both sides.
 * - `refuse()`             close new connections at once (with RST); open ones carry on.
 * `reset()` is an action, not a mode: it destroys every open connection with RST, both sides.
 * `blackholeOpen()` is one too: the connections open now become dead ends (as in `blackhole()`)
 * while new ones follow the mode, e.g. a half-open old session beside a fresh reconnect.
 * A `tap` sees every accepted connection and every chunk read, with its time, whatever the mode.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";

export interface FaultProxyStats {
  /** Connections accepted since the start. */
  connections: number;
  /** Connections open right now. */
  active: number;
  /** Bytes forwarded client → target. */
  bytesToTarget: number;
  /** Bytes forwarded target → client. */
  bytesToClient: number;
  /** Bytes read but not forwarded (blackhole, or past a closeAfterBytes budget). */
  droppedBytes: number;
}

export type FaultMode =
  | { kind: "pass" }
  | { kind: "delay"; ms: number; jitterMs: number }
  | { kind: "blackhole" }
  | { kind: "closeAfterBytes"; bytes: number }
  | { kind: "refuse" };

/** What `tap` sees: a connection accepted, or a chunk read from one side (before any fault applies). */
export type FaultTapEvent =
  | { kind: "connect"; link: number; at: number }
  | { kind: "data"; link: number; direction: "toTarget" | "toClient"; chunk: Buffer; at: number };

export interface FaultProxy {
  readonly host: "127.0.0.1";
  readonly port: number;
  readonly mode: FaultMode;
  readonly stats: Readonly<FaultProxyStats>;
  pass(): void;
  delay(ms: number, jitterMs?: number): void;
  blackhole(): void;
  closeAfterBytes(bytes: number): void;
  refuse(): void;
  reset(): void;
  blackholeOpen(): void;
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

/** One direction of one proxied connection: an ordered queue of chunks with their due times. */
class Pipe {
  private readonly queue: { due: number; chunk: Buffer }[] = [];
  private lastDue = 0;
  private timer: NodeJS.Timeout | null = null;
  /** What to do once the queue is empty: the source sent FIN ("end") or is gone ("destroy"). */
  private finish: "end" | "destroy" | null = null;

  constructor(
    private readonly link: Link,
    private readonly direction: "toTarget" | "toClient",
  ) {}

  push(chunk: Buffer): void {
    const mode = this.link.proxy.mode;
    if (mode.kind === "blackhole" || this.link.deadEnd) {
      this.link.proxy.counters.droppedBytes += chunk.length;
      return;
    }
    const delay = mode.kind === "delay" ? mode.ms + Math.random() * mode.jitterMs : 0;
    // Never earlier than the chunk before it: a delayed direction stays in order.
    const due = Math.max(this.lastDue, Date.now() + delay);
    this.lastDue = due;
    this.queue.push({ due, chunk });
    this.flush();
  }

  /** The source ended (FIN) or went away: pass that on once every queued chunk is out. */
  sourceDone(how: "end" | "destroy"): void {
    if (this.finish !== "destroy") this.finish = how;
    this.flush();
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
  }

  flush(): void {
    if (this.timer) return;
    const blackholed = this.link.proxy.mode.kind === "blackhole" || this.link.deadEnd;
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0]!.due <= now) {
      const { chunk } = this.queue.shift()!;
      if (blackholed) this.link.proxy.counters.droppedBytes += chunk.length;
      else if (!this.link.forward(this.direction, chunk)) return;
    }
    if (this.queue.length > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush();
      }, this.queue[0]!.due - now);
      return;
    }
    // A blackholed link passes on no FIN and no close: the other side must not learn anything.
    if (blackholed || this.finish === null) return;
    if (this.finish === "destroy") this.link.destroy();
    else (this.direction === "toTarget" ? this.link.upstream : this.link.client)?.end();
  }
}

/** One accepted connection and its upstream. */
class Link {
  upstream: Socket | null = null;
  /** Accepted while blackholed: no upstream, ever. */
  deadEnd = false;
  /** Bytes this connection may still forward under closeAfterBytes. */
  budget = Number.POSITIVE_INFINITY;
  private closed = false;
  readonly toTarget = new Pipe(this, "toTarget");
  readonly toClient = new Pipe(this, "toClient");

  constructor(
    readonly proxy: ProxyState,
    readonly client: Socket,
  ) {}

  /** Writes a chunk to its sink within the byte budget; false once the link is closed. */
  forward(direction: "toTarget" | "toClient", chunk: Buffer): boolean {
    const sink = direction === "toTarget" ? this.upstream : this.client;
    if (this.closed || sink === null || sink.destroyed) return false;
    const allowed = chunk.length <= this.budget ? chunk : chunk.subarray(0, this.budget);
    if (allowed.length > 0) sink.write(allowed);
    this.proxy.counters[direction === "toTarget" ? "bytesToTarget" : "bytesToClient"] += allowed.length;
    this.proxy.counters.droppedBytes += chunk.length - allowed.length;
    this.budget -= allowed.length;
    if (this.budget <= 0) {
      this.end();
      return false;
    }
    return true;
  }

  /** The mode changed: a lifted blackhole delivers the closes it held back. */
  modeChanged(): void {
    this.toTarget.flush();
    this.toClient.flush();
  }

  /** Graceful close of both sides (FIN after what is already written). */
  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.toTarget.clear();
    this.toClient.clear();
    this.client.end();
    this.upstream?.end();
    // A peer that keeps its half open must not keep the link alive.
    setTimeout(() => this.destroy(), 1_000).unref();
  }

  destroy(): void {
    this.closed = true;
    this.toTarget.clear();
    this.toClient.clear();
    this.client.destroy();
    this.upstream?.destroy();
    this.proxy.links.delete(this);
  }

  resetBoth(): void {
    this.closed = true;
    this.toTarget.clear();
    this.toClient.clear();
    if (!this.client.destroyed) this.client.resetAndDestroy();
    if (this.upstream && !this.upstream.destroyed) this.upstream.resetAndDestroy();
    this.proxy.links.delete(this);
  }
}

interface ProxyState {
  mode: FaultMode;
  counters: FaultProxyStats;
  links: Set<Link>;
}

/** Starts a proxy on a free loopback port that forwards to `target`. */
export async function startFaultProxy(opts: {
  target: { host: string; port: number };
  tap?: (event: FaultTapEvent) => void;
}): Promise<FaultProxy> {
  const state: ProxyState = {
    mode: { kind: "pass" },
    counters: { connections: 0, active: 0, bytesToTarget: 0, bytesToClient: 0, droppedBytes: 0 },
    links: new Set(),
  };

  const tap = opts.tap;
  const server: Server = createServer((client) => {
    state.counters.connections += 1;
    const id = state.counters.connections;
    tap?.({ kind: "connect", link: id, at: Date.now() });
    state.counters.active += 1;
    client.once("close", () => {
      state.counters.active -= 1;
    });
    client.on("error", () => undefined);
    if (state.mode.kind === "refuse") {
      client.resetAndDestroy();
      return;
    }
    const link = new Link(state, client);
    state.links.add(link);
    if (state.mode.kind === "closeAfterBytes") link.budget = state.mode.bytes;
    client.on("data", (chunk: Buffer) => {
      tap?.({ kind: "data", link: id, direction: "toTarget", chunk, at: Date.now() });
      link.toTarget.push(chunk);
    });
    client.on("end", () => link.toTarget.sourceDone("end"));
    client.on("close", () => link.toTarget.sourceDone("destroy"));
    if (state.mode.kind === "blackhole") {
      link.deadEnd = true;
      return;
    }
    const upstream = tcpConnect({ host: opts.target.host, port: opts.target.port });
    link.upstream = upstream;
    upstream.on("error", () => undefined);
    upstream.on("data", (chunk: Buffer) => {
      tap?.({ kind: "data", link: id, direction: "toClient", chunk, at: Date.now() });
      link.toClient.push(chunk);
    });
    upstream.on("end", () => link.toClient.sourceDone("end"));
    // The target refused or reset us: the client sees a reset, as it would without the proxy.
    upstream.on("close", (hadError) => {
      if (hadError && state.mode.kind !== "blackhole" && !link.deadEnd) link.resetBoth();
      else link.toClient.sourceDone("destroy");
    });
  });
  // A client may still be writing when its connection is refused.
  server.on("error", () => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("fault proxy: no TCP address");

  const setMode = (mode: FaultMode) => {
    state.mode = mode;
    for (const link of [...state.links]) {
      if (mode.kind === "closeAfterBytes") link.budget = mode.bytes;
      else link.budget = Number.POSITIVE_INFINITY;
      link.modeChanged();
    }
  };

  return {
    host: "127.0.0.1",
    port: address.port,
    get mode() {
      return state.mode;
    },
    get stats() {
      return { ...state.counters };
    },
    pass: () => setMode({ kind: "pass" }),
    delay: (ms, jitterMs = 0) => setMode({ kind: "delay", ms, jitterMs }),
    blackhole: () => setMode({ kind: "blackhole" }),
    closeAfterBytes: (bytes) => setMode({ kind: "closeAfterBytes", bytes }),
    refuse: () => setMode({ kind: "refuse" }),
    reset() {
      for (const link of [...state.links]) link.resetBoth();
    },
    blackholeOpen() {
      for (const link of state.links) link.deadEnd = true;
    },
    async close() {
      for (const link of [...state.links]) link.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
