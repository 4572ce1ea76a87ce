import { type Element, xml } from "@xmpp/component-core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Form, FormField } from "../../src/adapter/forms.ts";
import {
  MAX_FIELDS,
  MAX_VALUE_BYTES,
  MAX_VALUES_PER_FIELD,
  parseSubmittedForm,
  renderForm,
  renderResultTable,
} from "../../src/xmpp/forms.ts";

const NS = "jabber:x:data";

/** Parses serialized XML the way stanzas arrive, so tests cover escaping too. */
function parseXml(s: string): Element {
  const parser = new xml.Parser();
  let found: Element | undefined;
  parser.on("element", (el: Element) => {
    found = el;
  });
  parser.write(`<wrapper>${s}</wrapper>`);
  if (!found) throw new Error("no element parsed");
  return found;
}

function submitted(...fields: Element[]): Element {
  return xml("x", { xmlns: NS, type: "submit" }, ...fields);
}

function field(name: string | undefined, values: string[], type?: string): Element {
  return xml(
    "field",
    { var: name, type },
    values.map((v) => xml("value", {}, v)),
  );
}

const REGISTRATION: Form = {
  title: "Register with IRC",
  instructions: "Pick a nick.\nThe password is optional.",
  fields: [
    { var: "FORM_TYPE", type: "hidden", value: "urn:postern:register:irc" },
    { var: "intro", type: "fixed", value: "Your IRC identity" },
    { var: "nick", type: "text-single", label: "Nickname", desc: "Shown to others", required: true },
    { var: "password", type: "text-private", label: "NickServ password" },
    { var: "autojoin", type: "boolean", label: "Rejoin rooms", value: "true" },
    {
      var: "server",
      type: "list-single",
      label: "Server",
      value: "libera",
      options: [{ label: "Libera.Chat", value: "libera" }, { value: "oftc" }],
    },
    { var: "channels", type: "list-multi", value: ["#a", "#b"], options: [{ value: "#a" }, { value: "#b" }] },
    { var: "motd", type: "text-multi", value: "line one\nline two" },
    { var: "owner", type: "jid-single", value: "alice@example.org" },
  ],
};

describe("renderForm", () => {
  it("renders a form to fill with everything XEP-0004 defines", () => {
    const x = renderForm(REGISTRATION, "form");
    expect(x.is("x", NS)).toBe(true);
    expect(x.attrs.type).toBe("form");
    expect(x.getChildText("title")).toBe("Register with IRC");
    expect(x.getChildren("instructions").map((i) => i.getText())).toEqual([
      "Pick a nick.",
      "The password is optional.",
    ]);

    const fields = x.getChildren("field");
    expect(fields.map((f) => f.attrs.var)).toEqual(REGISTRATION.fields.map((f) => f.var));
    expect(fields.map((f) => f.attrs.type)).toEqual(REGISTRATION.fields.map((f) => f.type));

    const nick = fields[2]!;
    expect(nick.attrs.label).toBe("Nickname");
    expect(nick.getChildText("desc")).toBe("Shown to others");
    expect(nick.getChild("required")).toBeDefined();
    expect(nick.getChildren("value")).toEqual([]);

    const server = fields[5]!;
    expect(server.getChildText("value")).toBe("libera");
    expect(
      server.getChildren("option").map((o) => ({ label: o.attrs.label, value: o.getChildText("value") })),
    ).toEqual([
      { label: "Libera.Chat", value: "libera" },
      { label: undefined, value: "oftc" },
    ]);
    expect(fields[6]!.getChildren("value").map((v) => v.getText())).toEqual(["#a", "#b"]);
    // text-multi: one <value/> per line (XEP-0004 §3.3).
    expect(fields[7]!.getChildren("value").map((v) => v.getText())).toEqual(["line one", "line two"]);
    expect(fields[3]!.getChild("required")).toBeUndefined();
  });

  it("puts options only on list fields and at most one value on single-valued fields", () => {
    const x = renderForm(
      {
        fields: [
          { var: "t", type: "text-single", value: ["one", "two"], options: [{ value: "ignored" }] },
          { var: "h", type: "hidden", value: ["a", "b"] },
        ],
      },
      "form",
    );
    const [t, h] = x.getChildren("field");
    expect(t!.getChildren("value").map((v) => v.getText())).toEqual(["one"]);
    expect(t!.getChildren("option")).toEqual([]);
    expect(h!.getChildren("value").map((v) => v.getText())).toEqual(["a", "b"]);
  });

  it("keeps newlines out of titles, labels, descriptions and single values", () => {
    const x = renderForm(
      {
        title: "a\nb",
        fields: [{ var: "f", type: "text-single", label: "l\nm", desc: "d\r\ne", value: "v\nw" }],
      },
      "form",
    );
    expect(x.getChildText("title")).toBe("a b");
    const f = x.getChild("field")!;
    expect(f.attrs.label).toBe("l m");
    expect(f.getChildText("desc")).toBe("d e");
    expect(f.getChildText("value")).toBe("v w");
  });

  it("splits a multi-line fixed text into one fixed field per line, keeping the var unique", () => {
    const x = renderForm({ fields: [{ var: "note", type: "fixed", value: "first\nsecond" }] }, "form");
    const fields = x.getChildren("field");
    expect(fields.map((f) => [f.attrs.var, f.getChildText("value")])).toEqual([
      ["note", "first"],
      [undefined, "second"],
    ]);
  });

  it("renders a submission with types and values only, and no fixed fields", () => {
    const x = renderForm(REGISTRATION, "submit");
    expect(x.attrs.type).toBe("submit");
    expect(x.getChild("title")).toBeUndefined();
    expect(x.getChild("instructions")).toBeUndefined();
    const fields = x.getChildren("field");
    expect(fields.map((f) => f.attrs.var)).not.toContain("intro");
    for (const f of fields) {
      expect(f.attrs.label).toBeUndefined();
      expect(f.getChild("desc")).toBeUndefined();
      expect(f.getChild("required")).toBeUndefined();
      expect(f.getChild("option")).toBeUndefined();
    }
  });

  it("renders a result with labels and values but nothing to fill in", () => {
    const x = renderForm(REGISTRATION, "result");
    expect(x.attrs.type).toBe("result");
    expect(x.getChildText("title")).toBe("Register with IRC");
    expect(x.getChild("instructions")).toBeUndefined();
    const nick = x.getChildren("field")[2]!;
    expect(nick.attrs.label).toBe("Nickname");
    expect(nick.getChild("required")).toBeUndefined();
    expect(nick.getChild("desc")).toBeUndefined();
  });
});

describe("parseSubmittedForm", () => {
  it("round-trips a rendered submission through XML", () => {
    const filled: Form = {
      fields: REGISTRATION.fields.map(
        (f): FormField => (f.var === "nick" ? { ...f, value: "alice <&>" } : f),
      ),
    };
    const wire = renderForm(filled, "submit").toString();
    expect(parseSubmittedForm(parseXml(wire))).toEqual({
      ok: true,
      formType: "urn:postern:register:irc",
      values: {
        nick: "alice <&>",
        password: "",
        autojoin: "true",
        server: "libera",
        channels: ["#a", "#b"],
        motd: ["line one", "line two"],
        owner: "alice@example.org",
      },
    });
  });

  it("round-trips generated submissions", () => {
    const name = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s !== "FORM_TYPE");
    const text = fc.string({ unit: "grapheme", maxLength: 30 }).map((s) => s.replace(/[\r\n]/g, ""));
    const entry = fc.oneof(
      fc.record({ type: fc.constant<"text-single">("text-single"), value: text }),
      fc.record({ type: fc.constant<"list-multi">("list-multi"), value: fc.array(text, { maxLength: 5 }) }),
    );
    fc.assert(
      fc.property(fc.dictionary(name, entry, { maxKeys: 20 }), (spec) => {
        const form: Form = {
          fields: Object.entries(spec).map(([v, e]) => ({ var: v, type: e.type, value: e.value })),
        };
        const parsed = parseSubmittedForm(parseXml(renderForm(form, "submit").toString()));
        const expected = Object.fromEntries(Object.entries(spec).map(([v, e]) => [v, e.value]));
        expect(parsed).toEqual({ ok: true, values: expected });
      }),
      { numRuns: 500 },
    );
  });

  it("reports no formType when the FORM_TYPE field is absent", () => {
    const parsed = parseSubmittedForm(submitted(field("a", ["1"])));
    expect(parsed).toEqual({ ok: true, values: { a: "1" } });
    expect(parsed.ok && "formType" in parsed).toBe(false);
  });

  it("returns values as sent: lists for multi fields and repeated values, '' for none", () => {
    const parsed = parseSubmittedForm(
      submitted(
        field("empty", []),
        field("emptyList", [], "list-multi"),
        field("one", ["x"], "jid-multi"),
        field("untyped", ["a", "b"]),
        field("spaces", ["  padded  "]),
      ),
    );
    expect(parsed).toEqual({
      ok: true,
      values: { empty: "", emptyList: [], one: ["x"], untyped: ["a", "b"], spaces: "  padded  " },
    });
  });

  it("skips fixed fields, with or without var", () => {
    const parsed = parseSubmittedForm(submitted(field(undefined, ["text"], "fixed"), field("a", ["1"])));
    expect(parsed).toEqual({ ok: true, values: { a: "1" } });
  });

  it("accepts only type='submit' in the data forms namespace", () => {
    for (const type of ["form", "result", "cancel", undefined]) {
      const parsed = parseSubmittedForm(xml("x", { xmlns: NS, type }, field("a", ["1"])));
      expect(parsed.ok, String(type)).toBe(false);
    }
    const wrongNs = parseSubmittedForm(xml("x", { xmlns: "jabber:x:oob", type: "submit" }));
    expect(wrongNs).toEqual({ ok: false, reason: "not a jabber:x:data form" });
    const cancel = parseSubmittedForm(xml("x", { xmlns: NS, type: "cancel" }));
    expect(cancel.ok === false && cancel.reason).toContain("cancel");
  });

  it("refuses a field without var", () => {
    const parsed = parseSubmittedForm(submitted(field("a", ["1"]), field(undefined, ["2"])));
    expect(parsed).toEqual({ ok: false, reason: "field #2 has no var" });
  });

  it("refuses a var given twice, naming it", () => {
    const parsed = parseSubmittedForm(submitted(field("nick", ["a"]), field("nick", ["b"])));
    expect(parsed).toEqual({ ok: false, reason: 'duplicate field "nick"' });
  });

  it(`accepts ${MAX_FIELDS} fields and refuses one more, naming it`, () => {
    const fields = Array.from({ length: MAX_FIELDS }, (_, i) => field(`f${i}`, ["v"]));
    expect(parseSubmittedForm(submitted(...fields)).ok).toBe(true);
    const parsed = parseSubmittedForm(submitted(...fields, field("extra", ["v"])));
    expect(parsed.ok).toBe(false);
    expect(parsed.ok === false && parsed.reason).toContain('"extra"');
    expect(parsed.ok === false && parsed.reason).toContain(String(MAX_FIELDS));
  });

  it(`accepts ${MAX_VALUES_PER_FIELD} values in a field and refuses one more, naming the field`, () => {
    const values = Array.from({ length: MAX_VALUES_PER_FIELD }, (_, i) => `v${i}`);
    expect(parseSubmittedForm(submitted(field("jids", values, "jid-multi"))).ok).toBe(true);
    const parsed = parseSubmittedForm(submitted(field("jids", [...values, "more"], "jid-multi")));
    expect(parsed).toEqual({
      ok: false,
      reason: `field "jids" has more than ${MAX_VALUES_PER_FIELD} values`,
    });
  });

  it(`accepts a value of ${MAX_VALUE_BYTES} bytes and refuses one more byte, naming the field`, () => {
    expect(parseSubmittedForm(submitted(field("password", ["x".repeat(MAX_VALUE_BYTES)]))).ok).toBe(true);
    const parsed = parseSubmittedForm(submitted(field("password", ["x".repeat(MAX_VALUE_BYTES + 1)])));
    expect(parsed).toEqual({
      ok: false,
      reason: `field "password" has a value over ${MAX_VALUE_BYTES} bytes`,
    });
    // Counted in UTF-8 bytes, not characters.
    const wide = parseSubmittedForm(submitted(field("name", ["é".repeat(MAX_VALUE_BYTES / 2 + 1)])));
    expect(wide.ok).toBe(false);
  });

  it("applies the bounds to FORM_TYPE too", () => {
    const parsed = parseSubmittedForm(
      submitted(field("FORM_TYPE", ["x".repeat(MAX_VALUE_BYTES + 1)], "hidden")),
    );
    expect(parsed.ok).toBe(false);
  });

  it("cuts a hostile var short in its reason", () => {
    const long = "v".repeat(10_000);
    const parsed = parseSubmittedForm(submitted(field(long, ["a"]), field(long, ["b"])));
    expect(parsed.ok === false && parsed.reason.length).toBeLessThan(100);
  });
});

describe("renderResultTable", () => {
  it("renders reported columns and one item per row, every column in every item", () => {
    const x = renderResultTable(
      "Your rooms",
      [
        { var: "jid", label: "Room" },
        { var: "topic", label: "Topic" },
      ],
      [{ jid: "#a@gw", topic: "line\nbreak" }, { jid: "#b@gw" }],
    );
    expect(x.is("x", NS)).toBe(true);
    expect(x.attrs.type).toBe("result");
    expect(x.getChildText("title")).toBe("Your rooms");
    const reported = x.getChild("reported")!.getChildren("field");
    expect(reported.map((f) => [f.attrs.var, f.attrs.label, f.attrs.type])).toEqual([
      ["jid", "Room", "text-single"],
      ["topic", "Topic", "text-single"],
    ]);
    expect(reported.every((f) => f.getChild("value") === undefined)).toBe(true);
    const items = x
      .getChildren("item")
      .map((item) => item.getChildren("field").map((f) => [f.attrs.var, f.getChildText("value")]));
    expect(items).toEqual([
      [
        ["jid", "#a@gw"],
        ["topic", "line break"],
      ],
      [
        ["jid", "#b@gw"],
        ["topic", ""],
      ],
    ]);
  });

  it("renders an empty table with its header", () => {
    const x = renderResultTable("Nothing", [{ var: "a", label: "A" }], []);
    expect(x.getChild("reported")!.getChildren("field")).toHaveLength(1);
    expect(x.getChildren("item")).toEqual([]);
  });
});

describe("hostile field names", () => {
  it("keeps a field named __proto__ as data, without touching the prototype", () => {
    const x = renderForm(
      {
        fields: [
          { var: "__proto__", type: "text-single", value: "evil" },
          { var: "nick", type: "text-single", value: "al" },
        ],
      },
      "submit",
    );
    const parsed = parseSubmittedForm(x);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(Object.getPrototypeOf(parsed.values)).toBeNull();
    expect(Object.getOwnPropertyDescriptor(parsed.values, "__proto__")?.value).toBe("evil");
    expect(parsed.values.nick).toBe("al");
  });
});
