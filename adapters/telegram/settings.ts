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

/** Telegram's limit for files a bot downloads (https://core.telegram.org/bots/api#getfile). */
export const MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024;

const portalSchema = z
  .object({
    token: z.string().regex(/^\d+:[\w-]+$/, "expected a bot token from @BotFather (123456789:AAE…)"),
    /** The groups bridged, by chat id (`-100…` for supergroups); each becomes the room `<id>@<gateway>`. */
    groups: z
      .array(z.string().regex(/^-[1-9]\d{0,19}$/, "expected a group chat id such as -1001234567890"))
      .min(1),
    /**
     * How an XMPP user's message reads on Telegram: `{nick}` (shown in bold), `{text}`, and
     * `{jid}` (the sender's bare JID; leave it out unless users agreed to show it).
     */
    template: z
      .string()
      .refine((t) => t.includes("{text}"), "the template must contain {text}")
      .default("{nick}: {text}"),
    /** Keep a pinned message in each group listing who is in the room on XMPP. */
    pinOccupants: z.boolean().default(true),
  })
  .strict();

export const telegramSettingsSchema = z
  .object({
    /** The Bot API origin (node-telegram-bot-api's `apiRoot`). */
    apiRoot: z.url().default("https://api.telegram.org"),
    /** getUpdates long-poll timeout in seconds (the server caps it at 50). */
    pollTimeoutSeconds: z.number().int().min(0).max(50).default(25),
    /**
     * Timeout of every other Bot API call. (getUpdates waits its long poll plus 10 s: 35 s over the
     * default 25 s, node-telegram-bot-api's rule.) A link that went silent is given up after this
     * and the call retried on a new connection.
     */
    requestTimeoutMs: z.number().int().positive().default(30_000),
    /**
     * How long a message may wait for its turn to go to Telegram (pacing, a 429's retry_after,
     * retries after errors) from when the gateway hands it to this adapter. Past it, the message is
     * not sent late but answered to its XMPP sender with resource-constraint (type wait), as the
     * IRC outbox does after 10 minutes. A request already on the wire is never cut short by it.
     * Not counted: time in the gateway's per-conversation queue before the adapter gets it (the
     * adapter API does not say when the stanza arrived).
     */
    sendExpiryMs: z
      .number()
      .int()
      .min(1000)
      .default(10 * 60 * 1000),
    /**
     * The lease (the core's Redis-backed `leases`) that keeps one getUpdates poller per bot across
     * processes: how long it lasts without renewal. A crashed holder blocks a successor for at
     * most this long.
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
    /**
     * Largest file relayed either way. Telegram lets bots download at most 20 MB (getFile) and
     * upload at most 50 MB; bigger files are announced to the user with that reason instead.
     */
    maxFileBytes: z.number().int().positive().max(MAX_DOWNLOAD_BYTES).default(MAX_DOWNLOAD_BYTES),
    /**
     * Portal rooms: the operator's shared bot and the Telegram groups it bridges as public rooms
     * every allowed XMPP user may join. The token is a secret: give it through the environment
     * (`token: ${TELEGRAM_PORTAL_TOKEN}`); it is never logged.
     */
    portal: portalSchema.optional(),
    /** Largest avatar downloaded for a contact's vCard. */
    maxAvatarBytes: z
      .number()
      .int()
      .positive()
      .default(1024 * 1024),
  })
  .strict();

export type TelegramSettings = z.output<typeof telegramSettingsSchema>;
export type PortalSettings = z.output<typeof portalSchema>;
export type PacingWindow = z.output<typeof windowSchema>;
