/**
 * A Telegram group as a MUC room right now: who is in it, its title, and a description that says
 * what the Bot API hides there. Used when a user joins a group's room (session.ts) and when
 * anyone joins a portal room (portal.ts).
 *
 * The Bot API cannot list a group's members: the occupants are the bot, the admins
 * (getChatAdministrators) and the members seen so far (rooms.ts). In privacy mode (the default
 * for new bots) a bot that is not an admin sees only commands, mentions and replies to it; the
 * description says so, with what to do about it, since the missing messages would otherwise be
 * a silent gap.
 */
import {
  AdapterError,
  type JoinedRoom,
  type LegacyId,
  type Logger,
  type Occupant,
} from "../../src/adapter/index.ts";
import type { BotClient, T } from "./client.ts";
import { explainFailure } from "./explain.ts";
import { displayName } from "./ids.ts";
import type { RoomBook } from "./rooms.ts";

export interface BotIdentity {
  id: number;
  nick: string;
  /** Privacy mode off (BotFather /setprivacy): the bot sees every group message. */
  readsAll: boolean;
}

/** The bot's own account, as getMe tells it. */
export async function botIdentity(client: BotClient, signal?: AbortSignal): Promise<BotIdentity> {
  const me = await client.getMe(signal);
  return { id: me.id, nick: displayName(me), readsAll: me.can_read_all_group_messages === true };
}

export interface GroupDeps {
  client: BotClient;
  rooms: RoomBook;
  bot: BotIdentity;
  log: Logger;
  signal?: AbortSignal;
  /** Whose bot it is, in the description: "your bot" or "the gateway's bot". */
  whose: string;
}

export async function groupSnapshot(deps: GroupDeps, room: LegacyId): Promise<JoinedRoom> {
  const { client, rooms, bot, signal } = deps;
  const chatId = await rooms.chatOf(room);
  const chat = await client
    .call("getChat", (api, s) => api.getChat({ chat_id: chatId }, s), {
      chatId,
      ...(signal ? { signal } : {}),
    })
    .catch((err: unknown) => {
      throw explainFailure(err, "Reaching the Telegram group");
    });
  if (chat.type !== "group" && chat.type !== "supergroup")
    throw new AdapterError("item-not-found", "that Telegram chat is not a group");
  const admins = await client
    .call("getChatAdministrators", (api, s) => api.getChatAdministrators({ chat_id: chatId }, s), {
      chatId,
      ...(signal ? { signal } : {}),
    })
    .catch((err: unknown) => {
      deps.log.info({ err: String(err) }, "could not list group admins");
      return [] as T.ChatMember[];
    });
  await rooms.ensure(room, { title: chat.title, type: chat.type });
  const botIsAdmin = admins.some((a) => a.user.id === bot.id);
  const occupants: Occupant[] = [
    {
      nick: bot.nick,
      role: botIsAdmin ? "moderator" : "participant",
      affiliation: botIsAdmin ? "admin" : "member",
    },
  ];
  const listed = new Set<string>([bot.nick]);
  for (const admin of admins) {
    if (admin.user.id === bot.id || admin.user.is_bot) continue;
    const { nick } = await rooms.nickOf(room, { id: admin.user.id, name: displayName(admin.user) });
    occupants.push({
      nick,
      contactId: String(admin.user.id),
      role: "moderator",
      affiliation: admin.status === "creator" ? "owner" : "admin",
    });
    listed.add(nick);
  }
  const record = await rooms.get(room);
  for (const [id, nick] of Object.entries(record?.members ?? {})) {
    if (listed.has(nick)) continue;
    occupants.push({ nick, contactId: id, role: "participant", affiliation: "member" });
    listed.add(nick);
  }
  const title = chat.title ?? room;
  const Whose = deps.whose.charAt(0).toUpperCase() + deps.whose.slice(1);
  const sees =
    bot.readsAll || botIsAdmin
      ? `${Whose} sees every message of this group.`
      : `Privacy mode is on for ${deps.whose}: in this group it only sees commands, messages that mention it and replies to it. Make the bot an admin of the group, or turn privacy off with @BotFather (/setprivacy) and re-add it, to see everything.`;
  return {
    nick: bot.nick,
    occupants,
    topic: { text: title },
    name: title,
    description: `Telegram group "${title}". Telegram groups have no topic: the subject shows the group's title. ${sees} Bots cannot list a group's members: the occupants are its admins and the members seen so far. Telegram gives bots no history: only what arrived since the bot joined is here.`,
  };
}
