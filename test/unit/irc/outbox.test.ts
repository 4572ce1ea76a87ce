import { describe, expect, it } from "vitest";
import { byConversation, Outbox } from "../../../adapters/irc/outbox.ts";
import { plain } from "../../../src/adapter/index.ts";

const item = (id: string, n: number) => ({
  target: id,
  conversation: { kind: "room" as const, id },
  message: {
    conversation: { kind: "room" as const, id },
    kind: "normal" as const,
    text: plain(`m${n}`),
    clientId: `c${n}`,
  },
});

describe("Outbox", () => {
  it("keeps order and refuses the message over the per-conversation bound", () => {
    const outbox = new Outbox({ perConversation: 2, ttlMs: 1000 }, () => 0);
    expect(outbox.add(item("#a", 1))).toBe(true);
    expect(outbox.add(item("#b", 2))).toBe(true);
    expect(outbox.add(item("#a", 3))).toBe(true);
    expect(outbox.add(item("#a", 4))).toBe(false);
    expect(outbox.shift()?.message.clientId).toBe("c1");
    // Room again in #a once one of its messages left.
    expect(outbox.add(item("#a", 5))).toBe(true);
    expect(outbox.clear().map((p) => p.message.clientId)).toEqual(["c2", "c3", "c5"]);
    expect(outbox.size).toBe(0);
  });

  it("hands back what waited longer than the TTL, grouped by conversation for the notices", () => {
    let now = 0;
    const outbox = new Outbox({ perConversation: 10, ttlMs: 1000 }, () => now);
    outbox.add(item("#a", 1));
    now = 500;
    outbox.add(item("#a", 2));
    outbox.add(item("#b", 3));
    expect(outbox.msUntilExpiry()).toBe(500);
    now = 1000;
    expect(outbox.expire().map((p) => p.message.clientId)).toEqual(["c1"]);
    now = 1600;
    const expired = outbox.expire();
    expect([...byConversation(expired).values()].map((g) => [g.conversation.id, g.count])).toEqual([
      ["#a", 1],
      ["#b", 1],
    ]);
    expect(outbox.msUntilExpiry()).toBeUndefined();
  });
});
