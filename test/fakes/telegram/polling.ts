/**
 * Receiving updates: getUpdates (long polling, see updates.ts for its rules) and the
 * webhook methods. The fake records a webhook but never calls it; while one is set,
 * updates accumulate (getWebhookInfo's pending_update_count) and getUpdates fails with
 * 409 `Conflict: can't use getUpdates method while webhook is active; use deleteWebhook
 * to delete the webhook first`.
 */
import type { MethodHandler } from "./context.ts";
import { badRequest, CONFLICT_SET_WEBHOOK, CONFLICT_WEBHOOK_ACTIVE } from "./errors.ts";

/** A result with the `description` the server adds to some successful answers. */
export class Described {
  constructor(
    readonly result: unknown,
    readonly description: string,
  ) {}
}

/** getUpdates. */
export const getUpdates: MethodHandler = ({ bot, params }) => {
  if (bot.webhookUrl !== "") {
    return new Promise((_resolve, reject) => bot.queue.conflict(CONFLICT_WEBHOOK_ACTIVE, reject));
  }
  return bot.queue.poll({
    offset: params.int("offset"),
    limit: params.int("limit", 100),
    timeout: params.int("timeout"),
    allowedUpdates: safeJson(params.str("allowed_updates")),
  });
};

/** allowed_updates that do not parse are ignored, as on the server. */
function safeJson(raw: string | undefined): unknown {
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

/** setWebhook: an empty url removes the webhook, like deleteWebhook. */
export const setWebhook: MethodHandler = (ctx) => {
  const { bot, params } = ctx;
  const url = (params.str("url") ?? "").trim();
  if (url === "") return deleteWebhook(ctx);
  if (!/^https:\/\//i.test(url)) throw badRequest("bad webhook: An HTTPS URL must be provided for webhook");
  if (params.bool("drop_pending_updates")) bot.queue.dropPending();
  bot.queue.setAllowed(safeJson(params.str("allowed_updates")));
  if (bot.webhookUrl === url) return new Described(true, "Webhook is already set");
  bot.queue.terminateHeld(CONFLICT_SET_WEBHOOK);
  bot.webhookUrl = url;
  return new Described(true, "Webhook was set");
};

/** deleteWebhook. */
export const deleteWebhook: MethodHandler = ({ bot, params }) => {
  if (params.bool("drop_pending_updates")) bot.queue.dropPending();
  if (bot.webhookUrl === "") return new Described(true, "Webhook is already deleted");
  bot.webhookUrl = "";
  return new Described(true, "Webhook was deleted");
};

/** getWebhookInfo. */
export const getWebhookInfo: MethodHandler = ({ bot }) => ({
  url: bot.webhookUrl,
  has_custom_certificate: false,
  pending_update_count: bot.queue.pendingCount(),
  ...(bot.webhookUrl !== "" ? { max_connections: 40, allowed_updates: bot.queue.allowedUpdates() } : {}),
});

/** The methods of this module by their documented names. */
export const POLLING_METHODS: Record<string, MethodHandler> = {
  getUpdates,
  setWebhook,
  deleteWebhook,
  getWebhookInfo,
};
