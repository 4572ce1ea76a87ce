/**
 * After the link to the XMPP server comes back, every XMPP resource the gateway believes is in
 * one of its rooms (or online at the gateway JID) is asked whether it is still there, and the
 * ones the server says are gone are removed as a leave would remove them.
 *
 * Why: a resource can vanish without an unavailable presence ever reaching us. When the server
 * is killed or crashes, its clients' sessions end without a word to anyone (a clean shutdown
 * does send their unavailable presences first, while the component link is still up). A leave
 * sent while Postern is down, restarting, or cut off from the server is bounced by the server,
 * not kept for later; and since the leave ended the client's directed presence to the room, the
 * server sends the room nothing when that client goes offline later either. The gateway would
 * keep such a resource in its rooms for ever: the room stays wanted, so the user's puppet stays
 * in the IRC channel with its connection open. Hence a pass each time the link comes back (and
 * after a start), and one every {@link PERIOD_MS} for what went offline since.
 *
 * How: an `<iq type='get'>` disco#info (XEP-0030) from the occupant JID (or the gateway JID) to
 * the full JID. Clients answer disco#info, and for a full JID with no session the user's server
 * answers itself with an error of type cancel (RFC 6121 §8.5.3.2.1: service-unavailable). Such
 * an error, or another that says the address cannot be reached (recipient-unavailable,
 * item-not-found, remote-server-not-found), means gone. A result, any other error, no answer
 * within the timeout, or the link going down again, means present: a slow or odd server never
 * costs anyone their rooms. A ping (XEP-0199) would do the same but is not answered by every
 * client.
 *
 * Not caught: a client that is still online but left while we could not hear it (it answers, so
 * it counts as present) stays in the room until it goes offline and the next pass finds it gone,
 * or until a groupchat message to it bounces (message-handler.ts).
 *
 * The removal is handed to the caller's per-conversation queue the moment the answer arrives,
 * before any later stanza is queued: a client that comes back on the same full JID and joins
 * again is seen after the removal, never undone by it.
 */
import { randomBytes } from "node:crypto";
import { type Element, xml } from "@xmpp/component-core";
import type { Logger } from "pino";
import { bareJid, parseJid } from "../xmpp/jid.ts";
import { MucStatus } from "../xmpp/muc.ts";
import { NS } from "../xmpp/namespaces.ts";
import type { GatewayContext } from "./gateway-context.ts";
import type { PortalRooms } from "./portal-rooms.ts";
import { forEachConcurrently, type UserDirectory } from "./users.ts";

/** Error conditions with which a server says "no such session here". */
const GONE_CONDITIONS = new Set([
  "service-unavailable",
  "recipient-unavailable",
  "item-not-found",
  "remote-server-not-found",
]);

/** Checks in flight at once. */
const CONCURRENCY = 32;
/** A pass this often while the link is up, for resources that went offline in silence since. */
const PERIOD_MS = 30 * 60_000;
/** How long an answer may take before the resource counts as present. */
const TIMEOUT_MS = 10_000;

export interface ResourceCheckOptions {
  gw: GatewayContext;
  users: UserDirectory;
  /** The gateway's portal rooms, if its adapter opened any. */
  portals: () => PortalRooms | undefined;
  /**
   * Queues `task` behind the stanzas from `user` to `address` already queued, as a stanza from
   * them would be; it must queue synchronously.
   */
  serialize: (user: string, address: string, task: () => Promise<void>) => Promise<void>;
  log: Logger;
}

type Verdict = "gone" | "present" | "no answer";

interface Pending {
  to: string;
  finish: (verdict: Verdict) => void;
  timer: NodeJS.Timeout;
}

export class ResourceCheck {
  private readonly pending = new Map<string, Pending>();
  /** Makes request ids unguessable, so nobody else's iq can pass for the answer. */
  private readonly prefix = randomBytes(6).toString("hex");
  private count = 0;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly opts: ResourceCheckOptions) {
    this.timer = setInterval(() => this.checkAll(), PERIOD_MS);
    this.timer.unref?.();
  }

  /** Checks every resource believed present: now, or once more after the pass under way. */
  checkAll(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .catch((err: unknown) => this.opts.log.warn({ err: String(err) }, "checking resources failed"))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.checkAll();
        }
      });
  }

  /** Resolves once no pass is running. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * Takes an answer to one of our requests; false when `stanza` answers none of them (then it is
   * handled as any other stanza).
   */
  settle(stanza: Element): boolean {
    const { type, id, from } = stanza.attrs;
    if (stanza.name !== "iq" || (type !== "result" && type !== "error") || !id) return false;
    const pending = this.pending.get(id);
    if (!pending || from?.toLowerCase() !== pending.to.toLowerCase()) return false;
    pending.finish(type === "error" && saysGone(stanza) ? "gone" : "present");
    return true;
  }

  /** The link went down: no answer can come, so every open request counts as present. */
  linkDown(): void {
    for (const p of [...this.pending.values()]) p.finish("present");
  }

  /** No further passes (shutdown); open requests count as present. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.linkDown();
  }

  private async pass(): Promise<void> {
    // One request per full JID, whatever number of rooms it is in.
    const targets = this.believedPresent();
    const tally: Record<Verdict, number> = { gone: 0, present: 0, "no answer": 0 };
    await forEachConcurrently([...targets], CONCURRENCY, async ([resource, askAs]) => {
      if (!this.stopped) tally[await this.ask(askAs, resource)] += 1;
    });
    this.opts.log.info({ checked: targets.size, ...tally }, "room and gateway resources checked");
  }

  /**
   * Every resource believed present, with the address to ask it from: an occupant JID of a room
   * it is in (what a MUC service would use), else the gateway JID.
   */
  private believedPresent(): Map<string, string> {
    const { gw, users, portals } = this.opts;
    const targets = new Map<string, string>();
    const add = (resource: string, askAs: string) => {
      if (!targets.has(resource)) targets.set(resource, askAs);
    };
    for (const user of users.all())
      for (const room of user.rooms.values())
        for (const r of room.resources) add(r, gw.addressing.occupantJid(room.id, room.nick));
    for (const o of portals()?.occupancies() ?? [])
      add(o.resource, gw.addressing.occupantJid(o.roomId, o.nick));
    for (const user of users.all()) for (const r of user.resources) add(r, gw.domain);
    return targets;
  }

  private ask(from: string, to: string): Promise<Verdict> {
    this.count += 1;
    const id = `rc-${this.prefix}-${this.count}`;
    return new Promise<Verdict>((resolve) => {
      const finish = (verdict: Verdict) => {
        if (this.pending.get(id) !== entry) return;
        this.pending.delete(id);
        clearTimeout(entry.timer);
        // Synchronously, while the answer is the stanza being handled (see the module comment).
        if (verdict === "gone") this.remove(to);
        resolve(verdict);
      };
      const entry: Pending = {
        to,
        finish,
        timer: setTimeout(() => finish("no answer"), TIMEOUT_MS),
      };
      this.pending.set(id, entry);
      this.opts.gw
        .send(xml("iq", { type: "get", id, from, to }, xml("query", { xmlns: NS.discoInfo })))
        .catch(() => finish("present"));
    });
  }

  /**
   * Removes a gone resource as its leaving would: from each room it is in (status 333, "removed
   * because of a technical problem"; the puppet leaves the network room when nobody needs it any
   * more) and from the gateway JID; then closes the user's session if nothing needs it.
   */
  private remove(resource: string): void {
    const { gw, users, portals, serialize, log } = this.opts;
    const jid = parseJid(resource);
    if (!jid) return;
    const owner = bareJid(jid);
    const codes = [MucStatus.removedTechnical];
    const user = users.existing(owner);
    const steps: Promise<void>[] = [];
    const rooms: string[] = [];
    for (const room of user?.rooms.values() ?? []) {
      if (!user || !room.resources.has(resource)) continue;
      rooms.push(room.id);
      steps.push(
        serialize(owner, gw.addressing.roomJid(room.id), () =>
          user.leave(resource, room.id, undefined, codes),
        ),
      );
    }
    const portalRooms = portals();
    for (const o of portalRooms?.occupancies() ?? []) {
      if (o.resource !== resource || !portalRooms) continue;
      rooms.push(o.roomId);
      steps.push(
        serialize(owner, gw.addressing.roomJid(o.roomId), () => portalRooms.leave(resource, o.roomId, codes)),
      );
    }
    if (user?.resources.has(resource))
      steps.push(
        serialize(owner, gw.domain, async () => {
          user.resources.delete(resource);
          await gw.store.online.remove(gw.domain, owner, resource);
        }),
      );
    log.info({ resource, rooms }, "resource gone: removing it as if it had left");
    Promise.all(steps)
      .then(async () => {
        if (user) await serialize(owner, gw.domain, () => users.releaseIfUnused(user));
      })
      .catch((err: unknown) => log.warn({ resource, err: String(err) }, "removing a gone resource failed"));
  }
}

/** An error of type cancel whose condition says the address has no session. */
function saysGone(stanza: Element): boolean {
  const error = stanza.getChild("error");
  if (error?.attrs.type !== "cancel") return false;
  return error.children.some((c) => typeof c !== "string" && GONE_CONDITIONS.has(c.name));
}
