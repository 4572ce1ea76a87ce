/**
 * The texts the portal bot writes on Telegram: XMPP users' messages through the operator's
 * template (nick in bold by entity, the user's own styling kept), and the pinned "On XMPP" list.
 */
import { describe, expect, it } from "vitest";
import { boardText, renderTemplate } from "../../adapters/telegram/portal.ts";
import { uploadMethodFor } from "../../adapters/telegram/upload.ts";

const text = (t: string, spans: { kind: "bold" | "italic"; start: number; end: number }[] = []) => ({
  text: t,
  spans,
});

describe("portal template", () => {
  it("puts the nick in bold and keeps the user's styling, shifted past the nick", () => {
    const out = renderTemplate("{nick}: {text}", {
      nick: "alice",
      jid: "alice@example.org",
      text: text("say hi", [{ kind: "italic", start: 4, end: 6 }]),
    });
    expect(out).toEqual({
      text: "alice: say hi",
      spans: [
        { kind: "bold", start: 0, end: 5 },
        { kind: "italic", start: 11, end: 13 },
      ],
    });
  });

  it("fills {jid} only where the operator asked, and never parses markup in nicks or text", () => {
    const out = renderTemplate("[{nick} ({jid})] {text}", {
      nick: "<b>x</b>",
      jid: "a@b.c",
      text: text("*not bold*"),
    });
    expect(out.text).toBe("[<b>x</b> (a@b.c)] *not bold*");
    expect(out.spans).toEqual([{ kind: "bold", start: 1, end: 9 }]);
  });

  it("counts offsets in UTF-16 units, as Telegram does", () => {
    const out = renderTemplate("{nick}: {text}", {
      nick: "😀ann",
      jid: "",
      text: text("ok", [{ kind: "bold", start: 0, end: 2 }]),
    });
    expect(out.spans).toEqual([
      { kind: "bold", start: 0, end: 5 },
      { kind: "bold", start: 7, end: 9 },
    ]);
  });

  it("a file with no text leaves just the nick", () => {
    expect(renderTemplate("{nick}: {text}", { nick: "bob", jid: "", text: text("") }).text).toBe("bob:");
  });
});

describe("pinned occupant list", () => {
  it("names everyone, or says nobody is there", () => {
    expect(boardText([])).toBe("On XMPP: nobody right now");
    expect(boardText(["alice", "bob"])).toBe("On XMPP (2): alice, bob");
  });

  it("stays within one Telegram message however many there are", () => {
    const many = Array.from({ length: 2000 }, (_, i) => `user${i}`);
    const out = boardText(many);
    expect(out.length).toBeLessThanOrEqual(4096);
    expect(out).toMatch(/^On XMPP \(2000\): user0, user1, .* and \d+ more$/);
  });
});

describe("how a file is sent", () => {
  const file = (mediaType: string, size = 10) => ({ data: new Uint8Array(size), name: "f", mediaType });
  it("images as photos (up to Telegram's 10 MB), Ogg audio as voice, the rest as documents", () => {
    expect(uploadMethodFor(file("image/png"))).toBe("sendPhoto");
    expect(uploadMethodFor(file("image/jpeg", 11 * 1024 * 1024))).toBe("sendDocument");
    expect(uploadMethodFor(file("audio/ogg"))).toBe("sendVoice");
    expect(uploadMethodFor(file("image/gif"))).toBe("sendDocument");
    expect(uploadMethodFor(file("application/pdf"))).toBe("sendDocument");
  });
});
