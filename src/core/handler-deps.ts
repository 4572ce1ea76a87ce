import type { CommandRunner } from "./commands.ts";
import type { GatewayContext } from "./gateway-context.ts";
import type { UserDirectory } from "./users.ts";

/** What the stanza handlers work with. */
export interface HandlerDeps {
  gw: GatewayContext;
  users: UserDirectory;
  commands: CommandRunner;
}
