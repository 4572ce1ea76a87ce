/**
 * XEP-0077 In-Band Registration, with its XEP-0004 form (§6 "extensibility"): the query we answer
 * and the submission we accept. Legacy (non-form) fields are accepted for the standard names
 * `username` and `password` so simple clients can register too.
 */
import { type Element, xml } from "@xmpp/component-core";
import type { Form, FormValues } from "../adapter/forms.ts";
import { parseSubmittedForm, renderForm } from "./forms.ts";
import { NS } from "./namespaces.ts";

export function registrationQuery(opts: { instructions: string; form: Form; registered: boolean }): Element {
  return xml(
    "query",
    { xmlns: NS.register },
    opts.registered ? xml("registered") : null,
    xml("instructions", {}, opts.instructions),
    renderForm(opts.form, "form"),
  );
}

export type RegistrationRequest =
  | { kind: "remove" }
  | { kind: "submit"; values: FormValues }
  | { kind: "invalid"; reason: string };

const LEGACY_FIELDS = ["username", "password", "nick", "email"];

export function parseRegistrationRequest(query: Element): RegistrationRequest {
  if (query.getChild("remove")) return { kind: "remove" };
  const x = query.getChild("x", NS.dataForms);
  if (x) {
    const parsed = parseSubmittedForm(x);
    return parsed.ok ? { kind: "submit", values: parsed.values } : { kind: "invalid", reason: parsed.reason };
  }
  const values: FormValues = {};
  for (const name of LEGACY_FIELDS) {
    const v = query.getChildText(name);
    if (v !== null) values[name] = v;
  }
  return { kind: "submit", values };
}
