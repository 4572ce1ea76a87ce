/**
 * The small part of irc-framework 4.14 (CommonJS, untyped) that the IRC adapter uses.
 *
 * We let irc-framework do registration, CAP negotiation, SASL and keepalive PINGs, and read every
 * other line ourselves from its parsed-message event, so only these members are declared. Facts
 * checked against node_modules/irc-framework/src (client.js, connection.js, networkinfo.js).
 */
declare module "irc-framework" {
  import type { EventEmitter } from "node:events";

  /** One parsed line (irclineparser.js). */
  export interface IrcMessage {
    tags: Record<string, string>;
    prefix: string;
    nick: string;
    ident: string;
    hostname: string;
    command: string;
    params: string[];
  }

  /** What a transport class is constructed with: the client's options. */
  export interface TransportOptions {
    host: string;
    port: number;
    [key: string]: unknown;
  }

  /**
   * The transport contract irc-framework's Connection drives (transports/net.js): it emits
   * `open`, `line` (one decoded line without framing), `close` (error or false), `debug`.
   */
  export interface IrcTransport extends EventEmitter {
    connect(): void;
    writeLine(line: string, callback?: () => void): void;
    isConnected(): boolean;
    setEncoding(encoding: string): boolean;
    close(force?: boolean): void;
    disposeSocket(): void;
  }

  export type IrcTransportClass = new (options: TransportOptions) => IrcTransport;

  export interface ClientOptions {
    host: string;
    port: number;
    nick: string;
    username: string;
    gecos: string;
    password?: string;
    /** Credentials for SASL PLAIN; an empty object disables SASL. */
    account?: { account?: string; password?: string };
    webirc?: { password: string; username: string; hostname: string; address: string };
    /** Falsy: CTCP VERSION is passed on instead of answered by irc-framework. */
    version: string;
    auto_reconnect: boolean;
    enable_chghost: boolean;
    enable_echomessage: boolean;
    ping_interval: number;
    ping_timeout: number;
    transport: IrcTransportClass;
    [key: string]: unknown;
  }

  export interface NetworkInfo {
    options: {
      CASEMAPPING?: string;
      PREFIX?: { symbol: string; mode: string }[];
      CHANTYPES?: string[];
      NICKLEN?: string;
      CHANNELLEN?: string;
      [key: string]: unknown;
    };
    cap: {
      enabled: string[];
      isEnabled(name: string): boolean;
    };
  }

  export class Client extends EventEmitter {
    constructor(options?: Partial<ClientOptions>);
    user: { nick: string; username: string; host: string };
    network: NetworkInfo;
    connected: boolean;
    connection: EventEmitter & { end(data?: string, hadError?: boolean): void };
    connect(options: ClientOptions): void;
    requestCap(cap: string | string[]): void;
    /** Writes one line as is (no flood control, no CR/LF check: we do both before calling it). */
    raw(line: string): void;
    quit(message?: string): void;
  }

  const irc: { Client: typeof Client };
  export default irc;
}
