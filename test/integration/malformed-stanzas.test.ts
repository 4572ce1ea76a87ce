/**
 * Corpus A (RELIABILITY.md): malformed and hostile stanzas, sent by a test that plays the XMPP
 * server on the component socket, so nothing sanitises them first. Each gets the listed answer,
 * and the process keeps serving afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeServerRig, startFakeServerRig } from "../support/fake-server-rig.ts";
import { TestNetwork } from "../support/test-network.ts";

const GW = "test.localhost";
const USER = "alice@localhost/res";
const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

let rig: FakeServerRig;
const network = new TestNetwork();

beforeAll(async () => {
  rig = await startFakeServerRig({
    domain: GW,
    network,
    limits: { maxStanzaBytes: 65536, maxBodyBytes: 1024 },
    sourceName: "corpus.yaml",
  });
}, 60_000);

afterAll(async () => {
  await rig?.stop();
});

async function errorFor(id: string): Promise<string> {
  const el = await rig.peer.waitFor((e) => e.attrs.id === id, `a reply to ${id}`);
  expect(el.attrs.type).toBe("error");
  const condition = el
    .getChild("error")
    ?.getChildElements()
    .find((c) => c.getNS() === STANZAS);
  return condition?.name ?? "none";
}

/** Proves `id` got no answer: a ping sent after it is answered, and nothing for `id` came first. */
async function noReplyTo(id: string): Promise<void> {
  const ping = rig.sendXml(
    `<iq type='get' id='ID' from='${USER}' to='${GW}'><ping xmlns='urn:xmpp:ping'/></iq>`,
  );
  await rig.peer.waitFor((e) => e.attrs.id === ping, "the ping after a dropped stanza");
  expect(rig.peer.elements.some((e) => e.attrs.id === id)).toBe(false);
}

describe("corpus A on the component socket", () => {
  it.each([
    [
      "message with no to",
      `<message id='ID' from='${USER}' type='chat'><body>x</body></message>`,
      "bad-request",
    ],
    [
      "to with two @",
      `<message id='ID' from='${USER}' to='a@@${GW}' type='chat'><body>x</body></message>`,
      "jid-malformed",
    ],
    [
      "to with an empty localpart",
      `<message id='ID' from='${USER}' to='@${GW}' type='chat'><body>x</body></message>`,
      "jid-malformed",
    ],
    [
      "to with a 3 KB localpart",
      `<message id='ID' from='${USER}' to='${"a".repeat(3000)}@${GW}' type='chat'><body>x</body></message>`,
      "jid-malformed",
    ],
    [
      "unregistered user writing to a contact",
      `<message id='ID' from='${USER}' to='carol@${GW}' type='chat'><body>x</body></message>`,
      "registration-required",
    ],
    [
      "user outside the allow-list",
      `<message id='ID' from='eve@evil.net/r' to='carol@${GW}' type='chat'><body>x</body></message>`,
      "not-allowed",
    ],
    [
      "allow-list matched by prefix",
      `<message id='ID' from='eve@localhost.evil.net/r' to='carol@${GW}' type='chat'><body>x</body></message>`,
      "not-allowed",
    ],
    ["iq without id", `<iq type='get' from='${USER}' to='${GW}'><ping xmlns='urn:xmpp:ping'/></iq>`, null],
    ["iq set with no child", `<iq type='set' id='ID' from='${USER}' to='${GW}'/>`, "bad-request"],
    [
      "iq get with two children",
      `<iq type='get' id='ID' from='${USER}' to='${GW}'><ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/></iq>`,
      "bad-request",
    ],
    [
      "iq get in an unknown namespace",
      `<iq type='get' id='ID' from='${USER}' to='${GW}'><q xmlns='urn:nothing'/></iq>`,
      "service-unavailable",
    ],
    [
      "iq with a bogus type",
      `<iq type='bogus' id='ID' from='${USER}' to='${GW}'><ping xmlns='urn:xmpp:ping'/></iq>`,
      "bad-request",
    ],
    [
      "message of an unknown type is handled as normal",
      `<message id='ID' from='${USER}' to='carol@${GW}' type='weird'><body>x</body></message>`,
      "registration-required",
    ],
    [
      "MUC join to a room JID with a space",
      `<presence id='ID' from='${USER}' to='#a\\20b@${GW}/nick'><x xmlns='http://jabber.org/protocol/muc'/></presence>`,
      "jid-malformed",
    ],
    [
      "MUC join to a room JID with a comma",
      `<presence id='ID' from='${USER}' to='#a,b@${GW}/nick'/>`,
      "jid-malformed",
    ],
    [
      "ad-hoc command with an unknown node",
      `<iq type='set' id='ID' from='${USER}' to='${GW}'><command xmlns='http://jabber.org/protocol/commands' node='nope'/></iq>`,
      "item-not-found",
    ],
    [
      "ad-hoc command with an unknown session",
      `<iq type='set' id='ID' from='${USER}' to='${GW}'><command xmlns='http://jabber.org/protocol/commands' node='register' sessionid='zzz' action='next'/></iq>`,
      "bad-request",
    ],
    [
      "ad-hoc command with a bogus action",
      `<iq type='set' id='ID' from='${USER}' to='${GW}'><command xmlns='http://jabber.org/protocol/commands' node='register' action='explode'/></iq>`,
      "bad-request",
    ],
    [
      "admin command from a server JID",
      `<iq type='set' id='ID' from='localhost' to='${GW}'><command xmlns='http://jabber.org/protocol/commands' node='status'/></iq>`,
      "forbidden",
    ],
    [
      "registration form with a missing field",
      `<iq type='set' id='ID' from='${USER}' to='${GW}'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='nick'><value>al</value></field></x></query></iq>`,
      "not-acceptable",
    ],
    [
      "registration with a 10 KB password",
      `<iq type='set' id='ID' from='${USER}' to='${GW}'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='nick'><value>al</value></field><field var='password'><value>${"p".repeat(10_000)}</value></field></x></query></iq>`,
      "bad-request",
    ],
    [
      "registration form of type form instead of submit",
      `<iq type='set' id='ID' from='${USER}' to='${GW}'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='form'/></query></iq>`,
      "bad-request",
    ],
    [
      "disco on a JID that names nothing",
      `<iq type='get' id='ID' from='${USER}' to='UPPER%20CASE@${GW}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
      "jid-malformed",
    ],
    [
      "register on a contact JID",
      `<iq type='get' id='ID' from='${USER}' to='carol@${GW}'><query xmlns='jabber:iq:register'/></iq>`,
      "service-unavailable",
    ],
    [
      "explicit xmlns jabber:client is accepted",
      `<iq xmlns='jabber:client' type='get' id='ID' from='${USER}' to='carol@${GW}'><query xmlns='jabber:iq:register'/></iq>`,
      "service-unavailable",
    ],
  ])("%s", async (_name, raw, expected) => {
    const id = rig.sendXml(raw);
    if (expected === null) await noReplyTo(id);
    else expect(await errorFor(id)).toBe(expected);
  });

  it.each([
    [
      "to in a foreign domain",
      `<message id='ID' from='${USER}' to='x@other.example' type='chat'><body>x</body></message>`,
    ],
    ["no from", `<message id='ID' to='carol@${GW}' type='chat'><body>x</body></message>`],
    ["malformed from", `<message id='ID' from='a@@b' to='carol@${GW}' type='chat'><body>x</body></message>`],
    ["iq result with an unknown id", `<iq type='result' id='ID' from='${USER}' to='${GW}'/>`],
    [
      "message of type error (loop guard)",
      `<message id='ID' type='error' from='${USER}' to='carol@${GW}'><error type='cancel'><item-not-found xmlns='${STANZAS}'/></error></message>`,
    ],
    ["presence of an unknown type", `<presence id='ID' type='weird' from='${USER}' to='${GW}'/>`],
    [
      "a comment and a processing instruction",
      `<!-- hi --><?pi x?><message id='ID' to='x@other.example' from='${USER}'/>`,
    ],
  ])("drops %s without an answer", async (_name, raw) => {
    const id = rig.sendXml(raw);
    await noReplyTo(id);
  });

  it("refuses a body over the limit with not-acceptable and sends nothing to the network", async () => {
    expect(await rig.register(USER, { nick: "alice", password: "pw" })).toBe("result");
    const before = network.sent.length;
    const id = rig.sendXml(
      `<message id='ID' from='${USER}' to='carol@${GW}' type='chat'><body>${"x".repeat(2000)}</body></message>`,
    );
    expect(await errorFor(id)).toBe("not-acceptable");
    expect(network.sent.length).toBe(before);
  });

  it("chooses one body among many", async () => {
    const before = network.sent.length;
    const bodies = Array.from({ length: 500 }, (_, i) => `<body xml:lang='l${i}'>b${i}</body>`).join("");
    rig.sendXml(
      `<message id='ID' from='${USER}' to='carol@${GW}' type='chat'><body>first</body>${bodies}</message>`,
    );
    const sent = await network.waitForSent(before + 1, "the message with 501 bodies");
    expect(sent[before]?.message.text.text).toBe("first");
  });

  it("delivers a multi-byte character split across TCP writes byte-exact", async () => {
    const before = network.sent.length;
    const bytes = Buffer.from(
      `<message id='split' from='${USER}' to='carol@${GW}' type='chat'><body>héllo 🎉 мир</body></message>`,
      "utf8",
    );
    for (const b of bytes) rig.peer.sendRaw(Buffer.from([b]));
    const sent = await network.waitForSent(before + 1, "the byte-by-byte message");
    expect(sent[before]?.message.text.text).toBe("héllo 🎉 мир");
  });

  it.each([
    [
      "an undefined entity",
      "<message id='e1' from='x@localhost/r' to='carol@test.localhost'><body>&foo;</body></message>",
    ],
    [
      "a NUL character reference",
      "<message id='e2' from='x@localhost/r' to='carol@test.localhost'><body>&#0;</body></message>",
    ],
    ["invalid UTF-8", Buffer.from([0x3c, 0x6d, 0xc3, 0x28, 0x3e])],
    [
      "a DOCTYPE with nested entity declarations (never expanded)",
      `<message from='${USER}' to='carol@${GW}'><!DOCTYPE x [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;'>]><body>&b;</body></message>`,
    ],
    [
      "a stanza over the size limit",
      `<message id='big' from='${USER}' to='carol@${GW}'><body>${"y".repeat(70_000)}</body></message>`,
    ],
    ["mismatched tags", "<message><body></message>"],
  ])("closes the stream on %s, reconnects, and keeps serving", async (_name, raw) => {
    rig.peer.sendRaw(raw);
    await rig.peer.closed;
    await rig.reconnected(30_000);
    const id = rig.sendXml(
      `<iq type='get' id='ID' from='${USER}' to='${GW}'><ping xmlns='urn:xmpp:ping'/></iq>`,
    );
    const pong = await rig.peer.waitFor((e) => e.attrs.id === id, "a ping answer on the new stream");
    expect(pong.attrs.type).toBe("result");
  });
});
