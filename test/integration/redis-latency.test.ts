/**
 * R11 (RELIABILITY.md) at PR scale, for the store's part: with every Redis round trip taking
 * 0.6 s (the fault proxy delays each direction 300 ms), a burst of room messages from the network
 * reaches the XMPP user whole and in order, each with the stanza-id of its own archive entry —
 * and the room's archive writes go out back to back rather than one per round trip (before,
 * each message waited for its archive write before the next was even issued, so a room handled
 * about one message per round trip and a busy room fell minutes behind: R11's p95 of 286 s).
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Keys } from "../../src/store/keys.ts";
import { NS } from "../../src/xmpp/namespaces.ts";
import { GATEWAY, type Harness, startHarness } from "../support/gateway-harness.ts";
import { registerWithForm } from "../support/registration-form.ts";
import { type XmppTestClient, xml } from "../support/xmpp-client.ts";

const ROOM = "#busy";
const BURST = 20;

let h: Harness;
let alice: XmppTestClient;
let raw: Redis;

beforeAll(async () => {
  h = await startHarness({ redisProxy: true });
  raw = new Redis(h.redis.url);
  alice = await h.login("alice");
  await registerWithForm(alice, GATEWAY, { nick: "alice", password: "pw" });
  await alice.sendPresence({ to: GATEWAY });
  await h.network.waitForSession("alice@localhost");
  const mark = alice.mark();
  await alice.sendPresence({ to: `${ROOM}@${GATEWAY}/alice` }, [xml("x", { xmlns: NS.muc })]);
  await alice.waitFor(
    (s) => s.name === "presence" && s.attrs.from === `${ROOM}@${GATEWAY}/alice`,
    "alice's self-presence in the room",
    { since: mark },
  );
}, 60_000);

afterAll(async () => {
  raw?.disconnect();
  await h?.stop();
});

it("relays a burst of room messages in order while every Redis round trip takes 0.6 s", async () => {
  const archiveKey = new Keys("test:").userArchive(GATEWAY, "alice@localhost", ROOM);
  const archivedBefore = await raw.xlen(archiveKey);
  h.redisProxy!.delay(300);
  const mark = alice.mark();
  const said = Array.from({ length: BURST }, (_, i) =>
    h.network.say("alice@localhost", { kind: "room", id: ROOM }, "carol", `burst ${i}`, `b${i}`),
  );
  const fromCarol = (s: { name: string; attrs: Record<string, string> }) =>
    s.name === "message" && s.attrs.from === `${ROOM}@${GATEWAY}/carol`;
  await alice.waitFor(fromCarol, "the burst's first message", { since: mark, timeoutMs: 30_000 });
  // Read straight from Redis, not through the delayed link: by the time the first message is out,
  // the whole burst was archived, because the writes did not wait for one another.
  expect((await raw.xlen(archiveKey)) - archivedBefore).toBe(BURST);

  await Promise.all(said);
  await alice.waitFor(
    (s) => fromCarol(s) && s.getChildText("body") === `burst ${BURST - 1}`,
    "the burst's last message",
    { since: mark, timeoutMs: 60_000 },
  );
  const received = alice.stanzas.slice(mark).filter(fromCarol);
  expect(received.map((s) => s.getChildText("body"))).toEqual(
    Array.from({ length: BURST }, (_, i) => `burst ${i}`),
  );
  const archive = await raw.xrange(archiveKey, "-", "+");
  const archiveIds = archive.slice(-BURST).map(([id]) => id);
  expect(received.map((s) => s.getChild("stanza-id", "urn:xmpp:sid:0")?.attrs.id)).toEqual(archiveIds);
  h.redisProxy!.pass();
}, 90_000);
