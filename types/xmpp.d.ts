/**
 * The small part of @xmpp/component-core 0.13 (CommonJS, untyped) that Postern uses. The element
 * class is ltx's, shared with @xmpp/client in tests (one copy of @xmpp/xml: see DESIGN.md §8).
 */
declare module "@xmpp/component-core" {
  import type { EventEmitter } from "node:events";
  import type { Socket } from "node:net";

  export class Element {
    constructor(name: string, attrs?: Record<string, string | number | undefined>);
    name: string;
    attrs: Record<string, string>;
    children: Array<Element | string>;
    parent: Element | null;
    is(name: string, xmlns?: string): boolean;
    getName(): string;
    getNS(): string | undefined;
    getAttr(name: string): string | undefined;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildElements(): Element[];
    getChildText(name: string, xmlns?: string): string | null;
    getText(): string;
    text(): string;
    c(name: string, attrs?: Record<string, string>): Element;
    t(text: string): Element;
    up(): Element;
    append(...nodes: Array<Element | string>): Element;
    remove(el: Element | string, xmlns?: string): Element;
    clone(): Element;
    toString(): string;
  }

  type Child = Element | string | undefined | null | false | Child[];
  interface XmlFactory {
    (name: string, attrs?: Record<string, string | number | undefined> | null, ...children: Child[]): Element;
    Element: typeof Element;
    Parser: new () => EventEmitter & { write(data: string): void };
  }
  export const xml: XmlFactory;

  export class Component extends EventEmitter {
    constructor(options: { service: string; domain: string });
    status: string;
    socket: Socket | null;
    parser: (EventEmitter & { write(data: string): void }) | null;
    options: { service: string; domain: string };
    jid: { toString(): string } | null;
    start(): Promise<void>;
    /** Opens the socket (what `start` does first). */
    connect(service: string): Promise<void>;
    /** Opens the stream on a connected socket (what `start` does next). */
    open(options: { domain: string }): Promise<void>;
    stop(): Promise<void>;
    send(el: Element): Promise<void>;
    write(data: string): Promise<void>;
    authenticate(id: string, password: string): Promise<void>;
    disconnect(timeoutMs?: number): Promise<void>;
    _onData(data: Buffer): void;
    _streamError(condition: string): Promise<unknown>;
  }
}
