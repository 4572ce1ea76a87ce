/**
 * XEP-0004 Data Forms: renders the neutral `Form` (src/adapter/forms.ts) as `<x xmlns="jabber:x:data"/>`,
 * parses what a user submits, and builds multi-item results (`<reported/>` and `<item/>`).
 *
 * The parser is bounded, because a submitted form comes from outside and its values go on to
 * legacy networks (RELIABILITY.md S1, corpus A row 34): too many fields, too many values or too
 * long a value is refused with a reason, never truncated silently.
 */

import { type Element, xml } from "@xmpp/component-core";
import type { Form, FormField, FormValues } from "../adapter/forms.ts";
import { NS } from "./namespaces.ts";

/** At most this many `<field/>` elements in a submitted form. */
export const MAX_FIELDS = 200;
/** At most this many `<value/>` elements in one submitted field. */
export const MAX_VALUES_PER_FIELD = 50;
/** At most this many bytes of UTF-8 in one submitted value (8 KiB). */
export const MAX_VALUE_BYTES = 8192;

/** The hidden field naming the form's purpose (XEP-0068). */
const FORM_TYPE = "FORM_TYPE";

/** XEP-0004 §3.2: only these field types may carry more than one `<value/>`. */
const MULTI_VALUE_TYPES: ReadonlySet<string> = new Set(["list-multi", "jid-multi", "text-multi", "hidden"]);
/** Types whose submitted values are always reported as a list, even with one value or none. */
const LIST_TYPES: ReadonlySet<string> = new Set(["list-multi", "jid-multi", "text-multi"]);

/**
 * Renders a form as `<x xmlns="jabber:x:data" type=…/>`.
 *
 * What each type carries (XEP-0004 §3):
 * - `form`: everything — title, instructions, and per field its type, label, description,
 *   `<required/>`, values and options.
 * - `result`: title, and per field its type, label and values.
 * - `submit`: per field only its type and values; `fixed` fields are left out (nothing to submit).
 *
 * Newlines, which XEP-0004 asks not to put in titles, descriptions and single values, are turned
 * into what the XEP suggests instead: one `<instructions/>` per line, one `<value/>` per line of a
 * `text-multi`, one `fixed` field per line of a fixed text, spaces elsewhere.
 */
export function renderForm(form: Form, type: "form" | "result" | "submit"): Element {
  const x = xml("x", { xmlns: NS.dataForms, type });
  if (type !== "submit" && form.title !== undefined) x.append(xml("title", {}, oneLine(form.title)));
  if (type === "form" && form.instructions !== undefined) {
    for (const line of lines(form.instructions)) x.append(xml("instructions", {}, line));
  }
  for (const field of form.fields) {
    if (field.type === "fixed" && type === "submit") continue;
    x.append(...renderField(field, type));
  }
  return x;
}

function renderField(field: FormField, formType: "form" | "result" | "submit"): Element[] {
  const values = fieldValues(field);
  if (field.type === "fixed" && values.length > 1) {
    // XEP-0004 §3.3: a multi-line fixed text is sent as several fixed fields, one line each;
    // only the first keeps the var, which must stay unique.
    return values.map(
      (v, i) => renderField({ ...field, value: v, var: i === 0 ? field.var : "" }, formType)[0]!,
    );
  }

  const attrs: Record<string, string> = { type: field.type };
  if (field.var !== "") attrs.var = field.var;
  if (formType !== "submit" && field.label !== undefined) attrs.label = oneLine(field.label);
  const el = xml("field", attrs);
  if (formType === "form") {
    if (field.desc !== undefined) el.append(xml("desc", {}, oneLine(field.desc)));
    if (field.required) el.append(xml("required"));
  }
  for (const v of values) el.append(xml("value", {}, v));
  if (formType === "form" && (field.type === "list-single" || field.type === "list-multi")) {
    for (const option of field.options ?? []) {
      const optionAttrs: Record<string, string> = {};
      if (option.label !== undefined) optionAttrs.label = oneLine(option.label);
      el.append(xml("option", optionAttrs, xml("value", {}, option.value)));
    }
  }
  return [el];
}

/** The `<value/>` texts of a field, following the XEP's rules on how many a type may carry. */
function fieldValues(field: FormField): string[] {
  const given = field.value === undefined ? [] : Array.isArray(field.value) ? field.value : [field.value];
  if (field.type === "text-multi" || field.type === "fixed") return given.flatMap(lines);
  if (MULTI_VALUE_TYPES.has(field.type)) return given;
  // Single-valued types keep the first value; a newline in it would not survive most clients.
  return given.slice(0, 1).map((v) => (field.type === "text-private" ? v : oneLine(v)));
}

function lines(s: string): string[] {
  return s.split(/\r\n|\r|\n/);
}

function oneLine(s: string): string {
  return s.replace(/\r\n|\r|\n/g, " ");
}

/** What a submitted form holds, or why it was refused. */
export type SubmittedForm =
  | { ok: true; values: FormValues /** The hidden FORM_TYPE field's value, if any. */; formType?: string }
  | { ok: false; reason: string };

/**
 * Reads a form a user submitted (`<x xmlns="jabber:x:data" type="submit"/>`).
 *
 * Values come back per var, exactly as sent (the caller validates): a list for `list-multi`,
 * `jid-multi` and `text-multi` fields and for any field sent with several values; otherwise a
 * string, `""` when the field had no value. The FORM_TYPE field is returned apart, as `formType`.
 * `fixed` fields carry nothing to submit and are skipped.
 *
 * Refused: another form type, a field without var, a var given twice, more than MAX_FIELDS
 * fields, more than MAX_VALUES_PER_FIELD values in one field, a value over MAX_VALUE_BYTES.
 */
export function parseSubmittedForm(x: Element): SubmittedForm {
  if (!x.is("x", NS.dataForms)) return { ok: false, reason: "not a jabber:x:data form" };
  const type = x.attrs.type;
  if (type !== "submit") return { ok: false, reason: `form type is ${quote(type ?? "")}, not "submit"` };

  const fields = x.getChildren("field");
  // No prototype: a field named "__proto__" must be data, not a way to swap the object's prototype.
  const values: FormValues = Object.create(null);
  const seen = new Set<string>();
  let formType: string | undefined;

  for (const [index, field] of fields.entries()) {
    const name = field.attrs.var;
    const label = name ? `field ${quote(name)}` : `field #${index + 1}`;
    if (index >= MAX_FIELDS)
      return { ok: false, reason: `too many fields (more than ${MAX_FIELDS}), at ${label}` };
    const fieldType = field.attrs.type ?? "text-single";
    if (fieldType === "fixed") continue;
    if (!name) return { ok: false, reason: `${label} has no var` };
    if (seen.has(name)) return { ok: false, reason: `duplicate ${label}` };
    seen.add(name);

    const texts = field.getChildren("value").map((v) => v.getText());
    if (texts.length > MAX_VALUES_PER_FIELD) {
      return { ok: false, reason: `${label} has more than ${MAX_VALUES_PER_FIELD} values` };
    }
    if (texts.some((t) => Buffer.byteLength(t, "utf8") > MAX_VALUE_BYTES)) {
      return { ok: false, reason: `${label} has a value over ${MAX_VALUE_BYTES} bytes` };
    }

    if (name === FORM_TYPE) formType = texts[0] ?? "";
    else values[name] = LIST_TYPES.has(fieldType) || texts.length > 1 ? texts : (texts[0] ?? "");
  }
  return formType === undefined ? { ok: true, values } : { ok: true, values, formType };
}

/** A var for use in a reason: quoted, and cut short so a hostile var cannot bloat error texts. */
function quote(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
}

/**
 * A multi-item result (XEP-0004 §3.4), e.g. the answer of an ad-hoc command listing things:
 * `<reported/>` names the columns, one `<item/>` per row holds a value for every column (empty
 * when the row has none, since each item must contain every reported field). Cells are single
 * lines: newlines become spaces.
 */
export function renderResultTable(
  title: string,
  columns: { var: string; label: string }[],
  rows: Record<string, string>[],
): Element {
  const x = xml("x", { xmlns: NS.dataForms, type: "result" }, xml("title", {}, oneLine(title)));
  x.append(
    xml(
      "reported",
      {},
      columns.map((c) => xml("field", { var: c.var, label: oneLine(c.label), type: "text-single" })),
    ),
  );
  for (const row of rows) {
    x.append(
      xml(
        "item",
        {},
        columns.map((c) => xml("field", { var: c.var }, xml("value", {}, oneLine(row[c.var] ?? "")))),
      ),
    );
  }
  return x;
}
