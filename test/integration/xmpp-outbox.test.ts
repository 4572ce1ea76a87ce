/**
 * Nothing said on the network is lost while the XMPP server is away: stanzas wait in the
 * gateway's Redis outbox and reach the user, in order, once the server is back (R7, PR scale).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GATEWAY, type Harness, startHarness } from "../support/gateway-harness.ts";
import { registerWithForm } from "../support/registration-form.ts";
import { waitUntil } from "../support/wait.ts";
import { xml } from "../support/xmpp-client.ts";

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

describe("the XMPP outbox", () => {
  it("keeps messages from the network while Prosody restarts and delivers them all, in order", async () => {
    const alice = await h.login("alice");
    await registerWithForm(alice, GATEWAY, { nick: "alice", password: "pw" });
    // A persistent room keeps the session open while alice is offline (Prosody's shutdown signs
    // her off), so the network can keep talking to her.
    await alice.sendPresence({ to: `#keep@${GATEWAY}/alice` }, [
      xml("x", { xmlns: "http://jabber.org/protocol/muc" }),
    ]);
    await alice.waitFor((s) => s.getChild("subject") !== undefined, "the join");
    const NS_COMMANDS = "http://jabber.org/protocol/commands";
    const first = await alice.iq(
      xml(
        "iq",
        { type: "set", to: `#keep@${GATEWAY}` },
        xml("command", { xmlns: NS_COMMANDS, node: "room-settings" }),
      ),
    );
    await alice.iq(
      xml(
        "iq",
        { type: "set", to: `#keep@${GATEWAY}` },
        xml(
          "command",
          {
            xmlns: NS_COMMANDS,
            node: "room-settings",
            sessionid: first.getChild("command")!.attrs.sessionid!,
            action: "complete",
          },
          xml(
            "x",
            { xmlns: "jabber:x:data", type: "submit" },
            xml("field", { var: "persistent" }, xml("value", {}, "true")),
          ),
        ),
      ),
    );
    await h.network.waitForSession("alice@localhost");
    const gateway = h.postern.gateways[0]!;

    const restart = h.prosody.restart({ downMs: 2_000 });
    await waitUntil(() => !gateway.online, "the component link to drop");
    const said = Array.from({ length: 30 }, (_, i) => `while away ${i}`);
    for (const text of said)
      await h.network.say("alice@localhost", { kind: "direct", id: "carol" }, "carol", text, `away-${text}`);
    expect(await h.postern.store.xmppOutbox(GATEWAY, 1).size()).toBe(said.length);
    await restart;
    await waitUntil(() => gateway.online, "the component link to come back");

    const again = await h.login("alice", "back");
    const received = await again.waitForAll(
      (s) => s.name === "message" && (s.getChildText("body") ?? "").startsWith("while away"),
      30,
      "the 30 messages said while the server was down",
      { timeoutMs: 20_000 },
    );
    expect(received.map((m) => m.getChildText("body"))).toEqual(said);
    expect(await h.postern.store.xmppOutbox(GATEWAY, 1).size()).toBe(0);
  });
});
