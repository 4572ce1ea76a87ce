/*
 * Logs in to the XMPP server's component port the way Postern will (XEP-0114: Jabber Component
 * Protocol), then leaves at once. This proves more than an open port: the server knows the
 * component domain and accepts the secret.
 *
 * It speaks just enough of the protocol for this: open a stream, read the stream id, send
 * <handshake>hex(SHA-1(id ‖ secret))</handshake>, wait for an empty <handshake/> or a stream error.
 */
import { createHash } from "node:crypto";
import { connect } from "node:net";
import { describeNetworkError, type ProbeResult } from "./probe.ts";

/** Where and as whom to log in. */
export interface ComponentProbeTarget {
  host: string;
  port: number;
  /** The component domain (already validated: letters, digits, dots, hyphens). */
  domain: string;
  secret: string;
}

/** Performs the XEP-0114 handshake and closes the stream; never throws. */
export function probeComponent(target: ComponentProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host: target.host, port: target.port });
    let received = "";
    let handshakeSent = false;
    let settled = false;
    const finish = (result: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Close politely after a login, but do not wait for the server to close its side.
      if (result.ok) socket.end("</stream:stream>", () => socket.destroy());
      else socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () =>
        finish({ ok: false, detail: `no answer within ${timeoutMs} ms (is this an XMPP component port?)` }),
      timeoutMs,
    );

    socket.setEncoding("utf8");
    socket.on("connect", () => {
      socket.write(
        `<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' ` +
          `xmlns:stream='http://etherx.jabber.org/streams' to='${target.domain}'>`,
      );
    });
    socket.on("data", (chunk: string) => {
      received += chunk;
      const error = streamError(received);
      if (error !== undefined) {
        finish({ ok: false, detail: explainStreamError(error, target.domain) });
        return;
      }
      if (!handshakeSent) {
        const header = /<stream:stream\b[^>]*>/.exec(received);
        if (header === null) return;
        const id = /\sid=(['"])(.*?)\1/.exec(header[0])?.[2];
        if (id === undefined) {
          finish({ ok: false, detail: "the server's stream header has no id" });
          return;
        }
        const digest = createHash("sha1")
          .update(unescapeXml(id) + target.secret)
          .digest("hex");
        socket.write(`<handshake>${digest}</handshake>`);
        handshakeSent = true;
        received = received.slice(header.index + header[0].length);
      }
      if (/<handshake\s*\/>|<handshake\s*>\s*<\/handshake>/.test(received)) {
        finish({ ok: true, detail: `logged in as ${target.domain}` });
      }
    });
    socket.on("error", (error) =>
      finish({ ok: false, detail: describeNetworkError(error, [target.secret]) }),
    );
    socket.on("close", () =>
      finish({ ok: false, detail: "the server closed the connection without an answer" }),
    );
  });
}

/** The condition of a complete `<stream:error>` (e.g. "not-authorized"), or undefined. */
function streamError(text: string): string | undefined {
  const match = /<stream:error\b[^>]*>([\s\S]*?)<\/stream:error>/.exec(text);
  if (match === null) return undefined;
  return /<([a-z-]+)\b/.exec(match[1]!)?.[1] ?? "undefined-condition";
}

function explainStreamError(condition: string, domain: string): string {
  switch (condition) {
    case "not-authorized":
      return "the server rejected the secret (not-authorized): xmpp.secret differs from the server's component secret";
    case "host-unknown":
      return `the server has no component "${domain}" (host-unknown): declare it in the XMPP server's configuration`;
    case "conflict":
      return "another connection is logged in as this component (conflict): is Postern already running?";
    default:
      return `the server refused the stream (${condition})`;
  }
}

function unescapeXml(text: string): string {
  return text
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");
}
