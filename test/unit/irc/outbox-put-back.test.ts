import { describe, expect, it } from "vitest";
import { Outbox, type PendingMessage } from "../../../adapters/irc/outbox.ts";
import { plain } from "../../../src/adapter/index.ts";

const item = (id: string, n: number, queuedAt = 0): PendingMessage => ({
  target: id,
  conversation: { kind: "room", id },
  message: { conversation: { kind: "room", id }, kind: "normal", text: plain(`m${n}`), clientId: `c${n}` },
  queuedAt,
});

describe("Outbox.putBack (messages a lost link may have swallowed)", () => {
  it("puts them before what waits, in order, and refuses those over the per-conversation bound", () => {
    const outbox = new Outbox({ perConversation: 3, ttlMs: 1000 }, () => 0);
    outbox.add(item("#a", 3));
    outbox.add(item("#a", 4));
    const refused = outbox.putBack([item("#a", 1), item("#b", 2), item("#a", 9)]);
    expect(refused.map((p) => p.message.clientId)).toEqual(["c9"]);
    expect(outbox.clear().map((p) => p.message.clientId)).toEqual(["c1", "c2", "c3", "c4"]);
  });

  it("keeps the time the user sent them, so the TTL counts from then", () => {
    let now = 900;
    const outbox = new Outbox({ perConversation: 10, ttlMs: 1000 }, () => now);
    outbox.add(item("#a", 2));
    outbox.putBack([item("#a", 1, 100)]);
    expect(outbox.msUntilExpiry()).toBe(200);
    now = 1100;
    expect(outbox.expire().map((p) => p.message.clientId)).toEqual(["c1"]);
    expect(outbox.size).toBe(1);
  });
});
