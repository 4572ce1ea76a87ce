/**
 * The adapter contract: what a network module (adapters/irc, adapters/telegram, …) implements.
 * See docs/adapters.md for a walk-through and a complete small example.
 */
import type { z } from "zod";
import type { Capabilities } from "./capabilities.ts";
import type { AdhocCommand } from "./commands.ts";
import type { AdapterContext, SessionContext } from "./context.ts";
import type { ConversationKind, LegacyId } from "./conversation.ts";
import type { Portal, PortalContext } from "./portal.ts";
import type { RegistrationSpec } from "./registration.ts";
import type { Session } from "./session.ts";

export interface AdapterFactory<Settings = unknown> {
  /** The name operators write in `gateways[].adapter`. */
  name: string;
  /** The XEP-0030 identity type of the gateway (`gateway/<type>`), e.g. "irc", "telegram". */
  gatewayType: string;
  /** Display name when the operator gives none. */
  defaultName: string;
  /** Validates the gateway's `settings` section of the config file. */
  configSchema: z.ZodType<Settings>;
  create(context: AdapterContext<Settings>): Adapter;
}

export interface Adapter {
  capabilities: Capabilities;
  registration: RegistrationSpec;
  /**
   * True when a user's session should stay open while they are offline (their network keeps
   * delivering and the core passes messages to the user's server for offline storage), instead
   * of closing with their last resource. Sessions of all registered users then start with the
   * gateway.
   */
  keepSessionsOpen?: boolean;
  /** Extra ad-hoc commands this network offers (configure a server, list connections, …). */
  commands?: AdhocCommand[];
  /**
   * Which kind of conversation a legacy id names, or null when it names nothing valid on this
   * network (the user then gets `jid-malformed` or `item-not-found`). Called with the unescaped
   * localpart of a JID in the gateway's domain.
   */
  classify(id: LegacyId): ConversationKind | null;
  /** XEP-0100 jabber:iq:gateway: turns what a user typed into a legacy contact id. */
  gatewayPrompt?: { desc: string; prompt: string; toLegacyId(input: string): LegacyId | null };
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Opens the user's session. Should resolve quickly: the connection's progress is reported with
   * `session.state` events, not by keeping this promise pending. A session that has reported no
   * state by the time this resolves is shown to the user as online.
   */
  openSession(context: SessionContext): Promise<Session>;
  /**
   * Opens the gateway's portal rooms, if the operator configured any: rooms every allowed user
   * may join, bridged through one network identity. Called once at start, after `start()`.
   */
  openPortal?(context: PortalContext): Promise<Portal | undefined>;
}
