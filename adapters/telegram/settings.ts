/**
 * The Telegram gateway's `settings` section: where the Bot API is (Telegram's, a self-hosted
 * telegram-bot-api server, or the test fake), how long to long-poll, and the send pacing and retry
 * policy that keep a bot under Telegram's flood limits.
 */
import { z } from "zod";

/** A sliding window: at most `max` sends in any `windowMs`. */
const windowSchema = z
  .object({ max: z.number().int().positive(), windowMs: z.number().int().positive() })
  .strict();

export const telegramSettingsSchema = z
  .object({
    /** The Bot API origin (node-telegram-bot-api's `apiRoot`). */
    apiRoot: z.url().default("https://api.telegram.org"),
    /** getUpdates long-poll timeout in seconds (the server caps it at 50). */
    pollTimeoutSeconds: z.number().int().min(0).max(50).default(25),
    /** Timeout of every other Bot API call. */
    requestTimeoutMs: z.number().int().positive().default(30_000),
    /**
     * The lease that keeps one getUpdates poller per bot across processes: how long it lasts
     * without renewal. A crashed holder blocks a successor for at most this long.
     */
    pollLeaseMs: z.number().int().min(500).default(30_000),
    /**
     * Telegram's documented limits are about 1 message/s per chat, 20/min per group and 30/s per
     * bot; the defaults stay under them with a margin, since the server counts arrival times.
     */
    pacing: z
      .object({
        privateChat: windowSchema.default({ max: 3, windowMs: 3000 }),
        group: windowSchema.default({ max: 20, windowMs: 60_000 }),
        global: windowSchema.default({ max: 25, windowMs: 1000 }),
        /** Added to every window, for clock and network jitter. */
        marginMs: z.number().int().nonnegative().default(250),
      })
      .strict()
      .prefault({}),
    retry: z
      .object({
        /** Attempts per call, the first included, for 429, 5xx and network errors. */
        maxAttempts: z.number().int().min(1).max(20).default(6),
        /** Backoff after a 5xx or network error: baseMs·2^n with jitter, capped at maxMs. */
        baseMs: z.number().int().positive().default(500),
        maxMs: z.number().int().positive().default(15_000),
        /** A 429 asking to wait longer than this fails the call instead of holding it. */
        maxRetryAfterSeconds: z.number().int().positive().default(120),
      })
      .strict()
      .prefault({}),
    /** Largest avatar downloaded for a contact's vCard. */
    maxAvatarBytes: z
      .number()
      .int()
      .positive()
      .default(1024 * 1024),
  })
  .strict();

export type TelegramSettings = z.output<typeof telegramSettingsSchema>;
export type PacingWindow = z.output<typeof windowSchema>;
