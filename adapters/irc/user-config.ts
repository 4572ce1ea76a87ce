/**
 * A user's own settings for one IRC server (set with the "Configure an IRC server" command),
 * kept in their private state: nick, username, realname, channels to join on connect, the
 * encoding of non-UTF-8 text, and (encrypted) the NickServ and SASL passwords.
 */
import { z } from "zod";
import type { KeyValueState } from "../../src/adapter/index.ts";
import { isSupportedEncoding } from "./protocol/decode.ts";

export const userServerConfigSchema = z
  .object({
    nick: z.string(),
    username: z.string(),
    realname: z.string(),
    autojoin: z.array(z.object({ channel: z.string(), key: z.string().optional() })),
    encoding: z.string().refine(isSupportedEncoding),
  })
  .partial();

export type UserServerConfig = z.output<typeof userServerConfigSchema>;

/** The user's settings plus their (decrypted) passwords. Never log the passwords. */
export interface UserServerSetup extends UserServerConfig {
  nickservPassword?: string;
  saslPassword?: string;
}

const PREFIX = "server:";
const configField = (server: string) => `${PREFIX}${server}`;
const nickservField = (server: string) => `${PREFIX}${server}:nickserv`;
const saslField = (server: string) => `${PREFIX}${server}:sasl`;

export async function readUserServerSetup(state: KeyValueState, server: string): Promise<UserServerSetup> {
  const config = (await state.getJson(configField(server), userServerConfigSchema)) ?? {};
  const setup: UserServerSetup = { ...config };
  const nickserv = await state.getSecret(nickservField(server));
  if (nickserv) setup.nickservPassword = nickserv;
  const sasl = await state.getSecret(saslField(server));
  if (sasl) setup.saslPassword = sasl;
  return setup;
}

/** Stores the settings; a password left undefined keeps the stored one, "" removes it. */
export async function writeUserServerSetup(
  state: KeyValueState,
  server: string,
  setup: UserServerSetup,
): Promise<void> {
  const { nickservPassword, saslPassword, ...config } = setup;
  await state.setJson(configField(server), config);
  for (const [field, value] of [
    [nickservField(server), nickservPassword],
    [saslField(server), saslPassword],
  ] as const) {
    if (value === undefined) continue;
    if (value === "") await state.delete(field);
    else await state.setSecret(field, value);
  }
}

/** Servers the user has settings for. */
export async function configuredServers(state: KeyValueState): Promise<string[]> {
  const fields = Object.keys(await state.entries());
  return fields
    .filter((f) => f.startsWith(PREFIX) && f.indexOf(":", PREFIX.length) === -1)
    .map((f) => f.slice(PREFIX.length));
}
