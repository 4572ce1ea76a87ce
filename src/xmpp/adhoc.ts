/**
 * XEP-0050 Ad-Hoc Commands, the wire side: parsing a `<command/>` request and building the
 * response. The command sessions themselves live in core/commands.ts.
 */
import { type Element, xml } from "@xmpp/component-core";
import type { Form } from "../adapter/forms.ts";
import { renderForm } from "./forms.ts";
import { NS } from "./namespaces.ts";

export type CommandAction = "execute" | "next" | "prev" | "complete" | "cancel";

export interface CommandRequest {
  node: string;
  sessionId?: string;
  action: CommandAction;
  /** The submitted `<x type="submit"/>`, if any. */
  form?: Element;
}

const ACTIONS: ReadonlySet<string> = new Set(["execute", "next", "prev", "complete", "cancel"]);

/** Null when the action is not one XEP-0050 defines (→ bad-request + bad-action). */
export function parseCommandRequest(command: Element): CommandRequest | null {
  const action = command.attrs.action ?? "execute";
  if (!ACTIONS.has(action)) return null;
  const x = command.getChild("x", NS.dataForms);
  return {
    node: command.attrs.node ?? "",
    sessionId: command.attrs.sessionid || undefined,
    action: action as CommandAction,
    form: x,
  };
}

export type NoteType = "info" | "warn" | "error";

export function commandResponse(opts: {
  node: string;
  sessionId: string;
  status: "executing" | "completed" | "canceled";
  form?: Element;
  note?: { type: NoteType; text: string };
}): Element {
  const actions =
    opts.status === "executing" ? xml("actions", { execute: "complete" }, xml("complete")) : null;
  return xml(
    "command",
    { xmlns: NS.commands, node: opts.node, sessionid: opts.sessionId, status: opts.status },
    actions,
    opts.note ? xml("note", { type: opts.note.type }, opts.note.text) : null,
    opts.form ?? null,
  );
}

/** A form to fill (`executing`) as the `<x/>` child. */
export function commandForm(form: Form): Element {
  return renderForm(form, "form");
}

/** The XEP-0050 application error conditions. */
export function commandErrorCondition(
  name: "bad-action" | "bad-sessionid" | "session-expired" | "malformed-action" | "bad-payload",
): Element {
  return xml(name, { xmlns: NS.commands });
}
