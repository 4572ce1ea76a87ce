/**
 * Portal rooms after the XMPP server was killed (RELIABILITY.md R12, issue 6): occupants whose
 * sessions ended with it never send an unavailable presence. Once the component link is back,
 * Postern asks them; those the server says are gone leave the room (the network's occupant list
 * with them), and nobody who joins later sees them as present.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GATEWAY, type Harness, startHarness } from "../support/gateway-harness.ts";
import { waitUntil } from "../support/wait.ts";
import { type XmppTestClient, xml } from "../support/xmpp-client.ts";

const ROOM = `#square@${GATEWAY}`;
const NS_MUC = "http://jabber.org/protocol/muc";

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ portalRooms: ["#square"] });
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

/** Joins the portal room and resolves with the occupant JIDs the join presented. */
async function join(client: XmppTestClient, nick: string): Promise<string[]> {
  const mark = client.mark();
  await client.sendPresence({ to: `${ROOM}/${nick}` }, [xml("x", { xmlns: NS_MUC })]);
  const subject = await client.waitFor(
    (s) => s.name === "message" && s.getChild("subject") !== undefined,
    `${nick}'s join to finish`,
    { since: mark, timeoutMs: 20_000 },
  );
  return client.stanzas
    .slice(mark, client.stanzas.indexOf(subject))
    .filter((s) => s.name === "presence" && s.attrs.type === undefined && s.attrs.from?.startsWith(ROOM))
    .map((s) => s.attrs.from ?? "");
}

const occupantsOnNetwork = () => (h.network.portalOccupants.get("#square") ?? []).map((o) => o.nick).sort();

describe("portal occupants who vanished with the XMPP server", () => {
  it("are removed once the link is back: the network's list drops them and a newcomer does not see them", async () => {
    const alice = await h.login("alice", "desktop");
    const bob = await h.login("bob", "desktop");
    await join(alice, "alice");
    await join(bob, "bob");
    expect(occupantsOnNetwork()).toEqual(["alice", "bob"]);
    // A round trip through the gateway: the joins are fully handled before the kill.
    await bob.iq(xml("iq", { type: "get", to: GATEWAY }, xml("ping", { xmlns: "urn:xmpp:ping" })));

    const gw = h.postern.gateways[0]!;
    await h.prosody.restart({ kill: true, downMs: 500 });
    await waitUntil(() => gw.online, "the component link back after Prosody was killed", 30_000);
    // The pass started as the link came up; neither alice/desktop nor bob/desktop came back.
    await gw.resourceCheck.idle();
    expect(occupantsOnNetwork()).toEqual([]);

    const mallory = await h.login("mallory", "phone");
    const presented = await join(mallory, "mallory");
    expect(presented).not.toContain(`${ROOM}/alice`);
    expect(presented).not.toContain(`${ROOM}/bob`);
    expect(presented).toContain(`${ROOM}/mallory`);
    expect(occupantsOnNetwork()).toEqual(["mallory"]);
  }, 90_000);
});
