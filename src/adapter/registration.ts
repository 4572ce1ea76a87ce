/**
 * What a user must give to use a network (XEP-0077 in-band registration and the "Register"
 * ad-hoc command). Fields marked secret are encrypted at rest and never logged or echoed back.
 */
import type { FormField } from "./forms.ts";

export interface RegistrationField extends FormField {
  /** Encrypted at rest; shown back to the user as empty, never with its value. */
  secret?: boolean;
}

export interface RegistrationSpec {
  instructions: string;
  /**
   * True when users of allowed domains may use the network without registering first (IRC, as
   * Biboumi does: a bookmark to a channel just works). Their registration is created empty on
   * first use; the form then only holds optional preferences.
   */
  implicit?: boolean;
  fields: RegistrationField[];
  /**
   * Checks and normalises submitted values (e.g. a bot token checked with getMe). Returns the
   * values to store and, when the registration binds a network identity that only one XMPP
   * account may hold (a Telegram bot), that identity; or a message the user is shown.
   * `previous` holds the stored values on re-registration, so secret fields left empty keep theirs.
   */
  validate(
    values: Record<string, string>,
    previous: Record<string, string> | null,
  ): Promise<RegistrationResult>;
}

export type RegistrationResult =
  | { ok: true; values: Record<string, string>; identity?: string }
  | { ok: false; message: string; field?: string };
