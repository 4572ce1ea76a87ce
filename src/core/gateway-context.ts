/**
 * What the parts of one gateway share: its config, adapter, store handles and the way out to the
 * XMPP server. Passed explicitly instead of reaching for a global.
 */
import type { Element } from "@xmpp/component-core";
import type { Logger } from "pino";
import type { Adapter } from "../adapter/adapter.ts";
import type { GatewayConfig } from "../config/schema.ts";
import type { Store } from "../store/index.ts";
import type { Addressing } from "./addressing.ts";

export interface GatewayContext {
  domain: string;
  name: string;
  gatewayType: string;
  config: GatewayConfig;
  adapter: Adapter;
  store: Store;
  log: Logger;
  addressing: Addressing;
  /** Sends to the XMPP server; rejects while the link is down. */
  send(stanza: Element): Promise<void>;
  /** Sends and logs a failure instead of throwing (for fire-and-forget notifications). */
  sendQuietly(stanza: Element): void;
}
