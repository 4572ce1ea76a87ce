/**
 * The adapters this build of Postern contains, by the name operators write in
 * `gateways[].adapter`. The composition root: the only module of `src/` that imports `adapters/`
 * (the core and the XMPP code never do).
 */
import { ircAdapter } from "../adapters/irc/index.ts";
import { telegramAdapter } from "../adapters/telegram/index.ts";
import type { AdapterFactory } from "./adapter/adapter.ts";

export type RegisteredAdapter = AdapterFactory<unknown>;

export const adapterRegistry: Record<string, RegisteredAdapter> = {
  irc: ircAdapter as RegisteredAdapter,
  telegram: telegramAdapter as RegisteredAdapter,
};
