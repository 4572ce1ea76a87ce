import { describe, expect, it } from "vitest";
import { UnconfirmedLines } from "../../../adapters/irc/unconfirmed.ts";

describe("UnconfirmedLines", () => {
  it("hands back each message with an unconfirmed line once, in the order written", () => {
    const lines = new UnconfirmedLines<string>();
    lines.written("a", "PRIVMSG #c :a1");
    lines.written("b", "PRIVMSG #c :b1");
    lines.written("a", "PRIVMSG #c :a2");
    expect(lines.take()).toEqual({ tags: ["a", "b"], forgotten: 0 });
    expect(lines.take()).toEqual({ tags: [], forgotten: 0 });
  });

  it("takes everything written before a line heard from the server as read", () => {
    const lines = new UnconfirmedLines<string>();
    lines.written("a", "PRIVMSG #c :a");
    lines.heard();
    lines.written("b", "PRIVMSG #c :b");
    expect(lines.take().tags).toEqual(["b"]);
  });

  it("forgets the oldest lines past its bounds and counts them until the server is heard", () => {
    const lines = new UnconfirmedLines<number>({ maxLines: 3, maxBytes: 1024 });
    for (let n = 1; n <= 5; n++) lines.written(n, `PRIVMSG #c :${n}`);
    expect(lines.size).toBe(3);
    expect(lines.take()).toEqual({ tags: [3, 4, 5], forgotten: 2 });

    const small = new UnconfirmedLines<number>({ maxLines: 100, maxBytes: 40 });
    small.written(1, "x".repeat(18)); // 20 bytes with CRLF
    small.written(2, "y".repeat(18));
    small.written(3, "z".repeat(18));
    expect(small.size).toBe(2);
    small.heard();
    expect(small.take()).toEqual({ tags: [], forgotten: 0 });
  });

  it("settles a message once its last line is read, never one that is taken back to resend", () => {
    const settled: string[] = [];
    const lines = new UnconfirmedLines<string>({ maxLines: 3, maxBytes: 1024 }, (tag) => settled.push(tag));
    lines.written("a", "PRIVMSG #c :a1", false);
    lines.heard();
    expect(settled).toEqual([]); // its second line is not even written yet
    lines.written("a", "PRIVMSG #c :a2", true);
    lines.written("b", "PRIVMSG #c :b1", true);
    lines.heard();
    expect(settled).toEqual(["a", "b"]);
    lines.written("c", "PRIVMSG #c :c1", true);
    expect(lines.take().tags).toEqual(["c"]);
    expect(settled).toEqual(["a", "b"]);
    // Past the bound the oldest line is forgotten as if read: its message is settled.
    for (const tag of ["d", "e", "f", "g"]) lines.written(tag, `PRIVMSG #c :${tag}`, true);
    expect(settled).toEqual(["a", "b", "d"]);
  });
});
