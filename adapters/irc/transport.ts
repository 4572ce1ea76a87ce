/**
 * The socket under irc-framework: TCP or TLS, our way.
 *
 * irc-framework's own transport decodes every line with one fixed encoding, so a latin-1 line
 * would become U+FFFD soup, and it offers no certificate pinning. This transport (plugged in with
 * the client's `transport` option) decodes each line as UTF-8 with the server's fallback, checks
 * a pinned certificate fingerprint, and is the last gate before the wire: a line holding CR, LF
 * or NUL, or longer than 512 bytes, is refused here whoever built it.
 *
 * It also notices a half-open link (RELIABILITY.md R8): a server that went silent without a FIN
 * (a dead NAT entry, a blackholed route) would otherwise keep a "connected" socket for as long
 * as TCP retransmits. After `keepaliveMs` without a byte from the server it sends a PING; after
 * `deadAfterMs` without one it drops the socket, and the connection reconnects as after any loss.
 * irc-framework's own ping timeout is not enough: it is longer (120 s) and closes by writing a
 * QUIT first, which never completes once the send buffer is full.
 */
import { EventEmitter } from "node:events";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { IrcTransport, TransportOptions } from "irc-framework";
import { decodeIrcBytes } from "./protocol/decode.ts";

/** What our transport reads from the client options, besides host and port. */
export interface TransportSettings {
  tls: boolean;
  tlsVerify: boolean;
  /** SHA-256 of the server certificate, hex, colons optional. */
  tlsFingerprint?: string;
  encodingFallback: string;
  /** Called with each refused outgoing line's reason (never the line: it may hold a secret). */
  onRefusedLine?: (reason: string) => void;
  /** PING the server after this long without a byte from it (default {@link KEEPALIVE_MS}). */
  keepaliveMs?: number;
  /** Drop the socket after this long without a byte from the server (default {@link DEAD_AFTER_MS}). */
  deadAfterMs?: number;
}

/** RELIABILITY.md R8: PING after 60 s of silence, give up after 90 s. */
export const KEEPALIVE_MS = 60_000;
export const DEAD_AFTER_MS = 90_000;

/** The key under which TransportSettings travel in irc-framework's client options. */
export const TRANSPORT_SETTINGS = "posternTransport";

const MAX_LINE_BYTES = 512;
/** A peer that sends this much without a line break is broken or hostile. */
const MAX_PENDING_BYTES = 64 * 1024;

/** Why a line may not be written, or undefined when it may. */
export function refuseLine(line: string): string | undefined {
  if (/[\r\n\0]/.test(line)) return "line contains CR, LF or NUL";
  // Tags (`@…`) have their own budget (IRCv3 message-tags); the rest must fit 512 with CRLF.
  const body = line.startsWith("@") ? line.slice(line.indexOf(" ") + 1) : line;
  if (Buffer.byteLength(body, "utf8") + 2 > MAX_LINE_BYTES) return "line longer than 512 bytes";
  return undefined;
}

function normaliseFingerprint(fingerprint: string): string {
  return fingerprint.replace(/:/g, "").toUpperCase();
}

/** irc-framework transport over node:net / node:tls. */
export class PosternTransport extends EventEmitter implements IrcTransport {
  private socket: Socket | undefined;
  private connected = false;
  private pending: Buffer = Buffer.alloc(0);
  private lastError: Error | undefined;
  private readonly settings: TransportSettings;
  /** When the server last sent us a byte, and whether we pinged it since. */
  private lastHeardAt = 0;
  private pinged = false;
  private keepaliveTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: TransportOptions) {
    super();
    this.settings = options[TRANSPORT_SETTINGS] as TransportSettings;
  }

  connect(): void {
    this.disposeSocket();
    this.pending = Buffer.alloc(0);
    this.lastError = undefined;
    const { host, port } = this.options;
    const { tls, tlsVerify, tlsFingerprint } = this.settings;
    let socket: Socket;
    if (tls) {
      const pinned = tlsFingerprint ? normaliseFingerprint(tlsFingerprint) : undefined;
      const tlsSocket = tlsConnect({
        host,
        port,
        servername: /^[\d.:]+$/.test(host) ? undefined : host,
        // Node's own chain and name checks; a pinned certificate is checked below instead.
        rejectUnauthorized: tlsVerify && pinned === undefined,
      });
      // Checked here and not in checkServerIdentity: Node skips that hook when the chain did not
      // verify, which is exactly the self-signed case a pin is for.
      tlsSocket.once("secureConnect", () => {
        const got = normaliseFingerprint(tlsSocket.getPeerCertificate().fingerprint256 ?? "");
        if (pinned !== undefined && got !== pinned) {
          this.lastError = new Error(
            `the certificate of ${host} does not match the pinned fingerprint (it is ${got})`,
          );
          tlsSocket.destroy();
          return;
        }
        this.opened();
      });
      socket = tlsSocket;
    } else {
      socket = netConnect({ host, port });
      socket.once("connect", () => this.opened());
    }
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("error", (error) => {
      this.lastError = error;
    });
    socket.once("close", () => {
      this.connected = false;
      this.stopKeepalive();
      this.emit("close", this.lastError ?? false);
    });
  }

  writeLine(line: string, callback?: () => void): void {
    const refused = refuseLine(line);
    if (refused !== undefined || !this.socket || !this.connected) {
      if (refused !== undefined) this.settings.onRefusedLine?.(refused);
      if (callback) process.nextTick(callback);
      return;
    }
    this.socket.write(`${line}\r\n`, "utf8", callback ? () => callback() : undefined);
  }

  isConnected(): boolean {
    return this.connected;
  }

  /** Ignored: we always send UTF-8 and decode with the configured fallback. */
  setEncoding(_encoding: string): boolean {
    return true;
  }

  close(force?: boolean): void {
    if (!this.socket) return;
    if (force || !this.connected) this.socket.destroy();
    else this.socket.end();
  }

  disposeSocket(): void {
    this.stopKeepalive();
    if (!this.socket) return;
    this.socket.removeAllListeners();
    this.socket.destroy();
    this.socket = undefined;
    this.connected = false;
  }

  private opened(): void {
    this.connected = true;
    this.lastHeardAt = Date.now();
    this.pinged = false;
    this.armKeepalive();
    this.emit("open");
  }

  /**
   * One timer per connection, re-armed when it fires rather than on every line: receiving only
   * records the time, so a busy link costs no timer churn.
   */
  private armKeepalive(): void {
    const keepaliveMs = this.settings.keepaliveMs ?? KEEPALIVE_MS;
    const deadAfterMs = this.settings.deadAfterMs ?? DEAD_AFTER_MS;
    const silentFor = Date.now() - this.lastHeardAt;
    const due = this.pinged ? deadAfterMs : Math.min(keepaliveMs, deadAfterMs);
    this.keepaliveTimer = setTimeout(() => this.checkKeepalive(), Math.max(0, due - silentFor));
    this.keepaliveTimer.unref();
  }

  private checkKeepalive(): void {
    this.keepaliveTimer = undefined;
    const socket = this.socket;
    if (!socket || !this.connected) return;
    const keepaliveMs = this.settings.keepaliveMs ?? KEEPALIVE_MS;
    const deadAfterMs = this.settings.deadAfterMs ?? DEAD_AFTER_MS;
    const silentFor = Date.now() - this.lastHeardAt;
    if (silentFor >= deadAfterMs) {
      this.lastError = new Error(`no answer from the server for ${Math.round(silentFor / 1000)} s`);
      socket.destroy();
      return;
    }
    if (silentFor >= keepaliveMs && !this.pinged) {
      this.pinged = true;
      // Straight to the socket, past the flood limiter: one line per silent minute cannot flood,
      // and a limiter full of the user's lines must not delay the probe.
      socket.write("PING :postern-keepalive\r\n");
    }
    this.armKeepalive();
  }

  private stopKeepalive(): void {
    if (this.keepaliveTimer !== undefined) clearTimeout(this.keepaliveTimer);
    this.keepaliveTimer = undefined;
  }

  private receive(chunk: Buffer): void {
    this.lastHeardAt = Date.now();
    this.pinged = false;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let start = 0;
    for (;;) {
      const newline = this.pending.indexOf(0x0a, start);
      if (newline === -1) break;
      let end = newline;
      if (end > start && this.pending[end - 1] === 0x0d) end -= 1;
      const line = decodeIrcBytes(this.pending.subarray(start, end), this.settings.encodingFallback);
      start = newline + 1;
      if (line !== "") this.emit("line", line);
    }
    this.pending = this.pending.subarray(start);
    if (this.pending.length > MAX_PENDING_BYTES) {
      this.lastError = new Error("server sent a line longer than 64 KiB");
      this.socket?.destroy();
    }
  }
}
