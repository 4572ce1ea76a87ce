/**
 * XEP-0313 Message Archive Management (urn:xmpp:mam:2) with XEP-0059 Result Set Management: the
 * query we accept and the result messages we send. The archive itself is in store/archive.ts.
 */
import { type Element, xml } from "@xmpp/component-core";
import type { Form } from "../adapter/forms.ts";
import { delayElement } from "./basic-iq.ts";
import { parseSubmittedForm } from "./forms.ts";
import { NS } from "./namespaces.ts";

export interface MamQuery {
  queryId?: string;
  start?: Date;
  end?: Date;
  with?: string;
  after?: string;
  before?: string;
  max: number;
}

/** Page size when the client asks for none, and the most we ever send in one page. */
export const MAM_DEFAULT_MAX = 50;
export const MAM_LIMIT = 250;

/** The query form advertised by `<iq type="get"><query xmlns="urn:xmpp:mam:2"/>`. */
export const mamQueryForm: Form = {
  fields: [
    { var: "FORM_TYPE", type: "hidden", value: NS.mam },
    { var: "with", type: "jid-single" },
    { var: "start", type: "text-single" },
    { var: "end", type: "text-single" },
  ],
};

function parseDate(value: string | string[] | undefined): Date | undefined | "invalid" {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? "invalid" : date;
}

/** A query, or a reason it is malformed (→ bad-request). */
export function parseMamQuery(query: Element): MamQuery | { error: string } {
  const result: MamQuery = { queryId: query.attrs.queryid, max: MAM_DEFAULT_MAX };
  const x = query.getChild("x", NS.dataForms);
  if (x) {
    const form = parseSubmittedForm(x);
    if (!form.ok) return { error: form.reason };
    const start = parseDate(form.values.start);
    const end = parseDate(form.values.end);
    if (start === "invalid" || end === "invalid")
      return { error: "start and end must be XEP-0082 date-times" };
    result.start = start;
    result.end = end;
    const w = form.values.with;
    result.with = (Array.isArray(w) ? w[0] : w) || undefined;
  }
  const set = query.getChild("set", NS.rsm);
  if (set) {
    const max = set.getChildText("max");
    if (max !== null) {
      if (!/^\d{1,6}$/.test(max)) return { error: "RSM max must be a number" };
      result.max = Math.min(Number(max), MAM_LIMIT);
    }
    const after = set.getChildText("after");
    if (after) result.after = after;
    const before = set.getChild("before");
    if (before) result.before = before.getText();
  }
  return result;
}

/** One archived message, forwarded to the querying client (XEP-0313 §4.2). */
export function mamResultMessage(o: {
  to: string;
  from: string;
  queryId: string | undefined;
  archiveId: string;
  stamp: Date;
  message: Element;
}): Element {
  return xml(
    "message",
    { to: o.to, from: o.from, id: `${o.archiveId}-${o.queryId ?? ""}` },
    xml(
      "result",
      { xmlns: NS.mam, queryid: o.queryId, id: o.archiveId },
      xml("forwarded", { xmlns: NS.forward }, delayElement(o.stamp, o.from), o.message),
    ),
  );
}

export function mamFin(opts: { complete: boolean; first?: string; last?: string; count?: number }): Element {
  return xml(
    "fin",
    { xmlns: NS.mam, complete: opts.complete ? "true" : undefined },
    xml(
      "set",
      { xmlns: NS.rsm },
      opts.first ? xml("first", {}, opts.first) : null,
      opts.last ? xml("last", {}, opts.last) : null,
      opts.count !== undefined ? xml("count", {}, String(opts.count)) : null,
    ),
  );
}
