/**
 * Proves the real-server test rig: Prosody with a component port, ngIRCd without flood limits,
 * InspIRCd with IRCv3, and the raw test clients on top of them. If these fail, every other
 * integration test would fail for reasons that have nothing to do with Postern.
 */
import { createHash } from "node:crypto";
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectIrc, type ParsedLine, type RawIrcClient } from "../support/irc-client.ts";
import { type IrcServer, startInspircd, startNgircd } from "../support/ircd.ts";
import { type ProsodyServer, startProsody } from "../support/prosody.ts";
import { connectXmpp, type Element, IqError, type XmppTestClient, xml } from "../support/xmpp-client.ts";

const COMPONENT = { domain: "irc.localhost", secret: "rig-component-secret" };

/** A bare XEP-0114 component session on a raw socket, to check the component port without our own code. */
interface RawComponent {
  /** "accepted" after `<handshake/>`, otherwise the stream error condition the server sent. */
  outcome: string;
  stanzas: Element[];
  socket: Socket;
}

/** XEP-0114: open a `jabber:component:accept` stream, answer with SHA-1(stream id + secret). */
function componentHandshake(port: number, domain: string, secret: string): Promise<RawComponent> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    const parser = new xml.Parser();
    const stanzas: Element[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`timed out waiting for the component handshake answer for ${domain}`));
    }, 10_000);
    const settle = (outcome: string) => {
      clearTimeout(timer);
      resolve({ outcome, stanzas, socket });
    };
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("data", (chunk: Buffer) => parser.write(chunk.toString("utf8")));
    parser.on("start", (header: Element) => {
      const digest = createHash("sha1").update(`${header.attrs.id}${secret}`).digest("hex");
      socket.write(`<handshake>${digest}</handshake>`);
    });
    parser.on("element", (element: Element) => {
      if (element.name === "handshake") settle("accepted");
      else if (element.name === "stream:error")
        settle(element.getChildElements()[0]?.name ?? "unknown stream error");
      else stanzas.push(element);
    });
    socket.write(
      `<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='${domain}'>`,
    );
  });
}

/** Waits (bounded) until a raw component has received a stanza that matches. */
async function componentReceives(component: RawComponent, match: (el: Element) => boolean, what: string) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const found = component.stanzas.find(match);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`component did not receive ${what}; got:\n${component.stanzas.map(String).join("\n")}`);
}

const bodyOf = (el: Element) => el.getChildText("body");

describe("Prosody rig", () => {
  let prosody: ProsodyServer;
  const clients: XmppTestClient[] = [];
  const login = async (username: string, password = `${username}-pw`) => {
    const c = await connectXmpp({ port: prosody.c2sPort, domain: prosody.domain, username, password });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    prosody = await startProsody({
      components: [COMPONENT],
      users: [
        { username: "alice", password: "alice-pw" },
        { username: "bob", password: "bob-pw" },
      ],
    });
  });

  afterAll(async () => {
    for (const c of clients) await c.stop();
    await prosody?.stop();
  });

  it("accepts a component with the right secret and routes users' stanzas to it", async () => {
    const component = await componentHandshake(prosody.componentPort, COMPONENT.domain, COMPONENT.secret);
    try {
      expect(component.outcome).toBe("accepted");
      const alice = await login("alice");
      await alice.send(
        xml(
          "message",
          { to: `#chan%irc.example@${COMPONENT.domain}`, type: "chat" },
          xml("body", {}, "to the gateway"),
        ),
      );
      const received = await componentReceives(
        component,
        (el) => bodyOf(el) === "to the gateway",
        "alice's message",
      );
      expect(received.attrs.from).toBe(alice.jid);
    } finally {
      component.socket.destroy();
    }
  });

  it("refuses a component with a wrong secret", async () => {
    const component = await componentHandshake(prosody.componentPort, COMPONENT.domain, "not-the-secret");
    component.socket.destroy();
    expect(component.outcome).toBe("not-authorized");
  });

  it("lets two users exchange a message", async () => {
    const alice = await login("alice");
    const bob = await login("bob");
    await alice.send(xml("message", { to: bob.jid, type: "chat", id: "m1" }, xml("body", {}, "hello bob")));
    const message = await bob.waitFor(
      (s) => s.name === "message" && bodyOf(s) === "hello bob",
      "alice's message to bob",
    );
    expect(message.attrs.from).toBe(alice.jid);
  });

  it("answers iqs and reports iq errors with their condition", async () => {
    const alice = await login("alice");
    const roster = await alice.iq(xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })));
    expect(roster.getChild("query", "jabber:iq:roster")).toBeDefined();
    const failure = alice.iq(
      xml("iq", { type: "get", to: prosody.domain }, xml("query", { xmlns: "urn:example:nothing" })),
    );
    await expect(failure).rejects.toBeInstanceOf(IqError);
    await expect(failure).rejects.toMatchObject({ condition: "service-unavailable" });
  });

  it("leaves iqs to the test: a user's iq is answered only by what the test sends", async () => {
    const alice = await login("alice");
    const bob = await login("bob");
    const since = alice.mark();
    const asked = bob.iq(
      xml("iq", { type: "get", to: alice.jid }, xml("query", { xmlns: "jabber:iq:version" })),
    );
    asked.catch(() => {}); // awaited below; an early error reply must not count as unhandled
    const request = await alice.waitFor((s) => s.name === "iq" && s.attrs.from === bob.jid, "bob's query", {
      since,
    });
    await alice.send(
      xml(
        "iq",
        { type: "result", to: bob.jid, id: request.attrs.id },
        xml("query", { xmlns: "jabber:iq:version" }, xml("name", {}, "rig")),
      ),
    );
    // A server round trip lets any automatic reply alice's library might make go out first;
    // alice -> bob order is kept, so bob has seen every reply by the time the marker arrives.
    await alice.iq(xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })));
    await alice.send(xml("message", { to: bob.jid, type: "chat" }, xml("body", {}, "marker")));
    await bob.waitFor((s) => bodyOf(s) === "marker", "alice's marker message");

    const replies = bob.stanzas.filter((s) => s.name === "iq" && s.attrs.id === request.attrs.id);
    expect(replies.map((r) => r.attrs.type)).toEqual(["result"]);
    expect((await asked).getChild("query", "jabber:iq:version")?.getChildText("name")).toBe("rig");
  });

  it("creates users while running, and keeps them across a restart on the same ports", async () => {
    await prosody.createUser("carol", "carol-pw");
    const carol = await login("carol");
    expect(carol.bare).toBe(`carol@${prosody.domain}`);

    const ports = [prosody.c2sPort, prosody.componentPort];
    await prosody.restart({ downMs: 100 });
    await carol.untilClosed();
    expect([prosody.c2sPort, prosody.componentPort]).toEqual(ports);

    const again = await login("carol");
    const bob = await login("bob");
    await again.send(xml("message", { to: bob.jid, type: "chat" }, xml("body", {}, "after restart")));
    await bob.waitFor((s) => bodyOf(s) === "after restart", "carol's message after the restart");
    const component = await componentHandshake(prosody.componentPort, COMPONENT.domain, COMPONENT.secret);
    component.socket.destroy();
    expect(component.outcome).toBe("accepted");
  });
});

describe("Prosody with in-band registration", () => {
  it("offers XEP-0077 registration in its stream features only when asked to", async () => {
    const open = await startProsody({ components: [], allowRegistration: true });
    const closed = await startProsody({ components: [] });
    try {
      expect((await c2sStreamFeatures(open.c2sPort, open.domain)).getChild("register")).toBeDefined();
      expect((await c2sStreamFeatures(closed.c2sPort, closed.domain)).getChild("register")).toBeUndefined();
    } finally {
      await open.stop();
      await closed.stop();
    }
  });
});

/** Opens a client stream on a raw socket and returns the server's first `<stream:features>`. */
function c2sStreamFeatures(port: number, domain: string): Promise<Element> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    const parser = new xml.Parser();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`timed out waiting for stream features on port ${port}`));
    }, 10_000);
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => parser.write(chunk.toString("utf8")));
    parser.on("element", (element: Element) => {
      if (element.name !== "stream:features") return;
      clearTimeout(timer);
      socket.destroy();
      resolve(element);
    });
    socket.write(
      `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${domain}' version='1.0'>`,
    );
  });
}

describe("ngIRCd rig", () => {
  let ircd: IrcServer;
  const clients: RawIrcClient[] = [];
  const connectAs = async (nick: string) => {
    const c = await connectIrc({ port: ircd.port, nick });
    clients.push(c);
    return c;
  };
  const privmsgFrom = (nick: string) => (l: ParsedLine) => l.command === "PRIVMSG" && l.nick === nick;

  beforeAll(async () => {
    ircd = await startNgircd();
  });

  afterAll(async () => {
    for (const c of clients) await c.close();
    await ircd?.stop();
  });

  it("lets two clients with long nicks join a channel and see each other's messages", async () => {
    const alice = await connectAs("alice_has_a_long_nickname");
    const bob = await connectAs("bob");
    expect(alice.nick).toBe("alice_has_a_long_nickname");
    await alice.join("#rig");
    await bob.join("#rig");
    alice.privmsg("#rig", "hi bob");
    bob.privmsg("#rig", "hi alice");
    const atBob = await bob.waitFor(privmsgFrom(alice.nick), "alice's PRIVMSG");
    const atAlice = await alice.waitFor(privmsgFrom("bob"), "bob's PRIVMSG");
    expect(atBob.params).toEqual(["#rig", "hi bob"]);
    expect(atAlice.params).toEqual(["#rig", "hi alice"]);
  });

  it("delivers 50 lines sent at once, all of them, in order (flood limit lifted)", async () => {
    const sender = await connectAs("flooder");
    const receiver = await connectAs("reader");
    await sender.join("#flood");
    await receiver.join("#flood");
    const sent = Array.from({ length: 50 }, (_, i) => `line ${i}`);
    for (const text of sent) sender.privmsg("#flood", text);
    const got = await receiver.waitForAll(privmsgFrom("flooder"), 50, "50 PRIVMSGs from flooder");
    expect(got.map((l) => l.params[1])).toEqual(sent);
  });

  it("passes non-UTF-8 bytes through unchanged", async () => {
    const sender = await connectAs("latin1");
    const receiver = await connectAs("reader2");
    const text = Buffer.from("caf\xe9 cr\xe8me", "latin1");
    sender.sendBytes(Buffer.concat([Buffer.from("PRIVMSG reader2 :"), text]));
    const line = await receiver.waitFor(privmsgFrom("latin1"), "latin-1 PRIVMSG");
    expect(line.bytes.subarray(line.bytes.length - text.length)).toEqual(text);
  });

  it("restarts on the same port, dropping its clients", async () => {
    const before = await connectAs("before_restart");
    const port = ircd.port;
    await ircd.restart({ downMs: 100 });
    await before.untilClosed();
    expect(ircd.port).toBe(port);
    const after = await connectAs("after_restart");
    expect(after.nick).toBe("after_restart");
  });
});

describe("InspIRCd rig", () => {
  let ircd: IrcServer;
  const clients: RawIrcClient[] = [];

  beforeAll(async () => {
    ircd = await startInspircd();
  });

  afterAll(async () => {
    for (const c of clients) await c.close();
    await ircd?.stop();
  });

  it("offers the IRCv3 capabilities Postern uses", async () => {
    const probe = await connectIrc({ port: ircd.port, nick: "probe" });
    clients.push(probe);
    const since = probe.mark();
    probe.send("CAP LS 302");
    // CAP LS 302 may span several lines; all but the last carry "*" before the list.
    const last = await probe.waitFor(
      (l) => l.command === "CAP" && l.params[1] === "LS" && l.params[2] !== "*",
      "end of CAP LS",
      { since },
    );
    const lsLines = probe.lines
      .slice(since, probe.lines.indexOf(last) + 1)
      .filter((l) => l.command === "CAP");
    const offered = lsLines
      .flatMap((l) => (l.params.at(-1) ?? "").split(" "))
      .map((cap) => cap.split("=")[0]);
    expect(offered).toEqual(
      expect.arrayContaining(["server-time", "echo-message", "message-tags", "multi-prefix", "away-notify"]),
    );
  });

  it("tags messages with server-time and msgid, and echoes them to the sender", async () => {
    const caps = ["server-time", "message-tags", "echo-message"];
    const alice = await connectIrc({ port: ircd.port, nick: "alice", caps });
    const bob = await connectIrc({ port: ircd.port, nick: "bob", caps });
    clients.push(alice, bob);
    await alice.join("#v3");
    await bob.join("#v3");
    alice.privmsg("#v3", "tagged");
    const atBob = await bob.waitFor(
      (l) => l.command === "PRIVMSG" && l.nick === "alice",
      "alice's PRIVMSG at bob",
    );
    const echo = await alice.waitFor(
      (l) => l.command === "PRIVMSG" && l.nick === "alice",
      "echo of alice's PRIVMSG",
    );
    expect(atBob.tags.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(atBob.tags.msgid).toBeTruthy();
    expect(echo.tags.msgid).toBe(atBob.tags.msgid);
  });
});
