/**
 * Telegram Business (https://core.telegram.org/bots/api#business-connection): a Telegram Premium
 * user connects a bot to their account, and the bot then receives their private chats
 * (`business_message`, `edited_business_message`, `deleted_business_messages`) and may answer
 * them as the user (`business_connection_id` on sends) if the user allowed replies (`can_reply`,
 * `rights.can_reply`), in chats active in the last 24 hours.
 *
 * Only the Telegram account named in the registration (`owner`: numeric id or @username) is
 * accepted: anyone can connect their Business account to any bot, and the XMPP user must not end
 * up reading, or writing as, a stranger who did so. Connections of others are refused with a
 * notice that says how to accept them.
 */
import { z } from "zod";
import { AdapterError, type GatewayNoticeEvent, type KeyValueState } from "../../src/adapter/index.ts";
import type { T } from "./client.ts";
import { displayName } from "./ids.ts";

const storedSchema = z.object({
  id: z.string(),
  userId: z.number(),
  name: z.string(),
  canReply: z.boolean(),
  enabled: z.boolean(),
});
export type StoredConnection = z.output<typeof storedSchema>;

export class BusinessBook {
  private cached: StoredConnection | null | undefined;

  constructor(
    private readonly state: KeyValueState,
    /** The registration's `owner` value, as typed (id or @username), or undefined. */
    private readonly owner: string | undefined,
  ) {}

  async current(): Promise<StoredConnection | null> {
    if (this.cached === undefined) this.cached = await this.state.getJson("business", storedSchema);
    return this.cached;
  }

  /** Whether a business message or deletion of this connection is the user's. */
  async accepts(connectionId: string | undefined): Promise<boolean> {
    const current = await this.current();
    return connectionId !== undefined && current?.id === connectionId && current.enabled;
  }

  /** Handles a business_connection update; returns what to tell the user. */
  async update(connection: T.BusinessConnection): Promise<GatewayNoticeEvent> {
    const who = `${displayName(connection.user)} (id ${connection.user.id}${connection.user.username ? `, @${connection.user.username}` : ""})`;
    if (!this.isOwner(connection.user)) {
      return notice(
        this.owner === undefined
          ? `The Telegram account ${who} connected its Business chats to your bot. They are not shown: enter your own Telegram id or @username in the "owner" field of your registration to use Telegram Business.`
          : `The Telegram account ${who} connected its Business chats to your bot, but your registration names ${this.owner} as the owner; ignored.`,
      );
    }
    const canReply = connection.rights?.can_reply ?? legacyCanReply(connection);
    const stored: StoredConnection = {
      id: connection.id,
      userId: connection.user.id,
      name: displayName(connection.user),
      canReply,
      enabled: connection.is_enabled,
    };
    this.cached = stored;
    await this.state.setJson("business", stored);
    if (!connection.is_enabled)
      return notice(
        "Telegram Business: your connection to the bot was turned off; your private chats are no longer relayed.",
      );
    return notice(
      `Telegram Business connected: your private Telegram chats now appear as contacts whose address starts with "b" (e.g. b12345). ${
        canReply
          ? "You can answer them as yourself, in chats where the other person wrote in the last 24 hours."
          : 'The bot may not reply for you: to answer from XMPP, allow "Reply to messages" for the bot in Telegram Business → Chatbots.'
      }`,
    );
  }

  /** The connection to send through, or the reason the user cannot. */
  async forSending(): Promise<StoredConnection> {
    const current = await this.current();
    if (!current?.enabled) {
      throw new AdapterError(
        "recipient-unavailable",
        "Telegram Business is not connected: connect this bot in Telegram → Settings → Telegram Business → Chatbots",
      );
    }
    if (!current.canReply) {
      throw new AdapterError(
        "not-allowed",
        'your Telegram Business connection does not let the bot reply: allow "Reply to messages" for the bot in Telegram Business → Chatbots',
      );
    }
    return current;
  }

  private isOwner(user: T.User): boolean {
    const owner = this.owner?.trim();
    if (!owner) return false;
    if (/^\d+$/.test(owner)) return Number(owner) === user.id;
    const name = owner.replace(/^@/, "").toLowerCase();
    return user.username !== undefined && user.username.toLowerCase() === name;
  }
}

/** Bot API < 9.0 sent `can_reply` at the top level; newer servers still do. */
function legacyCanReply(connection: T.BusinessConnection): boolean {
  const value = (connection as { can_reply?: unknown }).can_reply;
  return value === true;
}

function notice(text: string): GatewayNoticeEvent {
  return { type: "notice", text };
}
