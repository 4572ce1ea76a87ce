/**
 * UnconfirmedLines: a line counts as read by the IRC server only once the server answers a PING
 * written after it; one PING at a time, the next one for what was written meanwhile.
 */
import { describe, expect, it } from "vitest";
import { UnconfirmedLines } from "../../../adapters/irc/unconfirmed.ts";

function rig<Tag>(limits?: { maxLines: number; maxBytes: number }) {
  const pings: string[] = [];
  const handedOver: Tag[] = [];
  const lines = new UnconfirmedLines<Tag>(
    (token) => pings.push(token),
    (tag) => handedOver.push(tag),
    limits,
  );
  const answer = (n: number) => lines.pong(["irc.example", pings[n] ?? ""]);
  return { pings, handedOver, lines, answer };
}

describe("UnconfirmedLines", () => {
  it("confirms what was written before the PING its PONG answers, and batches a burst by round trip", () => {
    const { pings, handedOver, lines, answer } = rig<string>();
    lines.written("a", "PRIVMSG #c :a");
    expect(pings).toHaveLength(1);
    lines.written("b", "PRIVMSG #c :b1", false);
    lines.written("b", "PRIVMSG #c :b2");
    expect(pings).toHaveLength(1); // one PING out at a time
    expect(lines.pong(["irc.example", "someone-else's"])).toBe(false);
    expect(answer(0)).toBe(true);
    expect(handedOver).toEqual(["a"]);
    expect(lines.size).toBe(2);
    expect(pings).toHaveLength(2); // for b's lines
    expect(answer(1)).toBe(true);
    expect(handedOver).toEqual(["a", "b"]);
    expect(lines.size).toBe(0);
    expect(pings).toHaveLength(2);
  });

  it("hands back each message with an unconfirmed line once, in the order written; the old PING never counts", () => {
    const { pings, handedOver, lines, answer } = rig<string>();
    lines.written("a", "PRIVMSG #c :a1", false);
    lines.written("b", "PRIVMSG #c :b1");
    lines.written("a", "PRIVMSG #c :a2");
    expect(lines.take()).toEqual({ tags: ["a", "b"], forgotten: 0 });
    expect(answer(0)).toBe(false);
    expect(handedOver).toEqual([]);
    expect(lines.take()).toEqual({ tags: [], forgotten: 0 });
    lines.written("a", "PRIVMSG #c :a1 again");
    expect(pings).toHaveLength(2);
  });

  it("a message whose first line is confirmed but not its last stays unconfirmed", () => {
    const { handedOver, lines, answer } = rig<string>();
    lines.written("a", "PRIVMSG #c :a1", false);
    lines.written("b", "PRIVMSG #c :b"); // written before the PONG to the PING after a1
    expect(answer(0)).toBe(true);
    expect(handedOver).toEqual([]);
    expect(lines.take().tags).toEqual(["b"]);
  });

  it("forgets the oldest lines past its bounds (handed over, counted) and hands everything over when closed", () => {
    const { handedOver, lines } = rig<number>({ maxLines: 3, maxBytes: 1024 });
    for (let n = 1; n <= 5; n++) lines.written(n, `PRIVMSG #c :${n}`);
    expect(lines.size).toBe(3);
    expect(handedOver).toEqual([1, 2]);
    lines.closed();
    expect(handedOver).toEqual([1, 2, 3, 4, 5]);
    expect(lines.take()).toEqual({ tags: [], forgotten: 0 });

    const small = rig<number>({ maxLines: 100, maxBytes: 40 });
    small.lines.written(1, "x".repeat(18)); // 20 bytes with CRLF
    small.lines.written(2, "y".repeat(18));
    small.lines.written(3, "z".repeat(18));
    expect(small.lines.size).toBe(2);
    expect(small.lines.take()).toEqual({ tags: [2, 3], forgotten: 1 });
  });
});
