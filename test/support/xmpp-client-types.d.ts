/**
 * The small part of @xmpp/client 0.13 (CommonJS, untyped) that the test rig uses. Its elements are
 * the same ltx class as @xmpp/component-core's (one copy of @xmpp/xml, DESIGN.md §8), so the
 * element type is borrowed from types/xmpp.d.ts.
 */
declare module "@xmpp/client" {
  import type { EventEmitter } from "node:events";
  import type { xml as componentXml, Element } from "@xmpp/component-core";

  export type { Element };
  export const xml: typeof componentXml;

  export interface JID {
    local: string;
    domain: string;
    resource: string;
    bare(): JID;
    toString(): string;
  }
  export function jid(address: string): JID;

  export interface ClientOptions {
    /** e.g. `xmpp://127.0.0.1:5222` (plain TCP; STARTTLS only if the server offers it). */
    service: string;
    domain?: string;
    resource?: string;
    username?: string;
    password?: string;
    lang?: string;
    /** Bound in ms on connecting, opening the stream and closing it. */
    timeout?: number;
  }

  export interface Client extends EventEmitter {
    status: string;
    jid: JID | null;
    /** Connects, authenticates, binds; resolves with the bound full JID. */
    start(): Promise<JID>;
    /** Closes the stream and the socket. */
    stop(): Promise<unknown>;
    send(element: Element): Promise<void>;
    reconnect: { stop(): void };
  }

  export function client(options: ClientOptions): Client;
}
