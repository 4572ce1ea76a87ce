/**
 * Scenarios 1 and 2: relaying channel messages IRC → MUC and MUC → IRC through one gateway.
 *
 * One run = a fresh channel, a raw IRC client in it, `users` XMPP users joined through the
 * gateway, then two phases of numbered messages:
 * - throughput: `messages` sent as fast as the gateway completes them, with at most `window`
 *   incomplete at a time (a message is complete when every receiver has it);
 * - latency: `pacedMessages` sent at a fixed `pacedRate` per second, well under what either gateway
 *   sustains, so the latency is the gateway's own delay rather than time spent in a queue.
 * IRC → MUC: the IRC client sends, every XMPP user receives. MUC → IRC: the first XMPP user sends,
 * the IRC client receives (the other users' puppets are in the channel, as in real use).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { RawIrcClient } from "../test/support/irc-client.ts";
import { type XmppTestClient, xml } from "../test/support/xmpp-client.ts";
import { inBatches } from "./accounts.ts";
import { DeliveryTracker, type PhaseFigures, seqOf, tapIrc, tapXmpp } from "./delivery.ts";
import type { GatewayName, GatewayUnderTest } from "./gateways.ts";
import { sampleProcess } from "./proc.ts";
import { forgetReceived, joinRoom, leaveAll } from "./rooms.ts";

export type Direction = "irc-to-muc" | "muc-to-irc";

export interface RelayOptions {
  messages: number;
  window: number;
  pacedMessages: number;
  pacedRate: number;
  /** A phase ends when nothing arrived for this long; what is missing is lost. */
  stallMs: number;
  /** Prosody's pid: its CPU time is sampled too, since every delivery passes through it. */
  prosodyPid?: number;
}

export interface RelayRunResult {
  gateway: GatewayName;
  direction: Direction;
  users: number;
  round: number;
  throughput: PhaseFigures;
  paced: PhaseFigures;
  /** XMPP errors the sender got back (MUC → IRC). */
  errors: number;
  /** CPU seconds used during the throughput phase by the gateway and by Prosody (/proc). */
  cpu: { gatewaySeconds: number; prosodySeconds: number };
}

let runCounter = 0;

export async function relayRun(
  gateway: GatewayUnderTest,
  direction: Direction,
  users: XmppTestClient[],
  openIrc: (nick: string) => Promise<RawIrcClient>,
  round: number,
  options: RelayOptions,
): Promise<RelayRunResult> {
  runCounter += 1;
  const runId = `r${runCounter}${gateway.nickTag}`;
  const channel = `#${runId}`;
  const roomJid = gateway.roomJid(channel);
  const irc = await openIrc(`i${runId}`);
  await irc.join(channel);
  const members = users.map((client, index) => ({ client, roomJid, nick: `${gateway.nickTag}${index}` }));
  await inBatches(members, 50, (m) => joinRoom(m.client, m.roomJid, m.nick, 60_000));

  let errors = 0;
  const phase = async (label: string, count: number, pace?: number): Promise<PhaseFigures> => {
    const prefix = `${runId}.${label}.`;
    const tracker = new DeliveryTracker(count, direction === "irc-to-muc" ? users.length : 1);
    const tapMs = options.stallMs + count * 200 + 60_000;
    let send: (seq: number) => Promise<void>;
    if (direction === "irc-to-muc") {
      const from = `${roomJid}/${irc.nick}`;
      users.forEach((client, receiver) => {
        tapXmpp(
          client,
          tracker,
          (stanza, at) => {
            if (stanza.name !== "message" || stanza.attrs.from !== from) return;
            const seq = seqOf(stanza.getChildText("body"), prefix);
            if (seq !== undefined) tracker.arrived(receiver, seq, at);
          },
          `${label} messages of ${runId} (receiver ${receiver})`,
          tapMs,
        );
      });
      send = async (seq) => irc.privmsg(channel, `${prefix}${seq}`);
    } else {
      const sender = users[0]!;
      tapIrc(
        irc,
        tracker,
        (line, at) => {
          if (line.command !== "PRIVMSG" || line.params[0]?.toLowerCase() !== channel) return;
          const seq = seqOf(line.params[1], prefix);
          if (seq !== undefined) tracker.arrived(0, seq, at);
        },
        `${label} messages of ${runId} on IRC`,
        tapMs,
      );
      tapXmpp(
        sender,
        tracker,
        (stanza) => {
          if (stanza.name === "message" && stanza.attrs.type === "error") errors += 1;
        },
        `errors for ${runId}`,
        tapMs,
      );
      send = (seq) =>
        sender.send(
          xml(
            "message",
            { to: roomJid, type: "groupchat", id: `${prefix}${seq}` },
            xml("body", {}, `${prefix}${seq}`),
          ),
        );
    }
    const startedAt = performance.now();
    for (let seq = 0; seq < count; seq++) {
      if (pace !== undefined) {
        const due = startedAt + (seq * 1000) / pace;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
      } else if (!(await tracker.roomInWindow(options.window, options.stallMs))) {
        break;
      }
      tracker.markSent(seq);
      await send(seq);
    }
    await tracker.allComplete(options.stallMs);
    return tracker.figures();
  };

  try {
    const cpuNow = async () => ({
      gateway: (await sampleProcess(gateway.pid())).cpuSeconds,
      prosody: options.prosodyPid ? (await sampleProcess(options.prosodyPid)).cpuSeconds : Number.NaN,
    });
    const before = await cpuNow();
    const throughput = await phase("t", options.messages);
    const after = await cpuNow();
    const paced = await phase("p", options.pacedMessages, options.pacedRate);
    const cpu = {
      gatewaySeconds: after.gateway - before.gateway,
      prosodySeconds: after.prosody - before.prosody,
    };
    return { gateway: gateway.name, direction, users: users.length, round, throughput, paced, errors, cpu };
  } finally {
    const unconfirmed = await leaveAll(members, 20_000);
    if (unconfirmed > 0)
      process.stderr.write(`bench: ${gateway.name}: ${unconfirmed} leaves of ${channel} not confirmed\n`);
    await irc.close();
    forgetReceived(users);
  }
}
