/**
 * R1 (RELIABILITY.md) for what waits inside Postern: with a production-like flood limiter a
 * user's burst is paced out one line at a time, so at a kill -9 several of their messages are
 * still in the puppet's queue. The XMPP server counted them delivered long ago. Before, they were
 * gone without a word; now each stays in the gateway's Redis inbox until the IRC server has read
 * it (SendReceipt.handedOver), and the next process sends them, in order, after the restart.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { type BridgeRig, startBridgeRig } from "../support/irc-bridge-load.ts";
import { roomJid } from "../support/irc-gateway-harness.ts";
import { xml } from "../support/xmpp-client.ts";

const CHANNEL = "#rq";
const TEXTS = ["queued 0", "queued 1", "queued 2", "queued 3"];

let rig: BridgeRig;

beforeAll(async () => {
  // One line at once, then one every 3 s: the burst of four takes 9 s to go out.
  rig = await startBridgeRig({ channels: [CHANNEL], puppetFlood: { burst: 1, refillMs: 3_000 } });
}, 60_000);

afterAll(async () => {
  await rig?.stop();
});

const saidOnIrc = () =>
  rig.watcher.lines
    .filter((l) => l.command === "PRIVMSG" && l.params[0] === CHANNEL && l.params[1]?.startsWith("queued"))
    .map((l) => l.params[1]);

it("sends after a kill -9 what waited in the puppet's flood queue, in order", async () => {
  for (const [i, text] of TEXTS.entries())
    await rig.alice.send(
      xml("message", { to: roomJid(CHANNEL), type: "groupchat", id: `q${i}` }, xml("body", {}, text)),
    );
  await rig.watcher.waitFor(
    (l) => l.command === "PRIVMSG" && l.params[1] === "queued 0",
    "the burst's first line on IRC",
    { timeoutMs: 15_000 },
  );
  expect(saidOnIrc()).toEqual(["queued 0"]);
  await rig.postern.kill9();
  const restartMark = rig.watcher.mark();
  rig.postern.restart();
  await rig.puppetBack(restartMark);
  await rig.watcher.waitFor(
    (l) => l.command === "PRIVMSG" && l.params[1] === "queued 3",
    "the burst's last line",
    {
      since: restartMark,
      timeoutMs: 30_000,
    },
  );
  const said = saidOnIrc();
  // The first line may come twice: the IRC server had it, but the killed process had not yet
  // heard the server speak after it (plain IRC has no receipts; RELIABILITY.md allows one).
  const firsts = said.filter((text, i) => said.indexOf(text) === i);
  expect(firsts).toEqual(TEXTS);
  expect(said.length - firsts.length).toBeLessThanOrEqual(1);
  expect(rig.alice.stanzas.filter((s) => s.attrs.type === "error")).toEqual([]);
}, 90_000);
