/**
 * Bot API failures as the real server words them. A handler throws an `ApiError`; the
 * HTTP layer turns it into `{ ok: false, error_code, description, parameters? }` with the
 * HTTP status equal to `error_code`. Descriptions are fixed strings and never contain
 * the bot token or anything else taken from the request path.
 */

/** Extra fields the real server attaches to some errors. */
export interface ErrorParameters {
  retry_after?: number;
  migrate_to_chat_id?: number;
}

/** A Bot API error response. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly description: string,
    readonly parameters?: ErrorParameters,
  ) {
    super(description);
    this.name = "ApiError";
  }
}

/** 400 with the `Bad Request: ` prefix every 400 of the Bot API carries. */
export function badRequest(what: string, parameters?: ErrorParameters): ApiError {
  return new ApiError(400, `Bad Request: ${what}`, parameters);
}

/** 403 with the `Forbidden: ` prefix. */
export function forbidden(what: string): ApiError {
  return new ApiError(403, `Forbidden: ${what}`);
}

/** 429 exactly as Telegram sends it: the seconds appear in the text and in `parameters`. */
export function tooManyRequests(retryAfter: number): ApiError {
  return new ApiError(429, `Too Many Requests: retry after ${retryAfter}`, { retry_after: retryAfter });
}

/** `Bad Request: can't parse entities: <detail>` — the parse_mode failure. */
export function cantParseEntities(detail: string): ApiError {
  return badRequest(`can't parse entities: ${detail}`);
}

/** 401 for an unknown token. */
export const unauthorized = (): ApiError => new ApiError(401, "Unauthorized");

/** 404 for an unknown method or a malformed path. */
export const notFound = (): ApiError => new ApiError(404, "Not Found");

/** The text of the 409 a terminated long poll receives. */
export const CONFLICT_OTHER_GET_UPDATES =
  "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";

/** The text of the 409 getUpdates receives while a webhook is set. */
export const CONFLICT_WEBHOOK_ACTIVE =
  "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first";

/** The text of the 409 a long poll receives when setWebhook replaces it. */
export const CONFLICT_SET_WEBHOOK = "Conflict: terminated by setWebhook request";
