/**
 * S4 of RELIABILITY.md, end to end: 300 generated bodies full of HTML/Markdown metacharacters,
 * corpus B's Telegram payloads, links, mentions, astral characters and bidi marks, sent by an XMPP
 * user through Prosody and Postern to a Telegram private chat on the fake Bot API.
 *
 * Promised: Telegram refuses none of them (no `400`, in particular no `can't parse entities`), the
 * XMPP user gets no error, no request carries a link or mention entity, and the text Telegram
 * stored is what the user wrote with only the XEP-0393 styling directives taken out (and Telegram's
 * own clean-up: control and bidi-override characters, blanks at the ends).
 * The property half, with 10⁴ runs per property, is test/unit/properties-telegram-format.test.ts.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { xmppToStyled } from "../../src/xmpp/styling.ts";
import { cleanText } from "../fakes/telegram/formatted-text.ts";
import type { FakeBot } from "../fakes/telegram/server.ts";
import { registerWithForm } from "../support/registration-form.ts";
import { hostileBody } from "../support/telegram-format-bodies.ts";
import {
  startTelegramHarness,
  type TelegramHarness,
  TG_GATEWAY,
} from "../support/telegram-gateway-harness.ts";
import { waitUntil } from "../support/wait.ts";
import { type XmppTestClient, xml } from "../support/xmpp-client.ts";

const TOKEN = "7100001:AAs4-format-token-0123456789abc";
const ADA = 34_001;
const COUNT = 300;
const BATCH = 10;

let h: TelegramHarness;
let alice: XmppTestClient;
let bot: FakeBot;

/** Characters XML 1.0 cannot carry, and lone surrogates: no XMPP client can send them. */
const NOT_XML =
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const trimBlanks = (s: string) => s.replace(/^[ \n]+|[ \n]+$/g, "");

/** The text without styling directives, as Telegram shows it after its own clean-up. */
function expectedText(body: string): string {
  const own = body.startsWith("/me ") ? body.slice(4) : body;
  return trimBlanks(cleanText({ text: xmppToStyled(own).text, entities: [] }).text);
}

/** Bodies with something to show on Telegram (a message of blanks is refused, rightly). */
const BODIES = fc.sample(
  hostileBody.filter((b) => !NOT_XML.test(b) && /[\p{L}\p{N}]/u.test(expectedText(b))),
  { numRuns: COUNT, seed: 4_2026 },
);

beforeAll(async () => {
  h = await startTelegramHarness({
    settings:
      "pacing: { privateChat: { max: 1000, windowMs: 1000 }, global: { max: 1000, windowMs: 1000 }, marginMs: 0 }",
  });
  bot = h.telegram.addBot({ token: TOKEN, username: "s4_bot", first_name: "S4" });
  h.telegram.addUser({ id: ADA, first_name: "Ada" });
  alice = await h.login("alice");
  await registerWithForm(alice, TG_GATEWAY, { token: TOKEN });
  await alice.sendPresence({ to: TG_GATEWAY });
  await waitUntil(() => bot.isLongPolling(), "the bot long-polling", 20_000);
  // Ada opens the private chat, as Telegram requires before a bot may write to her.
  const since = alice.mark();
  h.telegram.userSends(TOKEN, { from: ADA, text: "hello" });
  await alice.waitFor(
    (s) => s.name === "message" && s.getChildText("body") === "hello",
    "Ada's first message",
    { since, timeoutMs: 20_000 },
  );
}, 90_000);

afterAll(async () => {
  await h?.stop();
});

describe("S4: Telegram formatting end to end", () => {
  it("300 hostile bodies reach Telegram: 0 refused, 0 errors, no link entities, the text as written", {
    timeout: 60_000,
  }, async () => {
    const since = alice.mark();
    const startedAt = Date.now();
    const sends = () => bot.sent().filter((s) => s.method === "sendMessage" && s.at >= startedAt);
    const errors = () =>
      alice.stanzas.slice(since).filter((s) => s.name === "message" && s.attrs.type === "error");
    // In batches well under Postern's per-user queue (S7 answers a flood with resource-constraint).
    for (let from = 0; from < BODIES.length; from += BATCH) {
      const batch = BODIES.slice(from, from + BATCH);
      for (const [k, body] of batch.entries())
        await alice.send(
          xml(
            "message",
            { to: `${ADA}@${TG_GATEWAY}`, type: "chat", id: `s4-${from + k}` },
            xml("body", {}, body),
          ),
        );
      const upTo = from + batch.length;
      await waitUntil(
        () => sends().length + errors().length >= upTo,
        `messages up to #${upTo} sent to Telegram or answered with an error`,
        20_000,
      );
    }

    const requests = h.telegram.requests().filter((r) => r.method === "sendMessage" && r.at >= startedAt);
    const refused = requests.filter((r) => r.status !== 200);
    const linking = requests.flatMap((r) => {
      const raw = r.params.entities;
      const entities = (typeof raw === "string" ? JSON.parse(raw) : (raw ?? [])) as { type: string }[];
      return entities.filter(
        (e) => !["bold", "italic", "underline", "strikethrough", "code", "pre"].includes(e.type),
      );
    });
    const stored = sends()
      .map((s) => trimBlanks(s.message?.text ?? ""))
      .sort();
    const written = BODIES.map(expectedText).sort();
    const differing = written.filter((t, i) => stored[i] !== t);
    expect({
      sent: requests.length,
      refused: refused.map((r) => r.status),
      errors: errors().map((s) => s.getChild("error")?.toString()),
      linking,
      differing,
    }).toEqual({ sent: COUNT, refused: [], errors: [], linking: [], differing: [] });
  });
});
