import type { CommandRunner } from "./commands.ts";
import type { GatewayContext } from "./gateway-context.ts";
import type { PortalRooms } from "./portal-rooms.ts";
import type { UserDirectory } from "./users.ts";

/** What the stanza handlers work with. */
export interface HandlerDeps {
  gw: GatewayContext;
  users: UserDirectory;
  commands: CommandRunner;
  /** The gateway's portal rooms, when its adapter opened any. */
  portals: PortalRooms | undefined;
}
