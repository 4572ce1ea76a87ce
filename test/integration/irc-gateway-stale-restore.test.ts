/**
 * R4 (RELIABILITY.md) on the IRC gateway, end to end (Prosody, Postern, ngIRCd, Redis with AOF):
 * Redis comes back from an older copy that does not have the user's registration (their chosen
 * nick). IRC registration is implicit, so the user is not cut off: their puppet leaves IRC under
 * the nick Redis no longer has for them, they are told, and registering again brings it back. A
 * user whose registration Redis kept is not touched: their puppet stays, with no reconnect.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParsedLine } from "../support/irc-client.ts";
import {
  IRC_GATEWAY,
  type IrcHarness,
  joinRoom,
  roomJid,
  startIrcHarness,
  statusCodes,
} from "../support/irc-gateway-harness.ts";
import { registerWithForm } from "../support/registration-form.ts";

let h: IrcHarness;

beforeAll(async () => {
  h = await startIrcHarness();
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

const quitOf = (nick: string) => (l: ParsedLine) => l.command === "QUIT" && l.nick === nick;

describe("R4: an IRC user's registration lost by a stale Redis restore", () => {
  it("takes the puppet off IRC, tells the user, and lets them register again; the intact user's puppet stays", async () => {
    const watcher = await h.irc("watcher");
    await watcher.join("#stale");
    // Carol registered before the copy was taken: the restore keeps her registration.
    const carol = await h.login("carol");
    await registerWithForm(carol, IRC_GATEWAY, { nick: "carolyn" });
    await carol.sendPresence({ to: IRC_GATEWAY });
    const wc = watcher.mark();
    await joinRoom(carol, "#stale", "carolyn");
    await watcher.waitFor((l) => l.command === "JOIN" && l.nick === "carolyn", "carolyn joining #stale", {
      since: wc,
    });
    const stale = await h.redis.snapshot();

    // Alice registers after it, and joins.
    const alice = await h.login("alice");
    await registerWithForm(alice, IRC_GATEWAY, { nick: "alicia" });
    await alice.sendPresence({ to: IRC_GATEWAY });
    const w = watcher.mark();
    await joinRoom(alice, "#stale", "alicia");
    await watcher.waitFor((l) => l.command === "JOIN" && l.nick === "alicia", "alicia joining #stale", {
      since: w,
    });

    const a = alice.mark();
    const c = carol.mark();
    const afterJoin = watcher.mark();
    await h.redis.restoreSnapshot(stale);

    // Alice's puppet leaves IRC, her room says the gateway took her out, and she is told why.
    await watcher.waitFor(quitOf("alicia"), "alicia's QUIT", { since: afterJoin, timeoutMs: 20_000 });
    const told = await alice.waitFor(
      (s) => s.name === "message" && s.attrs.from === IRC_GATEWAY,
      "the gateway's message to alice",
      { since: a },
    );
    expect(told.getChildText("body")).toMatch(/registration .* was lost.*register again/i);
    const removed = await alice.waitFor(
      (s) =>
        s.name === "presence" &&
        s.attrs.from === `${roomJid("#stale")}/alicia` &&
        s.attrs.type === "unavailable",
      "alice's self-presence leaving #stale",
      { since: a },
    );
    expect(statusCodes(removed)).toContain("332");

    // She registers again and is back as alicia.
    const back = watcher.mark();
    await registerWithForm(alice, IRC_GATEWAY, { nick: "alicia" });
    await joinRoom(alice, "#stale", "alicia");
    await watcher.waitFor((l) => l.command === "JOIN" && l.nick === "alicia", "alicia joining #stale again", {
      since: back,
    });

    // Carol's puppet never left, and the gateway said nothing to her.
    expect(
      watcher.lines
        .slice(afterJoin)
        .filter((l) => l.nick === "carolyn")
        .map((l) => l.raw),
    ).toEqual([]);
    expect(
      carol.stanzas
        .slice(c)
        .filter(
          (s) => s.attrs.from === IRC_GATEWAY && (s.name === "message" || s.attrs.type === "unavailable"),
        )
        .map((s) => s.toString()),
    ).toEqual([]);
  });
});
