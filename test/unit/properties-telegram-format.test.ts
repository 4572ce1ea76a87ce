/**
 * S4 of RELIABILITY.md, property half: Telegram formatting, both ways, as the adapter does it.
 *
 * XMPP → Telegram: a body goes through the core's XEP-0393 parser (`xmppToStyled`), `/me` becomes
 * italic over the whole text (session.ts `actionText`), a portal message gets the `{nick}: {text}`
 * template (`renderTemplate`), and `styledToEntities` builds the `entities` of the sendMessage
 * request, whose `text` is the styled text as it is (no parse_mode, ever). Each request is judged
 * by the fake Bot API's own pure validator (test/fakes/telegram/entities.ts `acceptEntities`, the
 * server's checks and wording) and by the documented nesting rules.
 *
 * Telegram → XMPP: a text with valid entities goes through `entitiesToStyled`, the core's
 * `bodyText` (XEP-0393 rendering) and back through `xmppToStyled`.
 *
 * 10⁴ runs per property, from the suite's fixed seed (test/support/fast-check-seed.ts).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { entitiesToStyled, styledToEntities } from "../../adapters/telegram/entities.ts";
import { renderTemplate } from "../../adapters/telegram/portal.ts";
import type { StyledText, StyleKind, StyleSpan } from "../../src/adapter/text.ts";
import { bodyText } from "../../src/core/render.ts";
import { styledToXmpp, xmppToStyled } from "../../src/xmpp/styling.ts";
import { acceptEntities, nestingProblems } from "../fakes/telegram/entities.ts";
import { ApiError } from "../fakes/telegram/errors.ts";
import { cleanText, finishText, normalizeUrl } from "../fakes/telegram/formatted-text.ts";
import type { TgEntity } from "../fakes/telegram/types.ts";
import {
  bodyFrom,
  hostileAtom,
  hostileBody,
  METACHARACTERS,
  TELEGRAM_PAYLOADS,
  UNICODE,
  word,
} from "../support/telegram-format-bodies.ts";

const RUNS = { numRuns: 10_000 };

// Plain throws inside properties: vitest's `expect` costs too much at 10⁴ runs; fast-check reports
// the counterexample with the message.
function holds(ok: boolean, what: () => string): void {
  if (!ok) throw new Error(what());
}

function none(problem: string | undefined): void {
  if (problem !== undefined) throw new Error(problem);
}

const trimBlanks = (s: string) => s.replace(/^[ \n]+|[ \n]+$/g, "");

// ---------------------------------------------------------------------------------------------
// The adapter's egress path, and what Telegram would make of it
// ---------------------------------------------------------------------------------------------

interface Request {
  text: string;
  entities: TgEntity[];
}

/** session.ts `actionText`: /me goes as italic text. */
function action(t: StyledText): StyledText {
  return { text: t.text, spans: [{ kind: "italic", start: 0, end: t.text.length }, ...t.spans] };
}

/** The styled text the adapter is asked to send for `body` (the core's part). */
function styledOf(body: string, portalNick?: string): StyledText {
  const isAction = body.startsWith("/me ");
  const parsed = xmppToStyled(isAction ? body.slice(4) : body);
  const own = isAction ? action(parsed) : parsed;
  return portalNick === undefined
    ? own
    : renderTemplate("{nick}: {text}", { nick: portalNick, jid: "alice@localhost", text: own });
}

/** The sendMessage `text` and `entities` the adapter builds, as they cross the wire (JSON). */
function requestOf(styled: StyledText): Request {
  const entities = styledToEntities(styled);
  return { text: styled.text, entities: JSON.parse(JSON.stringify(entities)) as TgEntity[] };
}

/** Telegram's answer to the request: undefined when accepted, else its error description. */
function refusal(req: Request): string | undefined {
  try {
    acceptEntities(req.text, req.entities);
    return undefined;
  } catch (error) {
    if (error instanceof ApiError) return error.description;
    throw error;
  }
}

/** The text Telegram stores and shows for a request it accepted. */
function shownText(req: Request): string {
  return finishText({ text: req.text, entities: acceptEntities(req.text, req.entities) }).text;
}

/** What the adapter may send: styles, code, and links to web addresses. */
const SENT_TYPES = new Set(["bold", "italic", "underline", "strikethrough", "code", "pre", "text_link"]);

/** Entity types that make something clickable or notify someone. */
const LINKING = new Set([
  "text_link",
  "text_mention",
  "mention",
  "url",
  "email",
  "bot_command",
  "hashtag",
  "cashtag",
]);

const DIRECTIVES = new Set(["*", "_", "~", "`"]);

/**
 * Nothing the user wrote is lost and nothing is added: `text` is `body` with only XEP-0393
 * directives removed — span markers, and the fence lines of preformatted blocks (`` ``` `` plus
 * an optional tag). Returns what is wrong, or undefined.
 */
function markersOnlyRemoved(body: string, text: string): string | undefined {
  let j = 0;
  for (let i = 0; i < body.length && j < text.length; i++) if (body[i] === text[j]) j++;
  if (j < text.length) return `text has ${JSON.stringify(text.slice(j))} that the body does not have there`;
  const extra = new Map<string, number>();
  for (const c of body) extra.set(c, (extra.get(c) ?? 0) + 1);
  for (const c of text) extra.set(c, (extra.get(c) ?? 0) - 1);
  // Fence lines may be dropped whole, inside quotes too.
  for (const line of body.split("\n")) {
    if (!/^(?:>\s?)*```/.test(line)) continue;
    for (const c of `${line}\n`) if (!DIRECTIVES.has(c)) extra.set(c, (extra.get(c) ?? 0) - 1);
  }
  for (const [c, n] of extra)
    if (n > 0 && !DIRECTIVES.has(c)) return `${n}× ${JSON.stringify(c)} of the body missing from the text`;
  return undefined;
}

/** Positions of `text` covered by spans (or entities) of each kind. */
function coverage(
  length: number,
  ranges: { kind: string; start: number; end: number }[],
): Map<string, boolean[]> {
  const map = new Map<string, boolean[]>();
  for (const r of ranges) {
    let marks = map.get(r.kind);
    if (!marks) {
      marks = new Array<boolean>(length).fill(false);
      map.set(r.kind, marks);
    }
    for (let i = Math.max(0, r.start); i < Math.min(length, r.end); i++) marks[i] = true;
  }
  return map;
}

const KIND_OF_TYPE: Record<string, StyleKind> = {
  bold: "bold",
  italic: "italic",
  underline: "underline",
  strikethrough: "strike",
  code: "monospace",
  pre: "monospace",
};

/**
 * The styling Telegram shows is the styling of `styled`: each character is bold/italic/… on
 * Telegram exactly when a span says so, except that code shows no other style (Telegram's rule).
 */
function stylingMismatch(styled: StyledText, entities: TgEntity[]): string | undefined {
  const n = styled.text.length;
  const want = coverage(
    n,
    styled.spans.filter((s) => s.kind !== "link"),
  );
  const got = coverage(
    n,
    entities.map((e) => ({
      kind: KIND_OF_TYPE[e.type] ?? e.type,
      start: e.offset,
      end: e.offset + e.length,
    })),
  );
  const mono = want.get("monospace") ?? new Array<boolean>(n).fill(false);
  for (const kind of ["bold", "italic", "underline", "strike", "monospace"]) {
    const w = want.get(kind);
    const g = got.get(kind);
    for (let i = 0; i < n; i++) {
      const expected = (w?.[i] ?? false) && (kind === "monospace" || !mono[i]);
      if (expected !== (g?.[i] ?? false))
        return `${kind} at ${i} (${JSON.stringify(styled.text.slice(i, i + 3))}): expected ${expected}`;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// XMPP → Telegram
// ---------------------------------------------------------------------------------------------

describe("S4: XMPP body → sendMessage request (10⁴ hostile bodies per property)", () => {
  const nick = fc.oneof(fc.constantFrom("alice", "*bob*", "<b>x</b>", "𝔘ser", "a\u202eb", "@durov"), word);
  const path = fc.option(nick, { nil: undefined }); // undefined: a session; a nick: a portal room

  it("Telegram accepts every request: no 400, entities within the text and nested as documented", () => {
    let runs = 0;
    let refused = 0;
    fc.assert(
      fc.property(hostileBody, path, (body, portalNick) => {
        runs++;
        const req = requestOf(styledOf(body, portalNick));
        const why = refusal(req);
        if (why !== undefined) refused++;
        none(why);
        none(nestingProblems(req.entities)[0]);
      }),
      RUNS,
    );
    expect({ runs, refused }).toEqual({ runs: 10_000, refused: 0 });
  });

  it("the text sent is the body without its XEP-0393 markers; Telegram shows it (minus its own clean-up)", () => {
    fc.assert(
      fc.property(hostileBody, (body) => {
        const styled = styledOf(body);
        const req = requestOf(styled);
        holds(req.text === styled.text, () => `sent ${JSON.stringify(req.text)}`);
        const own = body.startsWith("/me ") ? body.slice(4) : body;
        none(markersOnlyRemoved(own, req.text));
        // Telegram's own clean-up (control and bidi-override characters), and blanks trimmed at
        // the ends (fewer where a code block starts with them), nothing else.
        const clean = cleanText({ text: req.text, entities: [] }).text;
        const shown = shownText(req);
        holds(
          clean.includes(shown) && trimBlanks(shown) === trimBlanks(clean),
          () => `shown ${JSON.stringify(shown)}`,
        );
      }),
      RUNS,
    );
  });

  it("no link, mention, command or hashtag entity is sent, and styling survives as entities", () => {
    fc.assert(
      fc.property(hostileBody, path, (body, portalNick) => {
        const styled = styledOf(body, portalNick);
        const req = requestOf(styled);
        // An XMPP body has no link markup: every link on Telegram is one Telegram found in the text.
        none(req.entities.find((e) => LINKING.has(e.type))?.type);
        none(stylingMismatch(styled, req.entities));
      }),
      RUNS,
    );
  });

  // Styled text written as XEP-0393, with text free of directive characters: the parser must give
  // back exactly the text written, and the entities exactly the styling that survived.
  const plainAtom = fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...TELEGRAM_PAYLOADS.map((p) => p.replace(/[*_~`]/g, ""))) },
    { weight: 3, arbitrary: fc.constantFrom(...METACHARACTERS.filter((c) => !DIRECTIVES.has(c))) },
    { weight: 2, arbitrary: fc.constantFrom(...UNICODE) },
    { weight: 5, arbitrary: word },
    { weight: 4, arbitrary: fc.constantFrom(" ", " ", "\n") },
  );
  const spanKind = fc.constantFrom<StyleKind>("bold", "italic", "strike", "monospace", "underline");
  const writtenStyled = fc
    .tuple(
      bodyFrom(plainAtom, 25).filter((t) => t.length > 0),
      fc.array(fc.tuple(spanKind, fc.nat(), fc.nat({ max: 40 })), { maxLength: 6 }),
    )
    .map(
      ([text, raw]): StyledText => ({
        text,
        spans: raw.map(([kind, at, len]) => {
          const start = at % text.length;
          return { kind, start, end: Math.min(text.length, start + 1 + len) };
        }),
      }),
    );

  it("styled text written as XEP-0393 reaches Telegram with the same text and the same styling", () => {
    fc.assert(
      fc.property(writtenStyled, (written) => {
        const body = styledToXmpp(written);
        const styled = xmppToStyled(body);
        holds(styled.text === written.text, () => `parsed back as ${JSON.stringify(styled.text)}`);
        const req = requestOf(styled);
        none(refusal(req));
        none(nestingProblems(req.entities)[0]);
        none(stylingMismatch(styled, req.entities));
      }),
      RUNS,
    );
  });

  // Any StyledText an adapter could be handed, links included, with ranges that cut surrogate
  // pairs or fall outside the text.
  const linkTarget = fc.constantFrom(
    "https://example.com/",
    "http://example.org/a_b*c*",
    "https://пример.рф/",
    "tg://user?id=1",
    "tg://resolve?domain=x",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "localhost",
    "",
    "https://",
    "example.com",
  );
  const anySpan = fc.record({
    kind: fc.constantFrom<StyleKind>("bold", "italic", "underline", "strike", "monospace", "link"),
    start: fc.integer({ min: -3, max: 60 }),
    end: fc.integer({ min: -3, max: 60 }),
    url: fc.option(linkTarget, { nil: undefined }),
  });
  const anyStyled = fc.tuple(bodyFrom(hostileAtom, 12), fc.array(anySpan, { maxLength: 8 })).map(
    ([text, spans]): StyledText => ({
      text,
      spans: spans.map(
        (s): StyleSpan => (s.url === undefined ? { kind: s.kind, start: s.start, end: s.end } : s),
      ),
    }),
  );

  it("any styled text: accepted, and a link goes out only to a web address its span named", () => {
    fc.assert(
      fc.property(anyStyled, (styled) => {
        const req = requestOf(styled);
        none(refusal(req));
        none(nestingProblems(req.entities)[0]);
        const named = new Set(
          styled.spans.flatMap((s) => (s.kind === "link" && s.url ? [normalizeUrl(s.url)] : [])),
        );
        for (const e of req.entities) {
          holds(SENT_TYPES.has(e.type), () => `a ${e.type} entity`);
          if (e.type !== "text_link") continue;
          holds(named.has(e.url) && /^https?:\/\//.test(e.url ?? ""), () => `a link to ${e.url}`);
        }
      }),
      RUNS,
    );
  });

  // Cases found by these properties, kept as examples.
  it.each([
    // A span around code kept its parts outside the code: Postern dropped the whole bold span.
    [
      "*see `this` now*",
      "see this now",
      [
        ["bold", 0, 4],
        ["code", 4, 4],
        ["bold", 8, 4],
      ],
    ],
    [
      "/me `x` y",
      "x y",
      [
        ["code", 0, 1],
        ["italic", 1, 2],
      ],
    ],
  ])("regression: %j", (body, text, entities) => {
    const req = requestOf(styledOf(body));
    expect(req.text).toBe(text);
    expect(req.entities.map((e) => [e.type, e.offset, e.length])).toEqual(entities);
    expect(refusal(req)).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// Telegram → XMPP
// ---------------------------------------------------------------------------------------------

describe("S4: Telegram message → XMPP body (10⁴ messages per property)", () => {
  const TYPES = [
    "bold",
    "italic",
    "underline",
    "strikethrough",
    "spoiler",
    "code",
    "pre",
    "text_link",
    "url",
    "mention",
    "hashtag",
    "blockquote",
    "text_mention",
    "custom_emoji",
  ] as const;
  // A target with directive characters (`a_b*c*`) is written percent-encoded by the XEP-0393
  // renderer (src/xmpp/styling.ts, so that it cannot end a span around it): it keeps the styling
  // but not the target's spelling, so the exact property uses plain targets, the "holds all of
  // it" property all of them.
  const PLAIN_TARGETS = ["https://example.com/", "https://telegram.org/x?y=1", "tg://user?id=7"];
  const TARGETS = [...PLAIN_TARGETS, "http://example.org/a_b*c*"];

  /** A message as Telegram delivers it: random entities on code-point boundaries, fixed as the server would. */
  function telegramMessage(
    atoms: fc.Arbitrary<string>,
    targets: readonly string[],
  ): fc.Arbitrary<{ text: string; entities: TgEntity[] }> {
    return fc
      .tuple(
        bodyFrom(atoms, 25),
        fc.array(
          fc.tuple(fc.constantFrom(...TYPES), fc.nat(), fc.nat({ max: 30 }), fc.constantFrom(...targets)),
          {
            maxLength: 6,
          },
        ),
      )
      .map(([raw, picks]) => {
        const points = [...raw];
        const at = (k: number) => points.slice(0, k).join("").length;
        const entities = picks.flatMap(([type, start, len, url]): TgEntity[] => {
          if (points.length === 0) return [];
          const s = start % points.length;
          const e = Math.min(points.length, s + 1 + len);
          const entity: TgEntity = { type, offset: at(s), length: at(e) - at(s) };
          if (type === "text_link") entity.url = url;
          if (type === "text_mention") entity.user = { id: 7, is_bot: false, first_name: "Seven" };
          if (type === "custom_emoji") entity.custom_emoji_id = "5368324170671202286";
          return [entity];
        });
        // Through the server's checks and clean-up, as a received message would have been.
        return finishText({ text: raw, entities: acceptEntities(raw, entities) });
      });
  }

  /** What an XMPP client reads back from the body the core renders for this message. */
  function throughXmpp(msg: { text: string; entities: TgEntity[] }): { body: string; styled: StyledText } {
    const styled = entitiesToStyled(msg.text, msg.entities);
    const body = bodyText("normal", styled);
    return { body, styled: xmppToStyled(body) };
  }

  /** The text with each link's target written after it, as the XMPP rendering shows links. */
  function withTargets(msg: { text: string; entities: TgEntity[] }): string {
    const inserts: { at: number; url: string }[] = [];
    for (const e of msg.entities) {
      if (e.type !== "text_link" || e.url === undefined) continue;
      let end = e.offset + e.length;
      while (end > e.offset && /[\p{White_Space}\p{Z}]/u.test(msg.text[end - 1]!)) end--;
      if (msg.text.slice(e.offset, end) !== e.url) inserts.push({ at: end, url: e.url });
    }
    let out = "";
    let last = 0;
    for (const { at, url } of inserts.sort((a, b) => a.at - b.at)) {
      // Directive characters in a target are written percent-encoded (src/xmpp/styling.ts).
      const written = url.replace(/[*_~`]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
      out += `${msg.text.slice(last, at)} <${written}>`;
      last = at;
    }
    return out + msg.text.slice(last);
  }

  const plainAtom = fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...TELEGRAM_PAYLOADS.map((p) => p.replace(/[*_~`]/g, ""))) },
    { weight: 3, arbitrary: fc.constantFrom(...METACHARACTERS.filter((c) => !DIRECTIVES.has(c))) },
    { weight: 2, arbitrary: fc.constantFrom(...UNICODE) },
    { weight: 5, arbitrary: word },
    { weight: 3, arbitrary: fc.constantFrom(" ", "\n") },
  );

  it("text without XEP-0393 directive characters round-trips exactly (link targets shown after their text)", () => {
    fc.assert(
      fc.property(telegramMessage(plainAtom, PLAIN_TARGETS), (msg) => {
        const back = throughXmpp(msg).styled.text;
        holds(back === withTargets(msg), () => `read back as ${JSON.stringify(back)}`);
      }),
      RUNS,
    );
  });

  it("any text: the body holds all of it, adding only directives, line breaks and link targets", () => {
    fc.assert(
      fc.property(telegramMessage(hostileAtom, TARGETS), (msg) => {
        const { body } = throughXmpp(msg);
        none(markersOnlyRemoved(body, withTargets(msg)));
      }),
      RUNS,
    );
  });
});
