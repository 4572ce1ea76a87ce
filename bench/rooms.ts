/** Joining and leaving gateway rooms as a bench user (XEP-0045), the same way on both gateways. */
import { type Element, type XmppTestClient, xml } from "../test/support/xmpp-client.ts";
import { inBatches } from "./accounts.ts";

const MUC_NS = "http://jabber.org/protocol/muc";
const MUC_USER_NS = "http://jabber.org/protocol/muc#user";

/** True for the room's presence about the user themself (status 110). */
function isSelfPresence(stanza: Element, roomJid: string, unavailable: boolean): boolean {
  if (stanza.name !== "presence" || !stanza.attrs.from?.startsWith(`${roomJid}/`)) return false;
  if ((stanza.attrs.type === "unavailable") !== unavailable) return false;
  const x = stanza.getChild("x", MUC_USER_NS);
  return x?.getChildren("status").some((s) => s.attrs.code === "110") === true;
}

function isJoinError(stanza: Element, roomJid: string): boolean {
  return (
    stanza.name === "presence" &&
    stanza.attrs.type === "error" &&
    stanza.attrs.from?.startsWith(roomJid) === true
  );
}

/** Joins without history; resolves with the time (performance.now()) the self-presence arrived. */
export async function joinRoom(
  client: XmppTestClient,
  roomJid: string,
  nick: string,
  timeoutMs: number,
): Promise<number> {
  const since = client.mark();
  let joinedAt = 0;
  const waiting = client.waitFor(
    (s) => {
      const done = isSelfPresence(s, roomJid, false) || isJoinError(s, roomJid);
      if (done) joinedAt = performance.now();
      return done;
    },
    `self-presence from ${roomJid} for ${nick}`,
    { since, timeoutMs },
  );
  await client.send(
    xml(
      "presence",
      { to: `${roomJid}/${nick}` },
      xml("x", { xmlns: MUC_NS }, xml("history", { maxstanzas: "0" })),
    ),
  );
  const reply = await waiting;
  if (reply.attrs.type === "error")
    throw new Error(`joining ${roomJid} as ${nick} failed: ${reply.toString()}`);
  return joinedAt;
}

/** Leaves a room; waits (bounded) for the room to confirm, and does not fail if it never does. */
export async function leaveRoom(
  client: XmppTestClient,
  roomJid: string,
  nick: string,
  timeoutMs: number,
): Promise<boolean> {
  const since = client.mark();
  const confirmed = client
    .waitFor((s) => isSelfPresence(s, roomJid, true), `leaving ${roomJid}`, { since, timeoutMs })
    .then(
      () => true,
      () => false,
    );
  await client.send(xml("presence", { to: `${roomJid}/${nick}`, type: "unavailable" }));
  return confirmed;
}

/** Leaves rooms for many users at once; returns how many did not confirm. */
export async function leaveAll(
  entries: Array<{ client: XmppTestClient; roomJid: string; nick: string }>,
  timeoutMs: number,
): Promise<number> {
  const results = await inBatches(entries, 1000, (e) => leaveRoom(e.client, e.roomJid, e.nick, timeoutMs));
  return results.filter((ok) => !ok).length;
}

/** Forgets what the clients received so far (a relay phase keeps tens of thousands of stanzas). */
export function forgetReceived(clients: readonly XmppTestClient[]): void {
  for (const client of clients) client.stanzas.splice(0);
}
