/**
 * The Telegram adapter (Bot API, node-telegram-bot-api v2): each XMPP user brings their own bot
 * (a token from @BotFather). The people who write to it become contacts `12345@gw`, the groups it
 * is in become MUC rooms `-100123@gw`, and with Telegram Business the user's own private chats
 * become contacts `b12345@gw` they answer as themselves.
 *
 * The operator may also configure portal rooms: groups bridged through one shared bot, open to
 * every allowed XMPP user (portal.ts).
 *
 * Module map: settings.ts (config) → session.ts (one user's bot) and portal.ts (the shared bot)
 * → poller.ts (getUpdates, offset, lease.ts on the core's leases) + inbound.ts (updates → events;
 * rooms.ts, contacts.ts, business.ts, media.ts for files) → client.ts (the only holder of the
 * token: retries, pacing.ts, redact.ts, file downloads). group.ts describes a group as a room,
 * upload.ts sends the files users attach, entities.ts converts formatting, explain.ts turns
 * Telegram errors into what the user reads, ids.ts names chats.
 */
import type { Adapter, AdapterFactory, RegistrationResult } from "../../src/adapter/index.ts";
import { BotClient, TelegramFailure } from "./client.ts";
import { classifyTelegramId } from "./ids.ts";
import { TelegramPortal } from "./portal.ts";
import { botIdOf, redactToken } from "./redact.ts";
import { type GatewayShared, TelegramSession } from "./session.ts";
import { type TelegramSettings, telegramSettingsSchema } from "./settings.ts";

export type { TelegramSettings };

export const telegramAdapter: AdapterFactory<TelegramSettings> = {
  name: "telegram",
  gatewayType: "telegram",
  defaultName: "Telegram gateway",
  configSchema: telegramSettingsSchema,
  create(context): Adapter {
    const { settings, log } = context;
    const shared: GatewayShared = {
      settings,
      leases: context.leases,
      files: context.files,
      fetcher: context.fetcher,
    };
    const sessions = new Map<string, TelegramSession>();
    let portal: TelegramPortal | undefined;
    return {
      // Telegram keeps what a bot receives for only 24 hours and never sends it twice once
      // confirmed: the bot must keep polling while its user is offline, and what arrives goes to
      // the user's server for offline storage.
      keepSessionsOpen: true,
      capabilities: {
        directChats: {
          level: "partial",
          limits: "a Telegram user must write to your bot before it can write to them",
        },
        rooms: {
          level: "partial",
          limits:
            "groups your bot is in; with privacy mode on the bot sees only commands, mentions and replies; no member list and no history before the bot joined",
        },
        edits: { level: "partial", limits: "your own text messages, within 48 hours" },
        retractions: {
          level: "partial",
          limits:
            "messages Telegram lets the bot delete: its own, private chats, and any in groups where it is admin, within 48 hours",
        },
        reactions: {
          level: "partial",
          limits:
            "one reaction per message, from Telegram's standard emoji; others' reactions reach the bot in private chats and in groups where it is admin",
        },
        replies: { level: "full" },
        typing: {
          level: "partial",
          limits: "only from you to Telegram: Telegram does not tell bots when people type",
        },
        attachments: {
          level: "partial",
          limits: context.files
            ? `files up to ${Math.floor(settings.maxFileBytes / (1024 * 1024))} MB from Telegram (bots cannot download more than 20 MB); files you send up to 50 MB (10 MB for photos)`
            : "files you send reach Telegram; files from Telegram are announced but not relayed (the operator has not set up the file proxy)",
        },
        avatars: {
          level: "partial",
          limits: "contacts' profile photos, when their privacy settings allow it",
        },
      },
      registration: {
        instructions:
          "Create a bot with @BotFather on Telegram (/newbot) and paste its token here. People who write to your bot appear as contacts, and the groups it is in as rooms. Only you can use this bot through the gateway. For Telegram Business (your own private chats), also give your Telegram numeric id or @username as owner.",
        fields: [
          {
            var: "token",
            type: "text-private",
            label: "Bot token from @BotFather",
            required: true,
            secret: true,
          },
          {
            var: "owner",
            type: "text-single",
            label: "Your Telegram id or @username (Telegram Business only)",
          },
        ],
        async validate(values): Promise<RegistrationResult> {
          const token = values.token?.trim() ?? "";
          if (!botIdOf(token))
            return {
              ok: false,
              message: "that is not a bot token: it looks like 123456789:AAE… (ask @BotFather for /token)",
              field: "token",
            };
          if (settings.portal && botIdOf(settings.portal.token) === botIdOf(token))
            return {
              ok: false,
              message:
                "that is the gateway's own portal bot; create a bot of your own with @BotFather (/newbot)",
              field: "token",
            };
          const owner = values.owner?.trim();
          if (owner && !/^(\d{1,20}|@?[A-Za-z][A-Za-z0-9_]{4,31})$/.test(owner)) {
            return {
              ok: false,
              message: "owner must be your numeric Telegram id or your @username",
              field: "owner",
            };
          }
          const client = new BotClient(
            token,
            { ...settings, retry: { ...settings.retry, maxAttempts: 2 } },
            log,
          );
          try {
            const me = await client.getMe(AbortSignal.timeout(Math.min(settings.requestTimeoutMs, 15_000)));
            if (!me.is_bot)
              return { ok: false, message: "that token does not belong to a bot", field: "token" };
            return { ok: true, values: { token, ...(owner ? { owner } : {}) }, identity: `bot:${me.id}` };
          } catch (err) {
            if (err instanceof TelegramFailure && (err.code === 401 || err.code === 404)) {
              return {
                ok: false,
                message:
                  "Telegram rejected this bot token: it is wrong or was revoked. Get the current one from @BotFather (/token).",
                field: "token",
              };
            }
            log.warn({ err: redactToken(String(err), token) }, "could not check a bot token");
            return {
              ok: false,
              message: "Telegram could not be reached to check the token; try again in a moment",
            };
          }
        },
      },
      classify: classifyTelegramId,
      gatewayPrompt: {
        desc: "Enter the numeric Telegram id of a person who wrote to your bot, or of a group (negative)",
        prompt: "Telegram id",
        toLegacyId: (input) => (classifyTelegramId(input.trim()) === null ? null : input.trim()),
      },
      async start() {},
      async stop() {
        await Promise.all([...sessions.values()].map((s) => s.close()));
        sessions.clear();
        await portal?.close();
      },
      async openPortal(portalContext) {
        if (!settings.portal) return undefined;
        portal = new TelegramPortal({
          settings,
          portal: settings.portal,
          state: context.state,
          leases: context.leases,
          files: context.files,
          fetcher: context.fetcher,
          context: portalContext,
        });
        portal.start();
        return portal;
      },
      async openSession(sessionContext) {
        const previous = sessions.get(sessionContext.user);
        if (previous) await previous.close();
        const botId = botIdOf(sessionContext.registration.token ?? "") ?? "unknown";
        const session: TelegramSession = new TelegramSession(sessionContext, shared, botId, () => {
          if (sessions.get(sessionContext.user) === session) sessions.delete(sessionContext.user);
        });
        sessions.set(sessionContext.user, session);
        session.start();
        return session;
      },
    };
  },
};
