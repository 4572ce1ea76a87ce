/**
 * What a failed Bot API call means to the XMPP user: the stanza error condition and a sentence
 * that says why and what to do. Telegram's descriptions are terse and sometimes cryptic
 * ("BUSINESS_PEER_INVALID"), so the common ones get our own words; the rest are shown as Telegram
 * wrote them (they never contain the token: client.ts redacts).
 */
import { AdapterError } from "../../src/adapter/index.ts";
import { TelegramFailure } from "./client.ts";

export function explainFailure(err: unknown, what: string): AdapterError {
  if (err instanceof AdapterError) return err;
  if (!(err instanceof TelegramFailure)) {
    return new AdapterError("internal-server-error", `${what} failed inside the gateway`);
  }
  const d = err.description;
  if (err.kind === "expired") {
    return new AdapterError(
      "resource-constraint",
      `${what} failed: ${d} (Telegram's flood limits or an unreachable Bot API held it up); send it again later`,
      { retryable: true },
    );
  }
  if (err.kind !== "api") {
    return new AdapterError(
      "remote-server-timeout",
      `${what} failed: Telegram could not be reached; try again later`,
      { retryable: true },
    );
  }
  const code = err.code ?? 0;
  if (code === 429) {
    return new AdapterError(
      "resource-constraint",
      `${what} failed: Telegram asks to wait ${err.parameters.retry_after ?? "a few"} seconds (flood limit)`,
      { retryable: true },
    );
  }
  if (code >= 500)
    return new AdapterError(
      "remote-server-timeout",
      `${what} failed: Telegram had a server error; try again later`,
      { retryable: true },
    );
  if (code === 401)
    return new AdapterError(
      "not-authorized",
      `${what} failed: Telegram no longer accepts your bot token (revoked?); register again with a new token from @BotFather`,
    );
  if (/bot can't initiate conversation/i.test(d)) {
    return new AdapterError(
      "recipient-unavailable",
      `${what} failed: this Telegram user has not started a chat with your bot; they must write to it first`,
    );
  }
  if (/blocked by the user/i.test(d))
    return new AdapterError("recipient-unavailable", `${what} failed: this Telegram user blocked your bot`);
  if (/not a member|kicked|chat not found/i.test(d))
    return new AdapterError("item-not-found", `${what} failed: your bot is not in that chat (${d})`);
  if (/BUSINESS_PEER_INVALID|BUSINESS_PEER_USAGE_MISSING/i.test(d)) {
    return new AdapterError(
      "not-allowed",
      `${what} failed: through Telegram Business you can only answer chats where this person wrote to you in the last 24 hours (Telegram's rule for bots); write from the Telegram app instead`,
    );
  }
  if (/BUSINESS_CONNECTION_NOT_ALLOWED|business connection not found/i.test(d)) {
    return new AdapterError(
      "not-allowed",
      `${what} failed: your Telegram Business connection does not let the bot reply (turn on "Reply to messages" for the bot in Telegram Business → Chatbots)`,
    );
  }
  if (/message to edit not found|message can't be edited/i.test(d))
    return new AdapterError(
      "item-not-found",
      `${what} failed: Telegram cannot edit that message any more (only your own text messages, within 48 hours)`,
    );
  if (/message is not modified/i.test(d))
    return new AdapterError("not-acceptable", `${what} failed: the text is the same as before`);
  if (/message to delete not found|message can't be deleted/i.test(d))
    return new AdapterError(
      "item-not-found",
      `${what} failed: Telegram cannot delete that message (already gone, too old, or not yours)`,
    );
  if (/REACTION_INVALID/i.test(d))
    return new AdapterError(
      "not-acceptable",
      `${what} failed: Telegram bots can only react with Telegram's standard reaction emoji`,
    );
  if (/message to react not found|message to be replied not found/i.test(d))
    return new AdapterError("item-not-found", `${what} failed: that message is not on Telegram any more`);
  if (/too long/i.test(d))
    return new AdapterError(
      "not-acceptable",
      `${what} failed: the text is too long for Telegram (4096 characters at most)`,
    );
  if (code === 403) return new AdapterError("forbidden", `${what} failed: ${d}`);
  return new AdapterError("not-acceptable", `${what} failed: ${d}`);
}
