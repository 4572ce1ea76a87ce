/**
 * Telegram addresses as legacy ids (DESIGN.md §5):
 *
 *   `12345`       the private chat of the user's bot with Telegram user 12345 (a contact)
 *   `-123`        a basic group, `-1001234567890` a supergroup (MUC rooms)
 *   `b12345`      the private chat of the user's own Telegram account with user 12345, reached
 *                 through a Telegram Business connection (a contact; the user writes as themselves)
 *
 * The `b` keeps the two 1:1 chats with one person apart: talking to someone's bot and talking to
 * them as yourself are different conversations with different histories.
 */
import type { ConversationKind, LegacyId } from "../../src/adapter/index.ts";

const USER = /^[1-9]\d{0,19}$/;
const GROUP = /^-[1-9]\d{0,19}$/;
const BUSINESS = /^b([1-9]\d{0,19})$/;

export function classifyTelegramId(id: LegacyId): ConversationKind | null {
  if (USER.test(id) || BUSINESS.test(id)) return "direct";
  if (GROUP.test(id)) return "room";
  return null;
}

/** The contact id of a business chat with Telegram user `userId`. */
export function businessContactId(userId: number): LegacyId {
  return `b${userId}`;
}

/** The Telegram user id of a business contact id, or undefined for any other id. */
export function businessUserOf(id: LegacyId): number | undefined {
  const m = BUSINESS.exec(id);
  return m ? Number(m[1]) : undefined;
}

/** A display name from a user's (or chat's) first and last name. */
export function displayName(person: {
  first_name?: string;
  last_name?: string;
  title?: string;
  username?: string;
  id?: number;
}): string {
  const name = [person.first_name, person.last_name].filter(Boolean).join(" ").trim() || person.title?.trim();
  return name || (person.username ? `@${person.username}` : `User ${person.id ?? "?"}`);
}
