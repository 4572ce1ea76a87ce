/**
 * Plays the XMPP server on the component port (XEP-0114, server side), so a test can send the
 * gateway stanzas no real server would pass on (malformed JIDs, invalid UTF-8, oversized
 * stanzas) and see exactly what comes back.
 */
import { createHash, randomUUID } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { type Element, xml } from "@xmpp/component-core";

export interface ComponentPeer {
  /** Elements the component sent after the handshake, in order. */
  readonly elements: Element[];
  sendRaw(data: string | Buffer): void;
  waitFor(match: (el: Element) => boolean, what: string, timeoutMs?: number): Promise<Element>;
  /** Resolves once the component closed this connection. */
  closed: Promise<void>;
  readonly isClosed: boolean;
}

export interface FakeXmppServer {
  port: number;
  /** Resolves with the next component that completes the handshake. */
  nextComponent(timeoutMs?: number): Promise<ComponentPeer>;
  close(): Promise<void>;
}

export async function startFakeXmppServer(opts: { domain: string; secret: string }): Promise<FakeXmppServer> {
  const waiting: ((peer: ComponentPeer) => void)[] = [];
  const ready: ComponentPeer[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    const streamId = randomUUID();
    const parser = new xml.Parser();
    const elements: Element[] = [];
    const listeners = new Set<() => void>();
    let authed = false;
    let isClosed = false;
    const closed = new Promise<void>((resolve) =>
      socket.on("close", () => {
        isClosed = true;
        resolve();
        for (const l of listeners) l();
      }),
    );
    const peer: ComponentPeer = {
      elements,
      sendRaw: (data) => {
        if (!socket.destroyed) socket.write(data);
      },
      closed,
      get isClosed() {
        return isClosed;
      },
      waitFor(match, what, timeoutMs = 10_000) {
        return new Promise((resolve, reject) => {
          const check = () => {
            const found = elements.find(match);
            if (found) {
              listeners.delete(check);
              clearTimeout(timer);
              resolve(found);
            } else if (isClosed) {
              listeners.delete(check);
              clearTimeout(timer);
              reject(new Error(`connection closed while waiting for ${what}`));
            }
          };
          const timer = setTimeout(() => {
            listeners.delete(check);
            reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
          }, timeoutMs);
          listeners.add(check);
          check();
        });
      },
    };
    parser.on("start", () => {
      socket.write(
        `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='${opts.domain}' id='${streamId}'>`,
      );
    });
    parser.on("element", (el: Element) => {
      if (!authed) {
        const expected = createHash("sha1")
          .update(streamId + opts.secret)
          .digest("hex");
        if (el.name === "handshake" && el.getText() === expected) {
          authed = true;
          socket.write("<handshake/>");
          const resolve = waiting.shift();
          if (resolve) resolve(peer);
          else ready.push(peer);
        } else {
          socket.end(
            "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>",
          );
        }
        return;
      }
      elements.push(el);
      // As a real server does, answer the component's XEP-0199 pings to the server itself: the
      // gateway keeps what it sent until a ping written after it comes back (src/core/xmpp-outbox.ts).
      if (
        el.name === "iq" &&
        el.attrs.type === "get" &&
        el.getChild("ping", "urn:xmpp:ping") &&
        el.attrs.to !== undefined &&
        !el.attrs.to.includes("@") &&
        el.attrs.to !== opts.domain &&
        !el.attrs.to.endsWith(`.${opts.domain}`)
      ) {
        socket.write(
          xml("iq", { type: "result", id: el.attrs.id, from: el.attrs.to, to: el.attrs.from }).toString(),
        );
      }
      for (const l of [...listeners]) l();
    });
    // The component closes its stream after a stream error: close ours too, as a server does,
    // so it need not wait for its close timeout.
    parser.on("end", () => socket.end("</stream:stream>"));
    parser.on("error", () => socket.destroy());
    socket.on("data", (data) => parser.write(data.toString("utf8")));
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("fake XMPP server has no port");
  return {
    port: address.port,
    nextComponent(timeoutMs = 15_000) {
      const peer = ready.shift();
      if (peer) return Promise.resolve(peer);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error("timed out waiting for the component to connect")),
          timeoutMs,
        );
        waiting.push((p) => {
          clearTimeout(timer);
          resolve(p);
        });
      });
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
