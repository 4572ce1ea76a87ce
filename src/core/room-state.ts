/**
 * What Postern remembers about one room of one user: who is in it (as the network reported), the
 * topic, which of the user's XMPP resources joined it, and whether it stays joined while they
 * are offline. The network connection is joined once; any number of resources share it.
 */
import type { LegacyId, Occupant } from "../adapter/conversation.ts";

export interface RoomRecord {
  nick: string;
  persistent: boolean;
  /** Full JIDs of the user's resources in the room, so a restart can keep serving them. */
  resources: string[];
}

export class RoomState {
  readonly occupants = new Map<string, Occupant>();
  readonly resources = new Set<string>();
  topic: { text: string; by?: string } | undefined;
  persistent = false;
  /** True once the network confirmed the join. */
  joined = false;
  description: string | undefined;

  constructor(
    readonly id: LegacyId,
    public nick: string,
  ) {}

  record(): RoomRecord {
    return { nick: this.nick, persistent: this.persistent, resources: [...this.resources] };
  }

  /** Whether anyone (a resource, or the persistence flag) still needs the network side joined. */
  get wanted(): boolean {
    return this.persistent || this.resources.size > 0;
  }
}
