/**
 * The socket under irc-framework: TCP or TLS, our way.
 *
 * irc-framework's own transport decodes every line with one fixed encoding, so a latin-1 line
 * would become U+FFFD soup, and it offers no certificate pinning. This transport (plugged in with
 * the client's `transport` option) decodes each line as UTF-8 with the server's fallback, checks
 * a pinned certificate fingerprint, and is the last gate before the wire: a line holding CR, LF
 * or NUL, or longer than 512 bytes, is refused here whoever built it.
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
}

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
    if (!this.socket) return;
    this.socket.removeAllListeners();
    this.socket.destroy();
    this.socket = undefined;
    this.connected = false;
  }

  private opened(): void {
    this.connected = true;
    this.emit("open");
  }

  private receive(chunk: Buffer): void {
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
