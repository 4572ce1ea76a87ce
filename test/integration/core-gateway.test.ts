/**
 * The core through a real Prosody and Redis, with the in-process test network as the legacy side:
 * what an XMPP user sees from discovery, registration, commands, chats and rooms.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GATEWAY, type Harness, startHarness } from "../support/gateway-harness.ts";
import { NS_DATA, NS_REGISTER, registerWithForm, submittedForm } from "../support/registration-form.ts";
import { IqError, type XmppTestClient, xml } from "../support/xmpp-client.ts";

const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";
const NS_COMMANDS = "http://jabber.org/protocol/commands";
const NS_MUC = "http://jabber.org/protocol/muc";
const NS_MUC_USER = "http://jabber.org/protocol/muc#user";

let h: Harness;
let alice: XmppTestClient;

beforeAll(async () => {
  h = await startHarness();
  alice = await h.login("alice");
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

async function iqError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof IqError) return err.condition;
    throw err;
  }
  throw new Error("expected an iq error, got a result");
}

describe("discovery and basic IQs", () => {
  it("presents the gateway identity and its features", async () => {
    const result = await alice.iq(
      xml("iq", { type: "get", to: GATEWAY }, xml("query", { xmlns: NS_DISCO_INFO })),
    );
    const query = result.getChild("query", NS_DISCO_INFO)!;
    const identity = query.getChildren("identity").find((i) => i.attrs.category === "gateway");
    expect(identity?.attrs.type).toBe("test");
    expect(identity?.attrs.name).toBe("Test network");
    const features = query.getChildren("feature").map((f) => f.attrs.var);
    expect(features).toEqual(
      expect.arrayContaining([
        NS_REGISTER,
        NS_COMMANDS,
        "urn:xmpp:ping",
        "jabber:iq:version",
        "urn:xmpp:time",
        NS_MUC,
        "jabber:iq:gateway",
      ]),
    );
  });

  it("answers ping, version and time", async () => {
    const pong = await alice.iq(
      xml("iq", { type: "get", to: GATEWAY }, xml("ping", { xmlns: "urn:xmpp:ping" })),
    );
    expect(pong.attrs.type).toBe("result");
    const version = await alice.iq(
      xml("iq", { type: "get", to: GATEWAY }, xml("query", { xmlns: "jabber:iq:version" })),
    );
    expect(version.getChild("query")?.getChildText("name")).toBe("Postern");
    expect(version.getChild("query")?.getChildText("version")).toMatch(/^\d+\.\d+\.\d+/);
    const time = await alice.iq(
      xml("iq", { type: "get", to: GATEWAY }, xml("time", { xmlns: "urn:xmpp:time" })),
    );
    const utc = time.getChild("time")?.getChildText("utc") ?? "";
    expect(Math.abs(Date.parse(utc) - Date.now())).toBeLessThan(60_000);
  });

  it("answers an unknown namespace with service-unavailable", async () => {
    expect(
      await iqError(
        alice.iq(xml("iq", { type: "get", to: GATEWAY }, xml("query", { xmlns: "urn:example:nothing" }))),
      ),
    ).toBe("service-unavailable");
  });

  it("translates a legacy id to a JID (XEP-0100 jabber:iq:gateway)", async () => {
    const prompt = await alice.iq(
      xml("iq", { type: "get", to: GATEWAY }, xml("query", { xmlns: "jabber:iq:gateway" })),
    );
    expect(prompt.getChild("query")?.getChildText("prompt")).toBe("Nick");
    const answer = await alice.iq(
      xml(
        "iq",
        { type: "set", to: GATEWAY },
        xml("query", { xmlns: "jabber:iq:gateway" }, xml("prompt", {}, "Carol")),
      ),
    );
    expect(answer.getChild("query")?.getChildText("jid")).toBe(`carol@${GATEWAY}`);
  });
});

describe("registration (XEP-0077)", () => {
  it("offers a data form built from the adapter's fields", async () => {
    const result = await alice.iq(
      xml("iq", { type: "get", to: GATEWAY }, xml("query", { xmlns: NS_REGISTER })),
    );
    const query = result.getChild("query", NS_REGISTER)!;
    expect(query.getChild("registered")).toBeUndefined();
    expect(query.getChildText("instructions")).toContain("nick");
    const fields = query.getChild("x", NS_DATA)!.getChildren("field");
    expect(fields.map((f) => [f.attrs.var, f.attrs.type])).toEqual([
      ["nick", "text-single"],
      ["password", "text-private"],
    ]);
  });

  it("refuses a value the network rejects, then registers, and keeps the secret hidden", async () => {
    expect(await iqError(registerWithForm(alice, GATEWAY, { nick: "alice", password: "wrong" }))).toBe(
      "not-acceptable",
    );
    expect(await iqError(registerWithForm(alice, GATEWAY, { nick: "alice" }))).toBe("not-acceptable");
    await registerWithForm(alice, GATEWAY, { nick: "alice", password: "hunter2" });
    const subscribe = await alice.waitFor(
      (s) => s.name === "presence" && s.attrs.type === "subscribe" && s.attrs.from === GATEWAY,
      "the gateway asking for a subscription",
    );
    expect(subscribe).toBeDefined();
    const again = await alice.iq(
      xml("iq", { type: "get", to: GATEWAY }, xml("query", { xmlns: NS_REGISTER })),
    );
    const query = again.getChild("query", NS_REGISTER)!;
    expect(query.getChild("registered")).toBeDefined();
    const values = Object.fromEntries(
      query
        .getChild("x", NS_DATA)!
        .getChildren("field")
        .map((f) => [f.attrs.var, f.getChildText("value")]),
    );
    expect(values.nick).toBe("alice");
    expect(values.password).toBeNull();
  });

  it("re-registers with a new nick, keeping the password left empty", async () => {
    await registerWithForm(alice, GATEWAY, { nick: "alice2", password: "" });
    const stored = await h.postern.store.registrations.load(GATEWAY, "alice@localhost");
    expect(stored?.values).toEqual({ nick: "alice2", password: "hunter2" });
    await registerWithForm(alice, GATEWAY, { nick: "alice", password: "" });
  });

  it("refuses an identity already bound to another JID with conflict", async () => {
    const mallory = await h.login("mallory");
    expect(await iqError(registerWithForm(mallory, GATEWAY, { nick: "alice", password: "x" }))).toBe(
      "conflict",
    );
  });

  it("stores secrets encrypted", async () => {
    const dump = await h.postern.store.keys; // the key scheme, to find the registration hash
    const key = dump.registration(GATEWAY, "alice@localhost");
    const { Redis } = await import("ioredis");
    const raw = new Redis(h.redis.url);
    const all = JSON.stringify(await raw.hgetall(key));
    await raw.quit();
    expect(all).toContain("alice");
    expect(all).not.toContain("hunter2");
  });

  it("unregisters with <remove/>, leaving no key of that user", async () => {
    const bob = await h.login("bob");
    await registerWithForm(bob, GATEWAY, { nick: "bob", password: "pw" });
    await bob.iq(
      xml("iq", { type: "set", to: GATEWAY }, xml("query", { xmlns: NS_REGISTER }, xml("remove"))),
    );
    const { Redis } = await import("ioredis");
    const raw = new Redis(h.redis.url);
    const keys = await raw.keys("*bob@localhost*");
    await raw.quit();
    expect(keys).toEqual([]);
    expect(
      await iqError(
        bob.iq(
          xml(
            "iq",
            { type: "set", to: GATEWAY },
            xml("command", { xmlns: NS_COMMANDS, node: "status", action: "execute" }),
          ),
        ),
      ),
    ).toBe("registration-required");
  });
});

describe("ad-hoc commands (XEP-0050)", () => {
  it("lists core and adapter commands on the commands node", async () => {
    const items = await alice.iq(
      xml("iq", { type: "get", to: GATEWAY }, xml("query", { xmlns: NS_DISCO_ITEMS, node: NS_COMMANDS })),
    );
    const nodes = items
      .getChild("query")!
      .getChildren("item")
      .map((i) => i.attrs.node);
    expect(nodes).toEqual(expect.arrayContaining(["register", "unregister", "status", "test:greet"]));
  });

  it("runs a multi-step command to completion", async () => {
    const first = await alice.iq(
      xml(
        "iq",
        { type: "set", to: GATEWAY },
        xml("command", { xmlns: NS_COMMANDS, node: "test:greet", action: "execute" }),
      ),
    );
    const cmd1 = first.getChild("command", NS_COMMANDS)!;
    expect(cmd1.attrs.status).toBe("executing");
    const sessionid = cmd1.attrs.sessionid!;
    const second = await alice.iq(
      xml(
        "iq",
        { type: "set", to: GATEWAY },
        xml(
          "command",
          { xmlns: NS_COMMANDS, node: "test:greet", sessionid, action: "next" },
          submittedForm({ name: "Alice" }),
        ),
      ),
    );
    const cmd2 = second.getChild("command", NS_COMMANDS)!;
    expect(cmd2.attrs.status).toBe("executing");
    expect(cmd2.getChild("x", NS_DATA)?.getChildText("title")).toBe("Step 2");
    const third = await alice.iq(
      xml(
        "iq",
        { type: "set", to: GATEWAY },
        xml(
          "command",
          { xmlns: NS_COMMANDS, node: "test:greet", sessionid, action: "complete" },
          submittedForm({ colour: "blue" }),
        ),
      ),
    );
    const cmd3 = third.getChild("command", NS_COMMANDS)!;
    expect(cmd3.attrs.status).toBe("completed");
    expect(cmd3.getChildText("note")).toBe("Hello Alice, you like blue.");
  });

  it("answers an unknown session id with bad-request", async () => {
    expect(
      await iqError(
        alice.iq(
          xml(
            "iq",
            { type: "set", to: GATEWAY },
            xml("command", { xmlns: NS_COMMANDS, node: "test:greet", sessionid: "nope", action: "next" }),
          ),
        ),
      ),
    ).toBe("bad-request");
  });

  it("answers an unknown node with item-not-found and hides admin nodes from others", async () => {
    expect(
      await iqError(
        alice.iq(
          xml(
            "iq",
            { type: "set", to: GATEWAY },
            xml("command", { xmlns: NS_COMMANDS, node: "no-such", action: "execute" }),
          ),
        ),
      ),
    ).toBe("item-not-found");
  });
});

describe("chats and rooms through the test network", () => {
  it("relays a 1:1 chat both ways, addressed to the bare JID", async () => {
    await alice.sendPresence({ to: GATEWAY });
    await h.network.waitForSession("alice@localhost");
    const mark = alice.mark();
    await alice.send(
      xml("message", { to: `carol@${GATEWAY}`, type: "chat", id: "m1" }, xml("body", {}, "hi carol")),
    );
    const [sent] = await h.network.waitForSent(1, "alice's message to reach the network");
    expect(sent?.message.conversation).toEqual({ kind: "direct", id: "carol" });
    expect(sent?.message.text.text).toBe("hi carol");
    await h.network.say("alice@localhost", { kind: "direct", id: "carol" }, "carol", "hello *alice*");
    const msg = await alice.waitFor(
      (s) => s.name === "message" && s.attrs.from === `carol@${GATEWAY}` && s.getChildText("body") !== null,
      "carol's reply",
      { since: mark },
    );
    expect(msg.getChildText("body")).toBe("hello *alice*");
    expect(msg.attrs.type).toBe("chat");
  });

  it("joins a room: occupants, then self-presence with 110, then the subject", async () => {
    h.network.roomMembers.set("#lobby", [
      { nick: "carol", contactId: "carol", role: "moderator", affiliation: "admin" },
      { nick: "dave", contactId: "dave", role: "participant", affiliation: "none" },
    ]);
    h.network.topics.set("#lobby", "Welcome!");
    const room = `#lobby@${GATEWAY}`;
    const mark = alice.mark();
    await alice.sendPresence({ to: `${room}/alice` }, [xml("x", { xmlns: NS_MUC })]);
    const subject = await alice.waitFor(
      (s) => s.name === "message" && s.getChild("subject") !== undefined,
      "the room subject",
      { since: mark },
    );
    expect(subject.getChildText("subject")).toBe("Welcome!");
    const presences = alice.stanzas
      .slice(mark)
      .filter((s) => s.name === "presence" && s.attrs.from?.startsWith(room));
    expect(presences.map((p) => p.attrs.from)).toEqual([`${room}/carol`, `${room}/dave`, `${room}/alice`]);
    const carol = presences[0]!.getChild("x", NS_MUC_USER)!.getChild("item")!;
    expect([carol.attrs.role, carol.attrs.affiliation]).toEqual(["moderator", "admin"]);
    const self = presences[2]!.getChild("x", NS_MUC_USER)!;
    expect(self.getChildren("status").map((s) => s.attrs.code)).toContain("110");
  });

  it("gives a second resource the full join without a second network join", async () => {
    const alice2 = await h.login("alice", "phone");
    const joinsBefore = h.network.joins.filter((j) => j.user === "alice@localhost").length;
    const mark = alice2.mark();
    await alice2.sendPresence({ to: `#lobby@${GATEWAY}/other-nick` }, [xml("x", { xmlns: NS_MUC })]);
    const self = await alice2.waitFor(
      (s) => s.name === "presence" && s.attrs.from === `#lobby@${GATEWAY}/alice`,
      "self-presence with the shared nick",
      { since: mark },
    );
    const codes = self
      .getChild("x", NS_MUC_USER)!
      .getChildren("status")
      .map((s) => s.attrs.code);
    expect(codes).toEqual(expect.arrayContaining(["110", "210"]));
    await alice2.waitFor((s) => s.getChild("subject") !== undefined, "the subject", { since: mark });
    // The network saw the join again only as a snapshot request for the same nick.
    const joins = h.network.joins.filter((j) => j.user === "alice@localhost");
    expect(joins.slice(joinsBefore).every((j) => j.nick === "alice")).toBe(true);

    const m1 = alice.mark();
    const m2 = alice2.mark();
    await alice.send(
      xml("message", { to: `#lobby@${GATEWAY}`, type: "groupchat", id: "g1" }, xml("body", {}, "hello room")),
    );
    const echo1 = await alice.waitFor(
      (s) => s.name === "message" && s.attrs.type === "groupchat" && s.getChildText("body") === "hello room",
      "the reflection on the first resource",
      { since: m1 },
    );
    const echo2 = await alice2.waitFor(
      (s) => s.name === "message" && s.attrs.type === "groupchat" && s.getChildText("body") === "hello room",
      "the reflection on the second resource",
      { since: m2 },
    );
    expect(echo1.attrs.id).toBe("g1");
    expect(echo2.attrs.id).toBe("g1");
    expect(echo1.attrs.from).toBe(`#lobby@${GATEWAY}/alice`);
    await alice2.sendPresence({ to: `#lobby@${GATEWAY}/alice`, type: "unavailable" });
    await alice2.waitFor(
      (s) =>
        s.name === "presence" && s.attrs.type === "unavailable" && s.attrs.from === `#lobby@${GATEWAY}/alice`,
      "own leave",
      { since: m2 },
    );
    await alice2.stop();
  });

  it("relays room messages from the network to the room's occupants", async () => {
    const mark = alice.mark();
    await h.network.say("alice@localhost", { kind: "room", id: "#lobby" }, "carol", "hi all", "net-msg-1");
    const msg = await alice.waitFor(
      (s) => s.name === "message" && s.attrs.from === `#lobby@${GATEWAY}/carol`,
      "carol's room message",
      { since: mark },
    );
    expect(msg.getChildText("body")).toBe("hi all");
    expect(msg.getChild("stanza-id", "urn:xmpp:sid:0")?.attrs.by).toBe(`#lobby@${GATEWAY}`);
  });

  it("keeps the order of 200 messages sent as fast as possible", async () => {
    const before = h.network.sent.length;
    for (let i = 0; i < 200; i++) {
      void alice.send(
        xml("message", { to: `#lobby@${GATEWAY}`, type: "groupchat", id: `o${i}` }, xml("body", {}, `n${i}`)),
      );
    }
    const sent = await h.network.waitForSent(before + 200, "200 room messages");
    expect(sent.slice(before).map((s) => s.message.text.text)).toEqual(
      Array.from({ length: 200 }, (_, i) => `n${i}`),
    );
  });

  it("sets the subject, changes nick, and answers unjoined rooms with not-acceptable", async () => {
    const mark = alice.mark();
    await alice.send(
      xml("message", { to: `#lobby@${GATEWAY}`, type: "groupchat" }, xml("subject", {}, "New topic")),
    );
    const subj = await alice.waitFor((s) => s.getChildText("subject") === "New topic", "the new subject", {
      since: mark,
    });
    expect(subj.attrs.from).toBe(`#lobby@${GATEWAY}/alice`);
    expect(h.network.topics.get("#lobby")).toBe("New topic");

    await alice.sendPresence({ to: `#lobby@${GATEWAY}/alicia` });
    const gone = await alice.waitFor(
      (s) =>
        s.name === "presence" && s.attrs.type === "unavailable" && s.attrs.from === `#lobby@${GATEWAY}/alice`,
      "303 nick change",
      { since: mark },
    );
    const x = gone.getChild("x", NS_MUC_USER)!;
    expect(x.getChildren("status").map((s) => s.attrs.code)).toEqual(expect.arrayContaining(["303", "110"]));
    expect(x.getChild("item")?.attrs.nick).toBe("alicia");
    await alice.waitFor(
      (s) => s.name === "presence" && !s.attrs.type && s.attrs.from === `#lobby@${GATEWAY}/alicia`,
      "presence under the new nick",
      { since: mark },
    );

    const m2 = alice.mark();
    await alice.send(
      xml("message", { to: `#elsewhere@${GATEWAY}`, type: "groupchat", id: "x1" }, xml("body", {}, "hi")),
    );
    const err = await alice.waitFor(
      (s) => s.attrs.id === "x1" && s.attrs.type === "error",
      "an error for a room not joined",
      { since: m2 },
    );
    expect(err.getChild("error")?.getChild("not-acceptable")).toBeDefined();
  });

  it("reports a refused join as an error presence from the room", async () => {
    h.network.closedRooms.set("#vip", "forbidden");
    const mark = alice.mark();
    await alice.sendPresence({ to: `#vip@${GATEWAY}/alice` }, [xml("x", { xmlns: NS_MUC })]);
    const err = await alice.waitFor(
      (s) =>
        s.name === "presence" &&
        s.attrs.type === "error" &&
        s.attrs.from?.startsWith(`#vip@${GATEWAY}`) === true,
      "an error presence",
      { since: mark },
    );
    expect(err.getChild("error")?.getChild("forbidden")).toBeDefined();
  });

  it("refuses a user from a domain outside the allow-list... here: refuses unregistered use with registration-required", async () => {
    const mallory = await h.login("mallory", "r2");
    const mark = mallory.mark();
    await mallory.send(
      xml("message", { to: `carol@${GATEWAY}`, type: "chat", id: "u1" }, xml("body", {}, "hi")),
    );
    const err = await mallory.waitFor(
      (s) => s.attrs.id === "u1" && s.attrs.type === "error",
      "registration-required",
      { since: mark },
    );
    expect(err.getChild("error")?.getChild("registration-required")).toBeDefined();
  });
});

describe("restart recovery from Redis", () => {
  it("after a crash, rejoins the user's rooms and keeps relaying to the same client", async () => {
    const joinsBefore = h.network.joins.length;
    await h.restartPostern({ crash: true });
    await h.network.waitForSession("alice@localhost", 15_000);
    const deadline = Date.now() + 10_000;
    while (
      !h.network.joins.slice(joinsBefore).some((j) => j.user === "alice@localhost" && j.room === "#lobby")
    ) {
      if (Date.now() > deadline) throw new Error("timed out waiting for the rejoin of #lobby");
      await new Promise((r) => setTimeout(r, 50));
    }
    const mark = alice.mark();
    await h.network.say("alice@localhost", { kind: "room", id: "#lobby" }, "carol", "still there?");
    const msg = await alice.waitFor(
      (s) => s.getChildText("body") === "still there?",
      "a room message after the restart",
      { since: mark },
    );
    expect(msg.attrs.from).toBe(`#lobby@${GATEWAY}/carol`);
  });

  it("reconnects the component after Prosody restarts", async () => {
    await h.prosody.restart({ downMs: 500 });
    const gw = h.postern.gateways[0]!;
    const deadline = Date.now() + 20_000;
    while (!gw.online) {
      if (Date.now() > deadline) throw new Error("timed out waiting for the component to reconnect");
      await new Promise((r) => setTimeout(r, 100));
    }
    const again = await h.login("alice", "after-restart");
    const pong = await again.iq(
      xml("iq", { type: "get", to: GATEWAY }, xml("ping", { xmlns: "urn:xmpp:ping" })),
    );
    expect(pong.attrs.type).toBe("result");
  });
});
