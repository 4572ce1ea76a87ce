/**
 * Who may use a gateway and the live sessions of those who do: access checks (exact domain
 * match, DESIGN.md §7), registration and unregistration, and opening or closing a user's session
 * as their resources come and go.
 */
import { xml } from "@xmpp/component-core";
import type { FormValues } from "../adapter/forms.ts";
import { rateScopes } from "../store/keys.ts";
import { StanzaError } from "../xmpp/stanza-error.ts";
import type { GatewayContext } from "./gateway-context.ts";
import { chatMessage, stanzaIdFor } from "./render.ts";
import type { KeyedSerialQueue } from "./serial-queue.ts";
import { UserSession } from "./user-session.ts";

/** "N minute(s)" for a wait given in seconds, rounded up. */
function minutes(seconds: number): string {
  const n = Math.max(1, Math.ceil(seconds / 60));
  return `${n} minute${n === 1 ? "" : "s"}`;
}

/** Users restored at the same time after a start. */
const RESTORE_CONCURRENCY = 50;

/** Runs `task` over `items` with at most `limit` running at once. */
export async function forEachConcurrently<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** What checking an open session against the stored registration found (`verifyRegistration`). */
export type RegistrationCheck = "no-session" | "intact" | "lost" | "changed";

export class UserDirectory {
  private readonly sessions = new Map<string, UserSession>();
  private readonly pending = new Map<string, Promise<UserSession>>();

  constructor(
    private readonly gw: GatewayContext,
    private readonly eventQueue: KeyedSerialQueue,
  ) {}

  /** Allowed when the JID's domain is one of the configured domains, compared exactly. */
  isAllowed(bareJid: string): boolean {
    const at = bareJid.lastIndexOf("@");
    if (at <= 0) return false;
    return this.gw.config.users.allowedDomains.includes(bareJid.slice(at + 1));
  }

  isAdmin(bareJid: string): boolean {
    return (this.gw.config.users.admins ?? []).includes(bareJid);
  }

  /** Throws `not-allowed` for JIDs outside the allow-list. */
  requireAllowed(bareJid: string): void {
    if (!this.isAllowed(bareJid)) {
      throw new StanzaError(
        "not-allowed",
        `users of ${bareJid.split("@")[1] ?? "this server"} may not use this gateway`,
      );
    }
  }

  existing(bareJid: string): UserSession | undefined {
    return this.sessions.get(bareJid);
  }

  all(): UserSession[] {
    return [...this.sessions.values()];
  }

  /**
   * The user's live session object, created from their registration if needed. Users of an
   * adapter with implicit registration are registered on first use; others get
   * `registration-required`.
   */
  obtain(bareJid: string): Promise<UserSession> {
    const live = this.sessions.get(bareJid);
    if (live) return Promise.resolve(live);
    let pending = this.pending.get(bareJid);
    if (!pending) {
      pending = this.create(bareJid).finally(() => this.pending.delete(bareJid));
      this.pending.set(bareJid, pending);
    }
    return pending;
  }

  private async create(bareJid: string): Promise<UserSession> {
    this.requireAllowed(bareJid);
    const { store, domain, adapter } = this.gw;
    let registration = await store.registrations.load(domain, bareJid);
    if (!registration) {
      if (!adapter.registration.implicit) {
        throw new StanzaError("registration-required", `register with ${domain} first`);
      }
      await store.registrations.save(domain, bareJid, {}, []);
      registration = { values: {}, createdAt: Date.now(), updatedAt: Date.now() };
    }
    const user = new UserSession(this.gw, bareJid, registration.values, this.eventQueue);
    await user.loadRooms();
    this.sessions.set(bareJid, user);
    return user;
  }

  /** Closes the user's session when nothing needs it any more: no resource, no wanted room. */
  async releaseIfUnused(user: UserSession): Promise<void> {
    if (this.gw.adapter.keepSessionsOpen) return;
    if (user.resources.size > 0) return;
    for (const room of user.rooms.values()) if (room.wanted) return;
    if (this.sessions.get(user.user) !== user) return;
    this.sessions.delete(user.user);
    await user.close("Signed off", { notifyRooms: false });
  }

  /** Validates and stores a registration; re-registration keeps secret fields left empty. */
  async register(bareJid: string, submitted: FormValues): Promise<void> {
    this.requireAllowed(bareJid);
    const { store, domain, adapter, config } = this.gw;
    const spec = adapter.registration;
    const previous = await store.registrations.load(domain, bareJid);
    if (!previous) {
      const limit = config.limits.registrationsPerHourPerDomain;
      const userDomain = bareJid.slice(bareJid.lastIndexOf("@") + 1);
      const hit = await store.rateLimit.hit(
        rateScopes.registrationsPerDomain(domain, userDomain),
        limit,
        3600,
      );
      if (!hit.allowed)
        throw new StanzaError(
          "resource-constraint",
          "too many registrations from your server; try again later",
          "wait",
        );
    }
    const values: Record<string, string> = {};
    for (const field of spec.fields) {
      const raw = submitted[field.var];
      const value = Array.isArray(raw) ? raw.join("\n") : (raw ?? "");
      if (value.length > 4096)
        throw new StanzaError("not-acceptable", `${field.label ?? field.var} is too long`);
      if (value === "" && field.secret && previous?.values[field.var]) {
        values[field.var] = previous.values[field.var] ?? "";
        continue;
      }
      if (value === "" && field.required)
        throw new StanzaError("not-acceptable", `${field.label ?? field.var} is required`);
      if (value !== "") values[field.var] = value;
    }
    const result = await spec.validate(values, previous?.values ?? null);
    if (!result.ok) throw new StanzaError("not-acceptable", result.message);
    // Counted once the values are valid (a typo costs nothing), and before the identity is
    // claimed, so a refused registration leaves nothing behind. Changes count like new ones.
    const perJid = await store.rateLimit.hit(
      rateScopes.registrationsPerJid(domain, bareJid),
      config.limits.registrationsPerHourPerJid,
      3600,
    );
    if (!perJid.allowed)
      throw new StanzaError(
        "resource-constraint",
        `at most ${config.limits.registrationsPerHourPerJid} registrations per hour; try again in ${minutes(perJid.retryAfterSeconds)}`,
        "wait",
      );
    if (!previous) {
      // Claims of a JID with no registration are left over from one that never finished, or
      // that Redis lost in a restore from an older copy: let them go before claiming anew, so a
      // refused attempt leaves nothing behind either (R4 found such a claims set left for ever).
      await store.registrations.releaseIdentitiesExcept(domain, bareJid, undefined);
    }
    if (result.identity) {
      const claim = await store.registrations.claimIdentity(domain, result.identity, bareJid);
      if (claim === "conflict")
        throw new StanzaError("conflict", "that account is already linked to another XMPP address");
    }
    const secretFields = spec.fields.filter((f) => f.secret).map((f) => f.var);
    await store.registrations.save(domain, bareJid, result.values, secretFields);
    // Only after the save: a failure may leave an old claim held a while, never free an identity
    // the stored registration still names (R4 found old nicks held until unregistering).
    await store.registrations.releaseIdentitiesExcept(domain, bareJid, result.identity);
    const live = this.sessions.get(bareJid);
    if (live) {
      // New credentials take effect on a fresh session.
      this.sessions.delete(bareJid);
      await live.close("Registration changed", { notifyRooms: true });
    }
    if (this.gw.adapter.keepSessionsOpen) {
      // This network keeps delivering while the user is offline: start at once.
      const user = await this.obtain(bareJid);
      await user.open();
    }
    if (!previous) {
      // XEP-0100 §4.1.1: the gateway asks to be in the user's roster.
      this.gw.sendQuietly(xml("presence", { from: domain, to: bareJid, type: "subscribe" }));
    }
  }

  /** Deletes everything of the user at this gateway and closes their session. */
  async unregister(bareJid: string): Promise<void> {
    const { store, domain } = this.gw;
    const live = this.sessions.get(bareJid);
    this.sessions.delete(bareJid);
    if (live) await live.close("Unregistered", { notifyRooms: true });
    await store.registrations.remove(domain, bareJid);
    this.gw.sendQuietly(xml("presence", { from: domain, to: bareJid, type: "unsubscribed" }));
    this.gw.sendQuietly(xml("presence", { from: domain, to: bareJid, type: "unsubscribe" }));
  }

  /** Closes every session (shutdown); state in Redis stays for the next start. */
  async closeAll(reason: string): Promise<void> {
    const users = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(users.map((u) => u.close(reason, { notifyRooms: true })));
  }

  /**
   * After a (re)start: brings back every user who had online resources or persistent rooms,
   * rejoins their rooms, and asks every registered user's server for their presence.
   */
  async restore(): Promise<number> {
    const { store, domain, log } = this.gw;
    let restored = 0;
    const restoreOne = async (bareJid: string) => {
      this.gw.sendQuietly(xml("presence", { from: domain, to: bareJid, type: "probe" }));
      const resources = await store.online.list(domain, bareJid);
      try {
        if (await this.reopen(bareJid, resources)) restored += 1;
      } catch (err) {
        log.warn({ user: bareJid, err: String(err) }, "could not restore session");
      }
    };
    // Users come back side by side (a network's own connect pacing still spaces connections);
    // one after another, a thousand users took over 20 s.
    await forEachConcurrently(await store.registrations.listUsers(domain), RESTORE_CONCURRENCY, restoreOne);
    return restored;
  }

  /**
   * Opens the user's session on their stored registration for `resources` and rejoins their
   * rooms; when nothing needs it (no resource, no wanted room), lets it go. True if it is open.
   */
  private async reopen(bareJid: string, resources: readonly string[]): Promise<boolean> {
    const user = await this.obtain(bareJid);
    for (const r of resources) user.resources.add(r);
    const wanted = [...user.rooms.values()].some((r) => r.wanted);
    if (resources.length === 0 && !wanted && !this.gw.adapter.keepSessionsOpen) {
      await this.releaseIfUnused(user);
      return false;
    }
    await user.open();
    await user.rejoinRooms();
    return true;
  }

  /**
   * Makes the user's open session agree with the registration Redis holds now (after Redis came
   * back, possibly from an older copy; see registration-audit.ts):
   * - the same values: untouched, nothing is said;
   * - no registration: the session is closed (its network connection with it), the user is told
   *   to register again, and what is left of them in Redis is removed as on unregistering, so
   *   that a new registration starts clean and no claim of theirs lingers;
   * - other values (another nick, other settings): the session is closed and opened again on the
   *   stored registration, and the user is told.
   * For an adapter with implicit registration, no registration means its empty defaults.
   * A failed read throws: nothing is closed on a guess. Run it in the user's gateway queue, so it
   * cannot interleave with their registering or unregistering.
   */
  async verifyRegistration(bareJid: string): Promise<RegistrationCheck> {
    const live = this.sessions.get(bareJid);
    if (!live) return "no-session";
    const { store, domain, adapter, name } = this.gw;
    const stored = await store.registrations.load(domain, bareJid);
    const implicit = adapter.registration.implicit === true;
    const values = stored?.values ?? (implicit ? {} : null);
    if (values !== null && live.usesRegistration(values)) {
      // Written again so that the user index lists them for the next restart.
      if (!stored) await store.registrations.save(domain, bareJid, {}, []);
      return "intact";
    }
    // Replaced while we read (by their own registration, say): that session is current.
    if (this.sessions.get(bareJid) !== live) return "no-session";
    this.sessions.delete(bareJid);
    const resources = [...live.resources];
    const restored = "the gateway's storage was restored from an older copy";
    if (values === null) {
      await live.close("Registration lost", { notifyRooms: true });
      this.tell(
        bareJid,
        `Your registration with ${name} was lost: ${restored}. Your connection is closed; register again to use ${name}.`,
      );
      await store.registrations.remove(domain, bareJid);
      return "lost";
    }
    await live.close("Registration changed", { notifyRooms: true });
    if (!stored) await store.registrations.save(domain, bareJid, {}, []);
    this.tell(
      bareJid,
      stored
        ? `Your registration with ${name} differs from the one your connection used: ${restored}. Reconnecting with the stored registration; check it, or register again.`
        : `Your registration with ${name} was lost: ${restored}. Reconnecting with the default settings; register again to choose yours.`,
    );
    if (await this.reopen(bareJid, resources)) {
      const user = this.sessions.get(bareJid);
      if (user) for (const r of resources) this.gw.sendQuietly(user.gatewayPresence(r));
    }
    return "changed";
  }

  /** A chat message from the gateway itself to the user. */
  private tell(bareJid: string, body: string): void {
    const { domain } = this.gw;
    this.gw.sendQuietly(
      chatMessage({
        from: domain,
        to: bareJid,
        type: "chat",
        id: stanzaIdFor({ gateway: domain, user: bareJid, conversation: "" }),
        body,
      }),
    );
  }
}
