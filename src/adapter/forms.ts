/**
 * Forms as data (the neutral shape of XEP-0004 data forms). Adapters describe registration fields
 * and ad-hoc command steps with these; the XMPP layer renders and parses the XML.
 */

export type FieldType =
  | "text-single"
  | "text-private"
  | "text-multi"
  | "boolean"
  | "list-single"
  | "list-multi"
  | "jid-single"
  | "fixed"
  | "hidden";

export interface FormField {
  var: string;
  type: FieldType;
  label?: string;
  desc?: string;
  required?: boolean;
  /** Current or default value(s). Booleans use "true"/"false". */
  value?: string | string[];
  options?: { label?: string; value: string }[];
}

export interface Form {
  title?: string;
  instructions?: string;
  fields: FormField[];
}

/** What a user submitted: field var → value(s), exactly as typed (the caller validates). */
export type FormValues = Record<string, string | string[]>;

/** The single value of a field, or undefined. */
export function formValue(values: FormValues, name: string): string | undefined {
  const v = values[name];
  return Array.isArray(v) ? v[0] : v;
}
