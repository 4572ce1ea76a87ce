/**
 * A session: one XMPP user on one network (e.g. alice@example.org's IRC connection to
 * irc.libera.chat, or her Telegram bot). Opened by the core when the user comes online or has
 * persistent rooms, closed when the last resource goes offline or on unregistration/shutdown.
 *
 * Methods are called one at a time per conversation, in the order the user sent things. A method
 * that fails throws `AdapterError` with the condition the user should see; anything else thrown
 * is reported as `internal-server-error`. Optional methods exist only when the matching
 * capability is declared.
 */
import type { Attachment } from "./attachments.ts";
import type { ConversationRef, LegacyId, Occupant } from "./conversation.ts";
import type { MessageKind } from "./events.ts";
import type { StyledText } from "./text.ts";

export interface OutgoingMessage {
  conversation: ConversationRef;
  kind: Exclude<MessageKind, "notice">;
  text: StyledText;
  /** The XMPP stanza id (or origin-id), so an echo can be matched to it. */
  clientId: string;
  replyTo?: LegacyId;
  attachments?: Attachment[];
  /** When the gateway took the stanza from the XMPP server (ms since the epoch): an expiry counts from here. */
  receivedAt?: number;
}

export interface SendReceipt {
  /** The network's id for the sent message, when it returns one. */
  id?: LegacyId;
  /**
   * When the message still waits inside the adapter after `sendMessage` returned (a flood
   * limiter, a connection being made): settles once the network has it, or once the adapter gave
   * up on it and told the user so. Until then the core keeps the message in its crash journal,
   * and a process killed meanwhile leaves it for the next one to send. Never rejects.
   */
  handedOver?: Promise<void>;
}

export interface JoinRequest {
  room: LegacyId;
  nick: string;
  password?: string;
}

/** The state of a room right after joining, or now if the session was already in it. */
export interface JoinedRoom {
  /** The nick the network gave the user (may differ from the one asked for). */
  nick: string;
  occupants: Occupant[];
  topic?: { text: string; by?: string };
  /** Shown as the room's name in disco. */
  name?: string;
  /** Said in the room description (e.g. "privacy mode hides messages not addressed to the bot"). */
  description?: string;
}

export interface Session {
  sendMessage(message: OutgoingMessage): Promise<SendReceipt>;
  joinRoom?(request: JoinRequest): Promise<JoinedRoom>;
  leaveRoom?(room: LegacyId, reason?: string): Promise<void>;
  setTopic?(room: LegacyId, topic: string): Promise<void>;
  /** `room` undefined: the network-wide nick (IRC); otherwise the nick in that room. */
  changeNick?(nick: string, room?: LegacyId): Promise<void>;
  editMessage?(conversation: ConversationRef, target: LegacyId, text: StyledText): Promise<void>;
  retractMessage?(conversation: ConversationRef, target: LegacyId): Promise<void>;
  react?(conversation: ConversationRef, target: LegacyId, emojis: string[]): Promise<void>;
  setTyping?(conversation: ConversationRef, state: "composing" | "paused" | "active"): Promise<void>;
  markRead?(conversation: ConversationRef, upTo: LegacyId): Promise<void>;
  /** Sets the user's own presence on the network (IRC AWAY). */
  setPresence?(show: "available" | "away" | "xa" | "dnd", status?: string): Promise<void>;
  /** Ends the session; must not throw. `reason` may be shown on the network (IRC QUIT). */
  close(reason?: string): Promise<void>;
}

/**
 * Conditions an adapter can fail with; the core sends them as XMPP stanza errors on the
 * original stanza (RFC 6120 §8.3.3).
 */
export type AdapterErrorCondition =
  | "bad-request"
  | "forbidden"
  | "item-not-found"
  | "jid-malformed"
  | "not-acceptable"
  | "not-allowed"
  | "not-authorized"
  | "recipient-unavailable"
  | "remote-server-not-found"
  | "remote-server-timeout"
  | "resource-constraint"
  | "service-unavailable"
  | "conflict"
  | "registration-required"
  | "feature-not-implemented"
  | "internal-server-error"
  | "undefined-condition";

export class AdapterError extends Error {
  /** `wait` tells the client to retry later (rate limits, a connection that is coming back). */
  readonly retryable: boolean;
  constructor(
    readonly condition: AdapterErrorCondition,
    message: string,
    options: { retryable?: boolean } = {},
  ) {
    super(message);
    this.name = "AdapterError";
    this.retryable = options.retryable ?? false;
  }
}
