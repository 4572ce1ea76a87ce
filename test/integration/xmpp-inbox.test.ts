/**
 * R1 (RELIABILITY.md), the part Postern can close: a message the XMPP server handed to Postern
 * and Postern had not yet handed to the network when it was killed. The server counts it as
 * delivered (XEP-0114 has no acknowledgement), so before, it was gone without a word. Now it
 * waits in the gateway's Redis inbox until handled, and the next process handles it first; one
 * that waited longer than 10 minutes is answered instead of sent late.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Keys } from "../../src/store/keys.ts";
import { GATEWAY, type Harness, startHarness } from "../support/gateway-harness.ts";
import { registerWithForm } from "../support/registration-form.ts";
import { waitUntil } from "../support/wait.ts";
import { type XmppTestClient, xml } from "../support/xmpp-client.ts";

const CAROL = `carol@${GATEWAY}`;

let h: Harness;
let alice: XmppTestClient;
let raw: Redis;
const inboxKey = new Keys("test:").xmppInbox(GATEWAY);

beforeAll(async () => {
  h = await startHarness();
  raw = new Redis(h.redis.url);
  alice = await h.login("alice");
  await registerWithForm(alice, GATEWAY, { nick: "alice", password: "pw" });
  await alice.sendPresence({ to: GATEWAY });
  await h.network.waitForSession("alice@localhost");
}, 60_000);

afterAll(async () => {
  raw?.disconnect();
  await h?.stop();
});

const say = (id: string, text: string) =>
  alice.send(xml("message", { to: CAROL, type: "chat", id }, xml("body", {}, text)));
const textsSent = () => h.network.sent.map((s) => s.message.text.text);

it("sends after a crash what the killed process had taken and not yet sent, first, once", async () => {
  // Left by a process killed 11 minutes ago: too late to send now, so its sender is told.
  const tooOld = xml(
    "message",
    { from: `${alice.jid}`, to: CAROL, type: "chat", id: "too-old" },
    xml("body", {}, "from long ago"),
  );
  await raw.xadd(inboxKey, `${Date.now() - 11 * 60_000}-0`, "stanza", tooOld.toString());

  // The network takes nothing for now: the message is held inside Postern when it is killed.
  h.network.holdSends = new Promise(() => undefined);
  await say("m1", "in flight at the kill");
  await waitUntil(async () => (await raw.xlen(inboxKey)) === 2, "the in-flight message in the inbox");
  await h.restartPostern({ crash: true });
  h.network.holdSends = null;

  const mark = alice.mark();
  await say("m2", "after the restart");
  await waitUntil(() => textsSent().includes("after the restart"), "the message sent after the restart");
  expect(textsSent()).toEqual(["in flight at the kill", "after the restart"]);

  const answer = await alice.waitFor(
    (s) => s.name === "message" && s.attrs.id === "too-old" && s.attrs.type === "error",
    "the error for the message left too long",
    { since: mark },
  );
  const error = answer.getChild("error");
  expect(error?.attrs.type).toBe("wait");
  expect(error?.getChild("recipient-unavailable")).toBeDefined();
  expect(textsSent()).not.toContain("from long ago");
  await waitUntil(async () => (await raw.xlen(inboxKey)) === 0, "the inbox emptied");
  // Nothing was answered as failed that was sent.
  expect(alice.stanzas.filter((s) => s.attrs.type === "error" && s.attrs.id !== "too-old")).toEqual([]);
}, 60_000);
