/**
 * R4 (RELIABILITY.md), PR tier: Redis comes back from an older copy of its data and has lost the
 * registrations written since. Promise: every open session agrees with Redis once it is back —
 * one whose registration is gone is closed (its network connection too) and its user told to
 * register again; one whose registration differs is reconnected on the stored one; one whose
 * registration is intact is untouched: no reconnect, no message. No nick is acted on by a JID
 * Redis does not bind it to.
 *
 * Real Redis (AOF, as in production), Prosody and Postern with the test network adapter; the
 * stale copy is the AOF folder copied aside before the later registrations.
 */
import { Redis } from "ioredis";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkConsistency, describeDefects } from "../../scripts/faults/redis-consistency.ts";
import { GATEWAY, type Harness, startHarness } from "../support/gateway-harness.ts";
import { registerWithForm } from "../support/registration-form.ts";
import { waitUntil } from "../support/wait.ts";
import type { Element, XmppTestClient } from "../support/xmpp-client.ts";

const ALICE = "alice@localhost";
const BOB = "bob@localhost";
const MALLORY = "mallory@localhost";

let h: Harness;
let admin: Redis;
let alice: XmppTestClient;
let bob: XmppTestClient;
let mallory: XmppTestClient;
/** Messages Postern logged, to know when a check of the open sessions has run. */
const logged: string[] = [];
const checksRun = () => logged.filter((m) => m === "open sessions checked against Redis").length;

beforeAll(async () => {
  const log = pino(
    { level: "info" },
    {
      write(line: string) {
        logged.push((JSON.parse(line) as { msg: string }).msg);
      },
    },
  );
  h = await startHarness({ log });
  admin = new Redis(h.redis.url, { retryStrategy: () => 100 });
  admin.on("error", () => undefined);
  [alice, bob, mallory] = await Promise.all([h.login("alice"), h.login("bob"), h.login("mallory")]);
}, 60_000);

afterAll(async () => {
  admin?.disconnect();
  await h?.stop();
});

/** Registers with `nick` and comes online towards the gateway, so the session opens. */
async function registerOnline(client: XmppTestClient, nick: string): Promise<void> {
  await registerWithForm(client, GATEWAY, { nick, password: "pw" });
  await client.sendPresence({ to: GATEWAY });
  await waitUntil(
    () => h.network.sessions.get(client.bare)?.registration.nick === nick,
    `${client.bare}'s session as ${nick}`,
  );
}

/**
 * What the gateway itself told the client since `mark`: its messages, and its presence going
 * anything but plain available (a repeated "online" presence shows no change).
 */
function toldByGateway(client: XmppTestClient, mark: number): Element[] {
  return client.stanzas
    .slice(mark)
    .filter(
      (s) =>
        s.attrs.from === GATEWAY &&
        (s.name === "message" || (s.name === "presence" && (s.attrs.type || s.getChild("show")))),
    );
}

const isGatewayMessage = (s: Element) => s.name === "message" && s.attrs.from === GATEWAY;

/** The open sessions as the consistency checker wants them: who, acting as which nick. */
function liveSessions() {
  return [...h.network.sessions.entries()].map(([bareJid, ctx]) => ({
    bareJid,
    identity: ctx.registration.nick === undefined ? undefined : `nick:${ctx.registration.nick}`,
  }));
}

describe("R4: open sessions after Redis comes back", () => {
  it("a restart that lost nothing leaves every session untouched", async () => {
    await registerOnline(alice, "alice");
    const session = h.network.session(ALICE);
    const opened = h.network.openCount;
    const mark = alice.mark();
    const checks = checksRun();
    await h.redis.restart();
    await waitUntil(() => checksRun() > checks, "a check of the open sessions after Redis came back");

    expect(h.network.session(ALICE)).toBe(session);
    expect(h.network.openCount).toBe(opened);
    expect(toldByGateway(alice, mark).map((s) => s.toString())).toEqual([]);
  });

  it("closes the session of a lost registration, reloads a changed one, leaves the intact one alone", async () => {
    await registerOnline(mallory, "mal1");
    const stale = await h.redis.snapshot();
    // After the snapshot: bob registers (lost by the restore), mallory changes her nick (changed).
    await registerOnline(bob, "bob");
    await registerOnline(mallory, "mal2");
    const aliceSession = h.network.session(ALICE);
    const marks = { alice: alice.mark(), bob: bob.mark(), mallory: mallory.mark() };
    const checks = checksRun();

    await h.redis.restoreSnapshot(stale);

    // Bob: the gateway tells him why and what to do, and his network session is closed.
    const told = await bob.waitFor(isGatewayMessage, "the gateway's message to bob", { since: marks.bob });
    expect(told.getChildText("body")).toMatch(/registration .* was lost.*register again/i);
    expect(h.network.sessions.has(BOB)).toBe(false);
    await bob.waitFor(
      (s) => s.name === "presence" && s.attrs.from === GATEWAY && s.attrs.type === "unavailable",
      "the gateway going unavailable for bob",
      { since: marks.bob },
    );

    // Mallory: reconnected as the nick Redis holds for her, and told.
    await waitUntil(
      () => h.network.sessions.get(MALLORY)?.registration.nick === "mal1",
      "mallory's session on her stored registration (mal1)",
    );
    const toMallory = await mallory.waitFor(isGatewayMessage, "the gateway's message to mallory", {
      since: marks.mallory,
    });
    expect(toMallory.getChildText("body")).toMatch(/differs/);

    // Alice: once every open session was checked, the same network session, and not a word.
    await waitUntil(() => checksRun() > checks, "a check of the open sessions after Redis came back");
    expect(h.network.session(ALICE)).toBe(aliceSession);
    expect(toldByGateway(alice, marks.alice).map((s) => s.toString())).toEqual([]);

    // Redis and the open sessions agree: nobody acts as a nick Redis gives someone else.
    const report = await checkConsistency({
      redis: admin,
      prefix: "test:",
      gateway: GATEWAY,
      identityOf: (values) => (values.nick === undefined ? undefined : `nick:${values.nick}`),
      liveSessions: liveSessions(),
    });
    expect(describeDefects(report)).toBe("0");

    // Bob registers again and is back.
    await registerOnline(bob, "bob");
    expect(h.network.sessions.get(BOB)?.registration.nick).toBe("bob");
  });

  it("frees a claim left by a registration that never finished, even when the next attempt is refused", async () => {
    // As a restore from a copy taken between the claim and the registration's save leaves it:
    // the admin holds nick zed with no registration.
    await h.postern.store.registrations.claimIdentity(GATEWAY, "nick:zed", "admin@localhost");
    await expect(registerWithForm(alice, GATEWAY, { nick: "zed", password: "pw" })).rejects.toMatchObject({
      condition: "conflict",
    });
    const adminClient = await h.login("admin");
    // The admin's attempt is refused (bob holds that nick), and still lets zed go.
    await expect(
      registerWithForm(adminClient, GATEWAY, { nick: "bob", password: "pw" }),
    ).rejects.toMatchObject({ condition: "conflict" });
    await registerWithForm(alice, GATEWAY, { nick: "zed", password: "pw" });
  });
});
