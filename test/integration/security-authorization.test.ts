/**
 * S5, Matrix C (RELIABILITY.md): who may drive a puppet. The test plays the XMPP server on the
 * component socket, so it can speak as any JID a server could stamp (another local user, a remote
 * domain, the server itself, another component) and see every stanza the gateway answers with.
 * O is alice@localhost; mallory@localhost is another registered local user; bob@localhost is
 * local but unregistered; eve@evil.example is on a domain outside the allow-list.
 */
import { type Element, xml } from "@xmpp/component-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdapterFactory } from "../../src/adapter/adapter.ts";
import { type FakeServerRig, startFakeServerRig } from "../support/fake-server-rig.ts";
import { TestNetwork, testAdapterFactory } from "../support/test-network.ts";

const GW = "test.localhost";
const NS_REGISTER = "jabber:iq:register";
const NS_COMMANDS = "http://jabber.org/protocol/commands";
const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";
const NS_MUC = "http://jabber.org/protocol/muc";
const ALICE = "alice@localhost";
const MALLORY = "mallory@localhost";
const BOB = "bob@localhost";
const EVE = "eve@evil.example";
const ADMIN = "admin@localhost";

let rig: FakeServerRig;
const network = new TestNetwork();

/** The test adapter plus one admin-only command, so admin gating is visible with it. */
function withAdminCommand(factory: AdapterFactory<unknown>): AdapterFactory<unknown> {
  return {
    ...factory,
    create(context) {
      const adapter = factory.create(context);
      return {
        ...adapter,
        commands: [
          ...(adapter.commands ?? []),
          {
            node: "test:reload",
            name: "Reload (admin)",
            audience: "admin",
            requiresRegistration: false,
            async step() {
              return { kind: "done", note: "reloaded" };
            },
          },
        ],
      };
    },
  };
}

beforeAll(async () => {
  rig = await startFakeServerRig({
    domain: GW,
    network,
    factory: withAdminCommand(testAdapterFactory(network) as AdapterFactory<unknown>),
    users: { allowedDomains: ["localhost"], admins: [ADMIN] },
    sourceName: "authz.yaml",
  });
  for (const [jid, nick] of [
    [ALICE, "alice"],
    [MALLORY, "mallory"],
    [ADMIN, "admin"],
  ] as const) {
    expect(await rig.register(`${jid}/r1`, { nick, password: "pw" })).toBe("result");
    rig.send(xml("presence", { from: `${jid}/r1`, to: GW }));
    await network.waitForSession(jid);
  }
  rig.send(xml("presence", { from: `${ALICE}/r2`, to: GW }));
  // alice (O) is in #room; her puppet there is "alice".
  await joined(`${ALICE}/r1`, "#room", "alice");
}, 60_000);

afterAll(async () => {
  await rig?.stop();
});

function condition(answer: string): string {
  return answer.split("/")[0] ?? "";
}

function command(from: string, node: string, to = GW, extra: Record<string, string> = {}): Promise<string> {
  return rig.outcome(
    rig.send(
      xml(
        "iq",
        { type: "set", from, to },
        xml("command", { xmlns: NS_COMMANDS, node, action: "execute", ...extra }),
      ),
    ),
  );
}

/** Sends a chat message; returns the id (an error reply, if any, carries it). */
function chat(from: string, to: string, body: string): string {
  return rig.send(xml("message", { type: "chat", from, to }, xml("body", {}, body)));
}

/** Joins `room` as `from` and waits for the self-presence (status 110). */
async function joined(from: string, room: string, nick: string): Promise<Element> {
  const mark = rig.peer.elements.length;
  rig.send(xml("presence", { from, to: `${room}@${GW}/${nick}` }, xml("x", { xmlns: NS_MUC })));
  return rig.peer.waitFor(
    (e) =>
      rig.peer.elements.indexOf(e) >= mark &&
      e.name === "presence" &&
      e.attrs.to === from &&
      e
        .getChild("x", `${NS_MUC}#user`)
        ?.getChildren("status")
        .some((s) => s.attrs.code === "110") === true,
    `${from} joining ${room}`,
  );
}

/** Waits until a ping sent after everything above is answered: earlier stanzas were handled. */
async function settled(from = `${ALICE}/r1`): Promise<void> {
  const id = rig.send(xml("iq", { type: "get", from, to: GW }, xml("ping", { xmlns: "urn:xmpp:ping" })));
  await rig.answer(id);
}

describe("the owner O (alice), any resource", () => {
  it("sends as her puppet from either resource", async () => {
    const before = network.sent.length;
    chat(`${ALICE}/r1`, `carol@${GW}`, "from r1");
    chat(`${ALICE}/r2`, `carol@${GW}`, "from r2");
    const sent = (await network.waitForSent(before + 2, "alice's two messages")).slice(before);
    expect(sent.map((s) => [s.user, s.message.text.text])).toEqual([
      [ALICE, "from r1"],
      [ALICE, "from r2"],
    ]);
  });

  it("receives her puppet's direct messages on her bare JID, so every resource gets them", async () => {
    const mark = rig.peer.elements.length;
    await network.say(ALICE, { kind: "direct", id: "carol" }, "carol", "hi alice");
    const msg = await rig.peer.waitFor(
      (e) =>
        rig.peer.elements.indexOf(e) >= mark && e.name === "message" && e.getChildText("body") === "hi alice",
      "carol's message to alice",
    );
    expect(msg.attrs.to).toBe(ALICE);
    expect(msg.attrs.from).toBe(`carol@${GW}`);
  });

  it("changes her puppet's nick in a room", async () => {
    const mark = rig.peer.elements.length;
    rig.send(xml("presence", { from: `${ALICE}/r1`, to: `#room@${GW}/alice2` }));
    await rig.peer.waitFor(
      (e) =>
        rig.peer.elements.indexOf(e) >= mark &&
        e.name === "presence" &&
        e.attrs.from === `#room@${GW}/alice2` &&
        e.attrs.to === `${ALICE}/r1`,
      "alice's new nick",
    );
    rig.send(xml("presence", { from: `${ALICE}/r1`, to: `#room@${GW}/alice` }));
    await settled();
  });

  it("sees her own rooms in disco#items and runs her commands", async () => {
    const items = await rig.answer(
      rig.send(
        xml("iq", { type: "get", from: `${ALICE}/r2`, to: GW }, xml("query", { xmlns: NS_DISCO_ITEMS })),
      ),
    );
    const jids = items
      .getChild("query")
      ?.getChildren("item")
      .map((i) => i.attrs.jid);
    expect(jids).toEqual([`#room@${GW}`]);
    expect(await command(`${ALICE}/r2`, "status")).toBe("result");
  });

  it("modifies her registration", async () => {
    expect(await rig.register(`${ALICE}/r2`, { nick: "alice", password: "pw2" })).toBe("result");
    rig.send(xml("presence", { from: `${ALICE}/r1`, to: GW }));
    await network.waitForSession(ALICE);
    await joined(`${ALICE}/r1`, "#room", "alice");
  });
});

describe("another local user (mallory)", () => {
  it("joining O's room gets her own puppet, never O's", async () => {
    const joinsBefore = network.joins.length;
    const self = await joined(`${MALLORY}/r1`, "#room", "alice");
    const join = network.joins.slice(joinsBefore);
    expect(join.map((j) => j.user)).toEqual([MALLORY]);
    // Each user sees the room through their own puppet: the self-presence is mallory's alone.
    expect(self.attrs.to).toBe(`${MALLORY}/r1`);
  });

  it("writing to a contact goes through her own session", async () => {
    const before = network.sent.length;
    chat(`${MALLORY}/r1`, `carol@${GW}`, "from mallory");
    const [sent] = (await network.waitForSent(before + 1, "mallory's message")).slice(before);
    expect(sent?.user).toBe(MALLORY);
  });

  it("messages in O's room are sent as her own puppet", async () => {
    const before = network.sent.length;
    rig.send(
      xml("message", { type: "groupchat", from: `${MALLORY}/r1`, to: `#room@${GW}` }, xml("body", {}, "m")),
    );
    const [sent] = (await network.waitForSent(before + 1, "mallory's room message")).slice(before);
    expect(sent?.user).toBe(MALLORY);
  });

  it("cannot continue O's ad-hoc command session", async () => {
    const first = await rig.answer(
      rig.send(
        xml(
          "iq",
          { type: "set", from: `${ALICE}/r1`, to: GW },
          xml("command", { xmlns: NS_COMMANDS, node: "test:greet", action: "execute" }),
        ),
      ),
    );
    const sessionid = first.getChild("command")?.attrs.sessionid ?? "";
    expect(sessionid).not.toBe("");
    const answer = await command(`${MALLORY}/r1`, "test:greet", GW, { sessionid });
    // Matrix C says `forbidden`; the code answers bad-request/bad-sessionid, which is defensible:
    // it tells mallory nothing about whether the session exists.
    expect(answer).toBe("bad-request/modify");
  });

  it("does not see O's room in disco#items", async () => {
    await joined(`${ALICE}/r1`, "#alice-only", "alice");
    const items = await rig.answer(
      rig.send(
        xml("iq", { type: "get", from: `${MALLORY}/r1`, to: GW }, xml("query", { xmlns: NS_DISCO_ITEMS })),
      ),
    );
    const jids = items
      .getChild("query")
      ?.getChildren("item")
      .map((i) => i.attrs.jid);
    expect(jids).not.toContain(`#alice-only@${GW}`);
  });

  it("cannot run admin commands", async () => {
    expect(await command(`${MALLORY}/r1`, "test:reload")).toBe("forbidden/auth");
  });

  it("unregistering removes only her own registration", async () => {
    expect(await command(`${MALLORY}/r1`, "unregister")).toBe("result");
    expect(await command(`${ALICE}/r1`, "status")).toBe("result");
    expect(await rig.register(`${MALLORY}/r1`, { nick: "mallory", password: "pw" })).toBe("result");
  });
});

describe("a remote-domain user (eve@evil.example)", () => {
  const from = `${EVE}/r`;

  it("gets not-allowed for sending, joining, nick change and registration", async () => {
    expect(condition(await rig.outcome(chat(from, `carol@${GW}`, "x")))).toBe("not-allowed");
    expect(
      condition(
        await rig.outcome(
          rig.send(xml("message", { type: "groupchat", from, to: `#room@${GW}` }, xml("body", {}, "x"))),
        ),
      ),
    ).toBe("not-allowed");
    expect(
      condition(
        await rig.outcome(
          rig.send(xml("presence", { from, to: `#room@${GW}/eve` }, xml("x", { xmlns: NS_MUC }))),
        ),
      ),
    ).toBe("not-allowed");
    expect(condition(await rig.outcome(rig.send(xml("presence", { from, to: `#room@${GW}/alice` }))))).toBe(
      "not-allowed",
    );
    expect(condition(await rig.register(from, { nick: "eve", password: "pw" }))).toBe("not-allowed");
    expect(
      condition(
        await rig.outcome(
          rig.send(
            xml("iq", { type: "set", from, to: GW }, xml("query", { xmlns: NS_REGISTER }, xml("remove"))),
          ),
        ),
      ),
    ).toBe("not-allowed");
  });

  it("gets not-allowed for commands, user and admin", async () => {
    expect(condition(await command(from, "status"))).toBe("not-allowed");
    expect(condition(await command(from, "test:reload"))).toBe("not-allowed");
  });

  it("sees no binding metadata: disco#items lists nothing", async () => {
    // disco is public (servers disco components); the answer is empty rather than not-allowed.
    const items = await rig.answer(
      rig.send(xml("iq", { type: "get", from, to: GW }, xml("query", { xmlns: NS_DISCO_ITEMS }))),
    );
    expect(items.getChild("query")?.getChildren("item")).toEqual([]);
  });
});

describe("an unregistered local user (bob)", () => {
  const from = `${BOB}/r`;

  it("gets registration-required for sending, joining and commands", async () => {
    expect(condition(await rig.outcome(chat(from, `carol@${GW}`, "x")))).toBe("registration-required");
    expect(
      condition(
        await rig.outcome(
          rig.send(xml("presence", { from, to: `#room@${GW}/bob` }, xml("x", { xmlns: NS_MUC }))),
        ),
      ),
    ).toBe("registration-required");
    expect(condition(await command(from, "status"))).toBe("registration-required");
  });

  it("may register", async () => {
    expect(await rig.register(from, { nick: "bob", password: "pw" })).toBe("result");
    expect(await command(from, "unregister")).toBe("result");
  });
});

describe("a server or another component", () => {
  it.each([["localhost"], ["other.localhost"], ["localhost/res"]])(
    "%s gets forbidden for commands",
    async (from) => {
      expect(await command(from, "status")).toBe("forbidden/auth");
      expect(await command(from, "test:reload")).toBe("forbidden/auth");
    },
  );
});

describe("gateway admin", () => {
  it("runs admin commands", async () => {
    expect(await command(`${ADMIN}/r1`, "test:reload")).toBe("result");
  });

  it("speaks only as their own puppet, never as alice", async () => {
    const before = network.sent.length;
    chat(`${ADMIN}/r1`, `carol@${GW}`, "from admin");
    const [sent] = (await network.waitForSent(before + 1, "the admin's message")).slice(before);
    expect(sent?.user).toBe(ADMIN);
  });
});
