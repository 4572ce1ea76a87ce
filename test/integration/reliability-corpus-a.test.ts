/**
 * Corpus A (RELIABILITY.md, S1), the parser-limit rows: a test plays the XMPP server on the
 * component socket and sends what no real server would pass on (rows 20, 21, 28, 29, 32). Each
 * structural violation ends in the named stream error, the link reconnects, and the gateway keeps
 * serving; the size cap is set well above these inputs, so the limits themselves are what answer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_ATTRIBUTES, MAX_ELEMENT_DEPTH } from "../../src/xmpp/connection.ts";
import { type FakeServerRig, startFakeServerRig } from "../support/fake-server-rig.ts";
import { TestNetwork } from "../support/test-network.ts";

const GW = "test.localhost";
const USER = "alice@localhost/res";
const STREAMS = "urn:ietf:params:xml:ns:xmpp-streams";
/** Far above every input below, so that no answer here comes from the byte cap. */
const MAX_STANZA_BYTES = 1_048_576;

let rig: FakeServerRig;
const network = new TestNetwork();

beforeAll(async () => {
  rig = await startFakeServerRig({
    domain: GW,
    network,
    limits: { maxStanzaBytes: MAX_STANZA_BYTES, maxBodyBytes: 1024 },
    sourceName: "corpus-a.yaml",
  });
  expect(await rig.register(USER, { nick: "alice", password: "pw" })).toBe("result");
}, 60_000);

afterAll(async () => {
  await rig?.stop();
});

/** A chat message from the registered user to a contact, with `inner` as its content. */
function chat(inner: string, attrs = ""): string {
  return `<message id='ID' from='${USER}' to='carol@${GW}' type='chat'${attrs}>${inner}</message>`;
}

/** Sends `raw`, expects the gateway to close the stream with `condition`, then a working new stream. */
async function expectStreamError(raw: string, condition: string): Promise<void> {
  const closing = rig.peer;
  closing.sendRaw(raw);
  await closing.closed;
  const error = closing.elements.find((e) => e.name === "stream:error");
  expect(error?.getChildElements().map((c) => `${c.name} ${c.getNS()}`)).toEqual([`${condition} ${STREAMS}`]);
  await rig.reconnected(30_000);
  const id = rig.sendXml(
    `<iq type='get' id='ID' from='${USER}' to='${GW}'><ping xmlns='urn:xmpp:ping'/></iq>`,
  );
  const pong = await rig.peer.waitFor((e) => e.attrs.id === id, "a ping answer on the new stream");
  expect(pong.attrs.type).toBe("result");
}

/** Sends a message and returns the text the network received for it. */
async function delivered(raw: string, what: string): Promise<string> {
  const before = network.sent.length;
  rig.sendXml(raw);
  const sent = await network.waitForSent(before + 1, what);
  return sent[before]!.message.text.text;
}

function nested(depth: number, leaf: string): string {
  return "<x xmlns='urn:example:deep'>".repeat(depth) + leaf + "</x>".repeat(depth);
}

function attributes(count: number): string {
  return Array.from({ length: count }, (_, i) => ` a${i}='v'`).join("");
}

describe("parser limits on the component link", () => {
  it(`accepts a stanza exactly ${MAX_ELEMENT_DEPTH} levels deep`, async () => {
    // message (1) > x … x (levels 2 … MAX-1) > leaf (MAX)
    const raw = chat(`<body>deep enough</body>${nested(MAX_ELEMENT_DEPTH - 2, "<leaf/>")}`);
    expect(await delivered(raw, "the message at the depth limit")).toBe("deep enough");
  });

  it("closes the stream with policy-violation one level deeper", async () => {
    await expectStreamError(
      chat(`<body>x</body>${nested(MAX_ELEMENT_DEPTH - 1, "<leaf/>")}`),
      "policy-violation",
    );
  });

  it(`accepts ${MAX_ATTRIBUTES} attributes on one element`, async () => {
    // No xmlns here: a namespace declaration is an attribute too, and would count.
    const raw = chat(`<body>many attributes</body><x${attributes(MAX_ATTRIBUTES)}/>`);
    expect(await delivered(raw, "the message at the attribute limit")).toBe("many attributes");
  });

  it("closes the stream with policy-violation for one attribute more", async () => {
    await expectStreamError(chat(`<body>x</body><x${attributes(MAX_ATTRIBUTES + 1)}/>`), "policy-violation");
  });

  it("survives depth 10 000 and 10 000 attributes with bounded memory", async () => {
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    await expectStreamError(chat(`<body>x</body>${nested(10_000, "")}`), "policy-violation");
    await expectStreamError(chat("<body>x</body>", attributes(10_000)), "policy-violation");
    global.gc?.();
    const growthMb = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
    // A sanity bound (S1: RSS Δ < 20 MB), not a measurement: a parser that built the whole tree
    // or copied the input per level would blow well past it.
    expect(growthMb).toBeLessThan(20);
  });

  it("closes the stream with not-well-formed on a repeated attribute (the last would win)", async () => {
    await expectStreamError(
      `<message id='dup' from='${USER}' to='carol@${GW}' to='admin@${GW}' type='chat'><body>x</body></message>`,
      "not-well-formed",
    );
  });

  it("closes the stream with not-well-formed on a repeated attribute in a child element", async () => {
    await expectStreamError(chat("<body xml:lang='en' xml:lang='de'>x</body>"), "not-well-formed");
  });

  it("does not take an attribute repeated across elements, or text that looks like one, for a duplicate", async () => {
    const raw = chat(
      "<body>to='a' to='b' <![CDATA[<x y='1' y='2'>]]></body><!-- <x y='1' y='2'> --><thread parent='p'>t</thread><x xmlns='urn:example:x' parent='q'/>",
    );
    expect(await delivered(raw, "the message with look-alike duplicates")).toBe(
      "to='a' to='b' <x y='1' y='2'>",
    );
  });

  it("closes the stream with not-well-formed on an undeclared element prefix", async () => {
    await expectStreamError(chat("<body>x</body><foo:bar/>"), "not-well-formed");
  });

  it("closes the stream with not-well-formed on an undeclared attribute prefix", async () => {
    await expectStreamError(chat("<body>x</body>", " foo:x='1'"), "not-well-formed");
  });

  it("accepts prefixes declared on the element or an ancestor, and xml: without a declaration", async () => {
    const raw = chat(
      "<body xml:lang='en'>prefixed</body><p:outer xmlns:p='urn:example:p'><p:inner p:attr='1'/></p:outer>",
      " xmlns:q='urn:example:q' q:flag='1'",
    );
    expect(await delivered(raw, "the message with declared prefixes")).toBe("prefixed");
  });

  it("ignores a 10 KB xml:lang", async () => {
    const lang = "x".repeat(10_240);
    const raw = chat(`<body xml:lang='${lang}'>long lang</body>`, ` xml:lang='${lang}'`);
    expect(await delivered(raw, "the message with a 10 KB xml:lang")).toBe("long lang");
  });
});
