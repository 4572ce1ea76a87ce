/**
 * R2 of RELIABILITY.md, graceful restart: the real `postern run` process bridges XMPP and IRC under
 * load (two channels, both directions, 20 numbered messages a second), gets SIGTERM, and a new
 * process starts on the same Redis. No message is lost silently (each XMPP→IRC message arrives or
 * its sender gets an error), none arrives twice, each conversation keeps its order, and the old
 * process drains within 5 s.
 *
 * IRC→XMPP lines written while no Postern runs have nobody to relay them (the puppet's IRC
 * connection closed with the shutdown): they are counted apart, as the known gap.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BridgeRig, formatFigures, startBridgeRig } from "../support/irc-bridge-load.ts";

let rig: BridgeRig;

beforeAll(async () => {
  rig = await startBridgeRig();
}, 60_000);

afterAll(async () => {
  await rig?.stop();
});

describe("R2: SIGTERM under load, then a new process", () => {
  it("loses nothing silently, duplicates nothing, keeps order, drains within 5 s", {
    timeout: 90_000,
  }, async () => {
    let stopLoad = false;
    const load = rig.load(20, () => stopLoad);
    await new Promise((r) => setTimeout(r, 4_000));
    const drain = await rig.postern.sigterm();
    const restartMark = rig.watcher.mark();
    const restartedAt = Date.now();
    const marks = { irc: rig.watcher.mark(), xmpp: rig.alice.mark() };
    rig.postern.restart();
    const first = rig.firstDelivery(restartedAt, marks, 30_000);
    try {
      await rig.puppetBack(restartMark);
    } catch (error) {
      stopLoad = true;
      await load;
      throw new Error(`${(error as Error).message}\n${rig.postern.output().slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 3_000));
    stopLoad = true;
    await load;
    const rows = await rig.settle(15_000);
    const firstDelivery = await first;
    console.log(
      `R2 drain ${drain.drainMs} ms (${drain.exit}); first delivery after restart: ${JSON.stringify(firstDelivery)}\n${formatFigures(rows)}`,
    );
    expect(drain.exit).toBe("exited with code 0");
    expect(drain.drainMs).toBeLessThanOrEqual(5_000);
    expect(rows.map((r) => [r.name, r.lost])).toEqual(rows.map((r) => [r.name, 0]));
    expect(rows.map((r) => [r.name, r.rawDuplicates])).toEqual(rows.map((r) => [r.name, 0]));
    expect(rows.map((r) => [r.name, r.inversions])).toEqual(rows.map((r) => [r.name, 0]));
  });
});
