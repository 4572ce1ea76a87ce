/**
 * R4: Redis loses its last writes. Users register, change their nick, unregister, and chat through
 * Postern (in-process, test network adapter, whose registrations bind the identity `nick:<nick>`
 * that only one JID may hold) while an RDB snapshot is taken; the load goes on for 1 s (and 60 s),
 * then Redis is killed with SIGKILL and started on the same port from that stale snapshot.
 * Postern reconnects on its own, checks its open sessions against Redis (closing those whose
 * registration is gone, reconnecting those whose registration differs), and the users carry on.
 * Then the consistency checker (redis-consistency.ts) reads every key, and every user whose
 * registration the restore lost registers again, twice (it must work, and the second time must
 * change nothing).
 *
 * A round without a fault comes first: it tells which findings the fault caused and which the
 * ordinary operations leave anyway.
 *
 * Environment: POSTERN_R4_USERS (12), POSTERN_R4_STALE_S ("1,60": one round per value),
 * POSTERN_R4_AFTER_S (10: load after Redis is back).
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import pino from "pino";
import { plain } from "../../src/adapter/text.ts";
import { startPostern } from "../../src/core/app.ts";
import { startProsody } from "../../test/support/prosody.ts";
import { startRedis } from "../../test/support/redis.ts";
import { TestNetwork } from "../../test/support/test-network.ts";
import { testNetworkConfig } from "../../test/support/test-network-config.ts";
import { connectXmpp, IqError, type XmppTestClient, xml } from "../../test/support/xmpp-client.ts";
import {
  type ConsistencyReport,
  checkConsistency,
  defectCounts,
  describeDefects,
  listDefects,
} from "./redis-consistency.ts";
import { type FaultRow, type Figure, type RowOutcome, sleep } from "./row.ts";

export const rows: FaultRow[] = [
  { key: "R4", title: "Redis lost last writes (stale RDB restore)", tier: "N", run: () => runR4() },
];

const USERS = Number(process.env.POSTERN_R4_USERS ?? 12);
const STALE_S = (process.env.POSTERN_R4_STALE_S ?? "1,60").split(",").map(Number);
const AFTER_S = Number(process.env.POSTERN_R4_AFTER_S ?? 10);
const GATEWAY = "test.localhost";
const PREFIX = "r4:";
const PASSWORD = "r4-pw";
/** Fewer nicks than users, so that claims collide. */
const NICKS = Math.max(2, Math.ceil(USERS * 0.75));

const jidOf = (i: number) => `r4u${i}@localhost`;
const identityOf = (values: Record<string, string>) =>
  values.nick === undefined ? undefined : `nick:${values.nick}`;

interface Tally {
  /** "action → outcome" (e.g. "register → conflict/cancel") → count. */
  outcomes: Map<string, number>;
}

function bump(t: Tally, what: string): void {
  t.outcomes.set(what, (t.outcomes.get(what) ?? 0) + 1);
}

async function runR4(): Promise<RowOutcome> {
  const secret = randomBytes(12).toString("hex");
  // RDB, not AOF: the row restores a snapshot it took itself (SAVE), as a stale RDB would be.
  const redis = await startRedis({ aof: false });
  const prosody = await startProsody({
    components: [{ domain: GATEWAY, secret }],
    users: Array.from({ length: USERS }, (_, i) => ({ username: `r4u${i}`, password: PASSWORD })),
  });
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 50, retryStrategy: () => 100 });
  admin.on("error", () => undefined);
  // Only the row's own snapshots: no automatic saves in between.
  const noAutoSave = () => admin.config("SET", "save", "");
  await noAutoSave();
  const network = new TestNetwork();
  const { config, factory } = testNetworkConfig(network, {
    domain: GATEWAY,
    xmpp: { port: prosody.componentPort, secret },
    redis: { url: redis.url, keyPrefix: PREFIX },
    limits: { registrationsPerHourPerDomain: 1_000_000, registrationsPerHourPerJid: 1_000_000 },
    sourceName: "r4.yaml",
  });
  const log = pino({ level: process.env.POSTERN_TEST_LOG ?? "silent" });
  const postern = await startPostern(config, { test: factory }, { log, waitOnlineMs: 15_000 });
  const clients: XmppTestClient[] = [];
  try {
    for (let i = 0; i < USERS; i++) {
      const c = await connectXmpp({
        port: prosody.c2sPort,
        domain: "localhost",
        username: `r4u${i}`,
        password: PASSWORD,
        resource: "r4",
      });
      await c.sendPresence();
      await c.sendPresence({ to: GATEWAY });
      clients.push(c);
    }
    /** What each user was told their registration is: the nick, or null when not registered. */
    const model: (string | null)[] = clients.map(() => null);
    const liveSessions = () =>
      [...network.sessions.entries()].map(([bareJid, ctx]) => ({
        bareJid,
        identity: identityOf(ctx.registration),
      }));
    const check = () =>
      checkConsistency({
        redis: admin,
        prefix: PREFIX,
        gateway: GATEWAY,
        identityOf,
        liveSessions: liveSessions(),
      });

    const figures: Figure[] = [];
    let seqBeforeRestore = 0;
    const notes: string[] = [];

    // --- round 0: the same load, no fault --------------------------------------------------------
    const baseTally: Tally = { outcomes: new Map() };
    await runLoad(clients, model, network, baseTally, 8_000);
    await sleep(2_000);
    const base = await check();
    figures.push(...roundFigures("no fault", base));
    notes.push(`no fault: operations: ${describeTally(baseTally)}.`);
    notes.push(...listDefects(base).map((l) => `no fault: ${l}`));

    // --- a round per staleness ------------------------------------------------------------------
    for (const staleS of STALE_S) {
      const label = `stale ${staleS} s`;
      const tally: Tally = { outcomes: new Map() };
      const marks = clients.map((c) => c.mark());
      let loading = true;
      const load = runLoad(clients, model, network, tally, () => !loading);
      await sleep(3_000);
      const snapshot = await redis.snapshot();
      const keysAtSnapshot = await admin.dbsize();
      await sleep(staleS * 1000);
      // Every user says something just before the fault, so that most registered users have a
      // session open when Redis comes back (a nick change closes it until the next use).
      await Promise.all(clients.map((c) => sendChat(c, `before the restore ${seqBeforeRestore++}`)));
      await sleep(500);
      const keysAtKill = await admin.dbsize();
      const toldMarks = clients.map((c) => c.mark());
      const openAtKill = liveSessions();
      await redis.restoreSnapshot(snapshot);
      await noAutoSave();
      const keysAfterRestore = await admin.dbsize();
      const modelAtRestore = [...model];
      const storedAtRestore = await Promise.all(clients.map((_, i) => admin.hget(regKey(i), "v:nick")));
      /** Open sessions acting on a registration the restored Redis does not hold. */
      const openAtRisk = openAtKill.filter((live) => {
        const stored = storedAtRestore[clients.findIndex((c) => c.bare === live.bareJid)];
        return live.identity !== (stored == null ? undefined : identityOf({ nick: stored }));
      }).length;
      const lostAtRestore = modelAtRestore.filter(
        (nick, i) => nick !== null && storedAtRestore[i] !== nick,
      ).length;
      const backAtRestore = modelAtRestore.filter(
        (nick, i) => nick === null && storedAtRestore[i] !== null,
      ).length;
      // Users keep going while Postern reconnects, then pause so the checker sees a quiet state.
      await sleep(2_000);
      loading = false;
      await load;
      await sleep(1_000);
      const afterRestore = await check();
      const messageErrors = errorsSince(clients, marks);
      const told = gatewayNoticesSince(clients, toldMarks);

      // Users whose registration the restore lost register again, twice; those it brought back
      // after they had unregistered unregister again.
      const recreate: Tally = { outcomes: new Map() };
      const lost: number[] = [];
      const resurrected: number[] = [];
      for (let i = 0; i < USERS; i++) {
        const stored = await admin.hget(regKey(i), "v:nick");
        if (model[i] !== null && stored !== model[i]) lost.push(i);
        if (model[i] === null && stored !== null) resurrected.push(i);
      }
      let idempotent = 0;
      for (const i of lost) {
        const nick = model[i] ?? "";
        const first = await register(clients[i]!, nick);
        const keysBefore = await userKeys(admin, i);
        const second = await register(clients[i]!, nick);
        const keysAfter = await userKeys(admin, i);
        bump(recreate, `re-register → ${first}, again → ${second}`);
        if (first === second && keysBefore === keysAfter) idempotent += 1;
        else
          notes.push(
            `${label}: ${jidOf(i)} re-registered → ${first}, again → ${second}; ${keysBefore === keysAfter ? "no key changed" : `keys changed: ${keysBefore} → ${keysAfter}`}`,
          );
        if (first !== "ok") model[i] = null;
      }
      for (const i of resurrected) bump(recreate, `unregister again → ${await unregister(clients[i]!)}`);
      for (const i of resurrected) model[i] = null;
      await sleep(1_000);
      const recreated = await check();

      // And the users carry on.
      const laterTally: Tally = { outcomes: new Map() };
      await runLoad(clients, model, network, laterTally, AFTER_S * 1000);
      await sleep(2_000);
      const later = await check();

      figures.push(
        {
          name: `${label}: keys at the snapshot / at the kill / after the restore`,
          value: `${keysAtSnapshot} / ${keysAtKill} / ${keysAfterRestore}`,
          target: "—",
          pass: null,
        },
        {
          name: `${label}: registrations lost or changed / brought back, as the restore left them`,
          value: `${lostAtRestore} / ${backAtRestore} (of ${modelAtRestore.filter((n) => n !== null).length} registered)`,
          target: "—",
          pass: null,
        },
        {
          name: `${label}: sessions open at the kill whose registration the restored Redis lost or holds otherwise`,
          value: `${openAtRisk} of ${openAtKill.length}`,
          target: "—",
          pass: null,
        },
        {
          name: `${label}: users the gateway told their registration was lost / differs (sessions closed / reconnected)`,
          value: `${told.lost} / ${told.differs}`,
          target: "— (one per open session Redis disagreed with)",
          pass: null,
        },
        ...roundFigures(`${label}, after the restore`, afterRestore),
        {
          name: `${label}: error replies to chats, snapshot → pause`,
          value: messageErrors || "none",
          target: "— (registration-required: unregistered senders)",
          pass: null,
        },
        {
          name: `${label}: … still so 2 s later, when the load paused`,
          value: `${lost.length} / ${resurrected.length}`,
          target: "—",
          pass: null,
        },
        {
          name: `${label}: those re-registered: same outcome twice, no key changed by the second`,
          value: `${idempotent} of ${lost.length}`,
          target: "all",
          pass: idempotent === lost.length,
        },
        {
          name: `${label}: defects after re-registering and unregistering again`,
          value: describeDefects(recreated),
          target: "0",
          pass: defectCounts(recreated).total === 0,
        },
        {
          name: `${label}: defects after the users carried on ${AFTER_S} s`,
          value: describeDefects(later),
          target: "0",
          pass: defectCounts(later).total === 0,
        },
      );
      notes.push(
        `${label}: operations until the pause: ${describeTally(tally)}.`,
        `${label}: re-registration and unregistration after the restore: ${describeTally(recreate) || "none needed"}.`,
        `${label}: operations after: ${describeTally(laterTally)}.`,
      );
      notes.push(...listDefects(afterRestore).map((l) => `${label}, after the restore: ${l}`));
      notes.push(...listDefects(recreated).map((l) => `${label}, after re-registering: ${l}`));
      notes.push(...listDefects(later).map((l) => `${label}, after the users carried on: ${l}`));
    }
    notes.unshift(
      `${USERS} XMPP users (Prosody) through Postern in-process with the test network adapter; its registration (nick, password) binds the identity nick:<nick>, which only one JID may hold (${NICKS} nicks for ${USERS} users, so claims collide). Each user loops every 300–900 ms: register with a random nick, change it, re-register unchanged, unregister, send a chat message, or get one from the network.`,
      `Per round: load 3 s, SAVE, copy dump.rdb aside, load on for the staleness, every user sends one chat (so that most registered users have a session open), kill -9 redis-server, put the stale dump.rdb back, start it on the same port; the load goes on 2 s (Postern reconnects by itself and checks every open session against the registration Redis now holds: src/core/registration-audit.ts), pauses, and the checker reads every key. Then each user whose registration the restore lost (or changed) registers again twice with the nick they were told they had, each user it brought back after they unregistered unregisters again, and the checker runs again; then the load runs ${AFTER_S} s more and the checker runs a last time.`,
      "Checker (scripts/faults/redis-consistency.ts): orphan keys (per-user key without TTL of an unregistered user), registration ↔ user index, claim ↔ owner's claims set both ways, claims of unregistered JIDs, identities in two claims sets, registration's identity held by another JID or by nobody, stale claims (held but not named by the registration), open sessions without a registration or acting as an identity Redis binds to someone else, online index ⊇ users with resources.",
    );
    return { status: "measured", figures, notes };
  } finally {
    await Promise.all(clients.map((c) => c.stop().catch(() => undefined)));
    await postern.stop().catch(() => undefined);
    admin.disconnect();
    await prosody.stop();
    await redis.stop();
  }
}

function regKey(i: number): string {
  return `${PREFIX}v1:{u:${jidOf(i)}}:${GATEWAY}:reg`;
}

/** The user's keys, claims and registration (but when it was saved), as one string to compare. */
async function userKeys(admin: Redis, i: number): Promise<string> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, found] = await admin.scan(cursor, "MATCH", `${PREFIX}v1:{u:${jidOf(i)}}:*`, "COUNT", 500);
    keys.push(...found);
    cursor = next;
  } while (cursor !== "0");
  const claims = await admin.smembers(`${PREFIX}v1:{u:${jidOf(i)}}:${GATEWAY}:claims`);
  const reg = await admin.hgetall(regKey(i));
  delete reg["meta:updatedAt"];
  // A sealed value is encrypted with a fresh nonce on every save: compare that it is there.
  for (const field of Object.keys(reg)) if (field.startsWith("s:")) reg[field] = "(sealed)";
  return JSON.stringify([keys.sort(), claims.sort(), Object.entries(reg).sort()]);
}

/** Registers (or re-registers) with `nick`; resolves with "ok" or "condition/type". */
async function register(client: XmppTestClient, nick: string): Promise<string> {
  return outcome(
    client.iq(
      xml(
        "iq",
        { type: "set", to: GATEWAY },
        xml(
          "query",
          { xmlns: "jabber:iq:register" },
          xml(
            "x",
            { xmlns: "jabber:x:data", type: "submit" },
            xml("field", { var: "nick" }, xml("value", {}, nick)),
            xml("field", { var: "password" }, xml("value", {}, "pw")),
          ),
        ),
      ),
      20_000,
    ),
  );
}

async function unregister(client: XmppTestClient): Promise<string> {
  return outcome(
    client.iq(
      xml("iq", { type: "set", to: GATEWAY }, xml("query", { xmlns: "jabber:iq:register" }, xml("remove"))),
      20_000,
    ),
  );
}

async function outcome(request: Promise<unknown>): Promise<string> {
  try {
    await request;
    return "ok";
  } catch (err) {
    if (err instanceof IqError) return `${err.condition}/${err.type}`;
    return "no answer";
  }
}

/**
 * Every user loops through random actions until `until` (a deadline in ms from now, or a
 * predicate) says stop; the model follows what the gateway answered.
 */
async function runLoad(
  clients: XmppTestClient[],
  model: (string | null)[],
  network: TestNetwork,
  tally: Tally,
  until: number | (() => boolean),
): Promise<void> {
  const deadline = typeof until === "number" ? Date.now() + until : 0;
  const done = typeof until === "number" ? () => Date.now() > deadline : until;
  let seq = 0;
  await Promise.all(
    clients.map(async (client, i) => {
      while (!done()) {
        const nick = model[i];
        const r = Math.random();
        const pick = `n${Math.floor(Math.random() * NICKS)}`;
        if (nick === null || nick === undefined) {
          if (r < 0.7) {
            const result = await register(client, pick);
            bump(tally, `register → ${result}`);
            if (result === "ok") model[i] = pick;
          } else {
            await sendChat(client, `unregistered ${seq++}`);
            bump(tally, "chat sent while unregistered");
          }
        } else if (r < 0.4) {
          await sendChat(client, `hello ${seq++}`);
          bump(tally, "chat sent");
        } else if (r < 0.6) {
          const ctx = network.sessions.get(jidOf(i));
          if (ctx) {
            await ctx
              .emit({
                type: "message",
                conversation: { kind: "direct", id: "dave" },
                from: { nick: "dave", contactId: "dave" },
                kind: "normal",
                text: plain(`from dave ${seq++}`),
                id: `dave-${seq}`,
              })
              .then(
                () => bump(tally, "network message → delivered to the core"),
                () => bump(tally, "network message → refused by the core"),
              );
          }
        } else if (r < 0.75) {
          const result = await register(client, pick);
          bump(tally, `change nick → ${result}`);
          if (result === "ok") model[i] = pick;
        } else if (r < 0.82) {
          bump(tally, `re-register unchanged → ${await register(client, nick)}`);
        } else {
          const result = await unregister(client);
          bump(tally, `unregister → ${result}`);
          if (result === "ok") model[i] = null;
        }
        await sleep(300 + Math.random() * 600);
      }
    }),
  );
}

async function sendChat(client: XmppTestClient, body: string): Promise<void> {
  await client.send(
    xml("message", { to: `carol@${GATEWAY}`, type: "chat", id: `r4-${body}` }, xml("body", {}, body)),
  );
}

/** Users told by the gateway since their marks that their registration was lost, or differs. */
function gatewayNoticesSince(clients: XmppTestClient[], marks: number[]): { lost: number; differs: number } {
  const told = { lost: 0, differs: 0 };
  clients.forEach((c, i) => {
    const bodies = c.stanzas
      .slice(marks[i])
      .filter((s) => s.name === "message" && s.attrs.from === GATEWAY)
      .map((s) => s.getChildText("body") ?? "");
    if (bodies.some((b) => /registration .* was lost/.test(b))) told.lost += 1;
    if (bodies.some((b) => /registration .* differs/.test(b))) told.differs += 1;
  });
  return told;
}

/** "condition/type: n; …" over the message errors the clients got since their marks. */
function errorsSince(clients: XmppTestClient[], marks: number[]): string {
  const t: Tally = { outcomes: new Map() };
  clients.forEach((c, i) => {
    for (const s of c.stanzas.slice(marks[i])) {
      if (s.name !== "message" || s.attrs.type !== "error") continue;
      const error = s.getChild("error");
      const condition = error?.getChildElements().find((e) => e.name !== "text")?.name ?? "none";
      bump(t, `${condition}/${error?.attrs.type ?? "none"}`);
    }
  });
  return describeTally(t);
}

function describeTally(t: Tally): string {
  return [...t.outcomes.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([what, n]) => `${what}: ${n}`)
    .join("; ");
}

function roundFigures(label: string, r: ConsistencyReport): Figure[] {
  const c = defectCounts(r);
  const twoJids = c.identitiesInSeveralSets + c.identityHeldByAnother + c.liveIdentityNotTheirs;
  const claimDefects =
    c.claimsOfUnregistered +
    c.claimsNotInOwnerSet +
    c.claimSetEntriesNotHeld +
    c.identityUnclaimed +
    c.staleClaims;
  return [
    {
      name: `${label}: keys / registered users`,
      value: `${r.totalKeys} / ${r.registeredUsers}`,
      target: "—",
      pass: null,
    },
    {
      name: `${label}: orphaned keys (no TTL, owner not registered)`,
      value: `${c.orphanKeys} (and ${r.expiringOrphanKeys} with a TTL)`,
      target: "0",
      pass: c.orphanKeys === 0,
    },
    {
      name: `${label}: identity bound to 2 JIDs (claims sets / registration / open session)`,
      value: `${twoJids} (${c.identitiesInSeveralSets} / ${c.identityHeldByAnother} / ${c.liveIdentityNotTheirs})`,
      target: "0",
      pass: twoJids === 0,
    },
    {
      name: `${label}: claim defects (of nobody / ¬owner set / set ¬held / unclaimed / stale)`,
      value: `${claimDefects} (${c.claimsOfUnregistered} / ${c.claimsNotInOwnerSet} / ${c.claimSetEntriesNotHeld} / ${c.identityUnclaimed} / ${c.staleClaims})`,
      target: "0",
      pass: claimDefects === 0,
    },
    {
      name: `${label}: registrations not indexed / index entries not registered`,
      value: `${c.registrationsNotIndexed} / ${r.indexedWithoutRegistration.length}`,
      target: "0 / — (a superset is tolerated)",
      pass: c.registrationsNotIndexed === 0,
    },
    {
      name: `${label}: open sessions without a registration in Redis`,
      value: String(c.liveWithoutRegistration),
      target: "0",
      pass: c.liveWithoutRegistration === 0,
    },
    {
      name: `${label}: other defects (partial registration, online index, unknown key)`,
      value: String(c.partialRegistrations + c.onlineNotIndexed + c.unknownKeys),
      target: "0",
      pass: c.partialRegistrations + c.onlineNotIndexed + c.unknownKeys === 0,
    },
  ];
}
