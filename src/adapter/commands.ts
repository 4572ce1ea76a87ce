/**
 * Ad-hoc commands (XEP-0050) as plain step functions. The core keeps the command session
 * (sessionid, the state between steps, which actions are allowed) and renders the forms.
 */
import type { KeyValueState } from "./context.ts";
import type { ConversationRef } from "./conversation.ts";
import type { Form, FormValues } from "./forms.ts";
import type { Session } from "./session.ts";

export interface CommandContext<S = unknown> {
  /** The bare JID running the command. */
  user: string;
  isAdmin: boolean;
  /** The user's open session on this gateway, if any. */
  session: Session | undefined;
  /** The user's private state on this gateway (the same as `SessionContext.state`), session or not. */
  userState: KeyValueState;
  /** The room or contact the command was run on (its JID), for commands offered there. */
  target: ConversationRef | undefined;
  /** Values submitted with this step (empty on the first call). */
  values: FormValues;
  /** What the previous step returned as `state`. */
  state: S | undefined;
}

export type CommandStep<S = unknown> =
  /** Ask for more: show `form`, call again with the answers and `state`. */
  | { kind: "form"; form: Form; state: S }
  /** Finished; `note` is shown to the user, `form` (optional) is a result form (tables etc.). */
  | { kind: "done"; note?: string; form?: Form }
  /** Refused or invalid; shown as an error note, the command ends. */
  | { kind: "error"; message: string };

export interface AdhocCommand<S = unknown> {
  /** Unique within the gateway (e.g. "irc:configure-server"). */
  node: string;
  name: string;
  /** `admin` commands are listed and runnable only for the gateway's configured admins. */
  audience: "user" | "admin";
  /** Only listed for (and runnable by) registered users. */
  requiresRegistration: boolean;
  /** Where it is offered: on the gateway JID (default), or on each room's JID. */
  on?: "gateway" | "room";
  step(context: CommandContext<S>): Promise<CommandStep<S>>;
}
