/**
 * Scenario 3 (puppet scale) and 4 (restart recovery).
 *
 * Scale: `users.length` XMPP users each join a channel through the gateway, which gives each of
 * them their own IRC connection (a puppet). Users are spread over channels of `channelSize`
 * (a single channel of 1000 would measure the O(n²) fan-out of join notices instead of puppets).
 * Figures: time from sending the joins to the last self-presence, the gateway's RSS before and
 * after and the difference per puppet, CPU seconds used meanwhile (from /proc).
 *
 * Restart (Postern only): with the puppets joined and their rooms in Redis, the gateway is
 * stopped (SIGTERM) and started again; an IRC observer in every channel times the puppets'
 * JOINs from the new process's spawn until all are back.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { ParsedLine, RawIrcClient } from "../test/support/irc-client.ts";
import type { XmppTestClient } from "../test/support/xmpp-client.ts";
import { inBatches } from "./accounts.ts";
import type { GatewayName, GatewayUnderTest } from "./gateways.ts";
import { sampleProcess } from "./proc.ts";
import { forgetReceived, joinRoom, leaveAll } from "./rooms.ts";

export interface ScaleRunResult {
  gateway: GatewayName;
  users: number;
  round: number;
  joinSeconds: number;
  failedJoins: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
  perPuppetKiB: number;
  cpuSeconds: number;
}

export interface RestartResult {
  users: number;
  round: number;
  /** Spawn → component online (disco answered). */
  onlineSeconds: number;
  /** Spawn → every puppet's JOIN seen on IRC. */
  allBackSeconds: number;
  rejoined: number;
}

export interface ScaleOptions {
  channelSize: number;
  joinTimeoutMs: number;
  /** Settle time after the last join before memory is read. */
  settleMs: number;
}

/** Restarts the gateway process; resolves with its spawn time once it is online. */
export type Restarter = () => Promise<{ gateway: GatewayUnderTest; startedAt: number; onlineAt: number }>;

let runCounter = 0;

export async function scaleRun(
  gateway: GatewayUnderTest,
  users: XmppTestClient[],
  openIrc: (nick: string) => Promise<RawIrcClient>,
  round: number,
  options: ScaleOptions,
  restart?: Restarter,
): Promise<{ scale: ScaleRunResult; restart?: RestartResult; gateway: GatewayUnderTest }> {
  runCounter += 1;
  const runId = `s${runCounter}${gateway.nickTag}`;
  const channelOf = (index: number) => `#${runId}-${Math.floor(index / options.channelSize)}`;
  const channels = [...new Set(users.map((_, i) => channelOf(i)))];
  const observer = await openIrc(`o${runId}`);
  for (const channel of channels) await observer.join(channel);
  const members = users.map((client, index) => ({
    client,
    roomJid: gateway.roomJid(channelOf(index)),
    nick: `${gateway.nickTag}${runId}u${index}`,
  }));

  let current = gateway;
  try {
    const before = await sampleProcess(current.pid());
    const startedAt = performance.now();
    let failedJoins = 0;
    const joinedAt = await inBatches(members, members.length, (m) =>
      joinRoom(m.client, m.roomJid, m.nick, options.joinTimeoutMs).catch((error: unknown) => {
        failedJoins += 1;
        if (failedJoins <= 3)
          process.stderr.write(
            `bench: ${gateway.name} join failed: ${(error as Error).message.slice(0, 300)}\n`,
          );
        return Number.NaN;
      }),
    );
    const lastJoin = Math.max(...joinedAt.filter((t) => Number.isFinite(t)));
    await sleep(options.settleMs);
    const after = await sampleProcess(current.pid());
    const scale: ScaleRunResult = {
      gateway: gateway.name,
      users: users.length,
      round,
      joinSeconds: (lastJoin - startedAt) / 1000,
      failedJoins,
      rssBeforeKiB: before.rssKiB,
      rssAfterKiB: after.rssKiB,
      perPuppetKiB: (after.rssKiB - before.rssKiB) / users.length,
      cpuSeconds: after.cpuSeconds - before.cpuSeconds,
    };

    let restartResult: RestartResult | undefined;
    if (restart) {
      const nicks = new Set(members.map((m) => m.nick.toLowerCase()));
      const back = new Set<string>();
      let allBackAt = Number.NaN;
      const isPuppetJoin = (line: ParsedLine) =>
        line.command === "JOIN" && line.nick !== undefined && nicks.has(line.nick.toLowerCase());
      const waiting = observer
        .waitForAll(
          (line) => {
            if (!isPuppetJoin(line)) return false;
            const key = `${line.nick!.toLowerCase()} ${line.params[0]?.toLowerCase()}`;
            if (back.has(key)) return false;
            back.add(key);
            if (back.size === members.length) allBackAt = performance.now();
            return true;
          },
          members.length,
          `all ${members.length} puppets back in their channels after the restart`,
          { since: observer.mark(), timeoutMs: options.joinTimeoutMs + 60_000 },
        )
        .catch((error: unknown) => error as Error);
      const restarted = await restart();
      current = restarted.gateway;
      const outcome = await waiting;
      if (outcome instanceof Error) process.stderr.write(`bench: ${outcome.message.split("\n")[0]}\n`);
      restartResult = {
        users: members.length,
        round,
        onlineSeconds: (restarted.onlineAt - restarted.startedAt) / 1000,
        allBackSeconds: (allBackAt - restarted.startedAt) / 1000,
        rejoined: back.size,
      };
    }
    return { scale, restart: restartResult, gateway: current };
  } finally {
    const unconfirmed = await leaveAll(members, 30_000);
    if (unconfirmed > 0)
      process.stderr.write(`bench: ${current.name}: ${unconfirmed} leaves not confirmed\n`);
    await observer.close();
    forgetReceived(users);
  }
}
