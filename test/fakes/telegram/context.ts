/**
 * What a Bot API method handler gets: the world, the calling bot, the request
 * parameters, the optional flood check, and a way to record what the bot did.
 */
import type { Params } from "./params.ts";
import type { FloodCheck } from "./ratelimit.ts";
import type { BotRecord, SentMessage, World } from "./world.ts";

/** The context of one Bot API call. */
export interface MethodContext {
  world: World;
  bot: BotRecord;
  params: Params;
  /** Present when `enforceRateLimits` is on. */
  flood: FloodCheck | undefined;
  /** Adds an entry to `bot.sent()` (the method name, params and time are filled in). */
  record(entry: Pick<SentMessage, "chat_id" | "message">): void;
}

/** A method handler: returns the `result` or throws an ApiError. */
export type MethodHandler = (ctx: MethodContext) => unknown;
