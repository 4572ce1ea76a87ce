/**
 * What the session knows about the channels it is in: members with their prefix modes, the
 * topic, and the key used to join (needed to rejoin after a reconnect). Names are compared with
 * the server's CASEMAPPING, so `#Foo` and `#foo` are one channel.
 */
import type { Occupant } from "../../src/adapter/index.ts";
import { type Casemapping, foldCase } from "./protocol/casemap.ts";
import { type PrefixEntry, roleOf } from "./roles.ts";

export interface Member {
  nick: string;
  modes: Set<string>;
  away: boolean;
  /** From JOIN prefixes or userhost-in-names, when known (to match ban masks). */
  user?: string;
  host?: string;
}

export class ChannelState {
  /** Members by folded nick. */
  readonly members = new Map<string, Member>();
  topic: { text: string; by?: string } | undefined;
  /** True once the end of NAMES (366) arrived after our JOIN. */
  synced = false;
  /** Members from 353 lines while a NAMES reply is in progress. */
  namesInProgress: Member[] | undefined;

  constructor(
    /** The channel name as the user first asked for it. */
    public name: string,
    public key: string | undefined,
    private readonly casemapping: () => Casemapping,
  ) {}

  member(nick: string): Member | undefined {
    return this.members.get(foldCase(nick, this.casemapping()));
  }

  add(member: Member): void {
    this.members.set(foldCase(member.nick, this.casemapping()), member);
  }

  remove(nick: string): Member | undefined {
    const key = foldCase(nick, this.casemapping());
    const member = this.members.get(key);
    this.members.delete(key);
    return member;
  }

  rename(oldNick: string, newNick: string): Member | undefined {
    const member = this.remove(oldNick);
    if (member) {
      member.nick = newNick;
      this.add(member);
    }
    return member;
  }

  occupants(prefixes: readonly PrefixEntry[], contactId: (nick: string) => string): Occupant[] {
    return [...this.members.values()].map((m) => occupantOf(m, prefixes, contactId));
  }
}

/** The neutral occupant for a member. */
export function occupantOf(
  member: Member,
  prefixes: readonly PrefixEntry[],
  contactId: (nick: string) => string,
): Occupant {
  const occupant: Occupant = {
    nick: member.nick,
    contactId: contactId(member.nick),
    ...roleOf(member.modes, prefixes),
  };
  if (member.away) occupant.away = true;
  return occupant;
}

/** The channels of one connection, by folded name. */
export class ChannelTable {
  private readonly channels = new Map<string, ChannelState>();

  constructor(private readonly casemapping: () => Casemapping) {}

  get(name: string): ChannelState | undefined {
    return this.channels.get(foldCase(name, this.casemapping()));
  }

  getOrCreate(name: string, key: string | undefined): ChannelState {
    const existing = this.get(name);
    if (existing) {
      if (key !== undefined) existing.key = key;
      return existing;
    }
    const channel = new ChannelState(name, key, this.casemapping);
    this.channels.set(foldCase(name, this.casemapping()), channel);
    return channel;
  }

  delete(name: string): void {
    this.channels.delete(foldCase(name, this.casemapping()));
  }

  all(): ChannelState[] {
    return [...this.channels.values()];
  }

  get size(): number {
    return this.channels.size;
  }
}
