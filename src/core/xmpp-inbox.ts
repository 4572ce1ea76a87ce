/**
 * The crash journal of stanzas taken from the XMPP server. XEP-0114 has no acknowledgement: the
 * server counts a stanza as delivered once it wrote it to us, and Postern may hold it a while
 * (behind the conversation's earlier stanzas, a slow store) before the network has it. A
 * message stanza is written to a Redis stream as it arrives and removed once handled (passed to
 * the adapter, or answered with an error); what a killed process left there is handled again by
 * the next one, before anything new of the same conversation (RELIABILITY.md R1).
 *
 * Writing does not hold the stanza up: the entry is appended while the stanza is handled, and
 * removed once both are done. A store that is down (R3) only means no journal entry.
 */
import type { Element } from "@xmpp/component-core";
import type { Logger } from "pino";
import type { Outbox } from "../store/index.ts";
import { NS } from "../xmpp/namespaces.ts";
import { parseStoredStanza } from "../xmpp/stored-stanza.ts";

/** A left-over stanza older than this is answered (send it again) instead of sent late. */
export const STALE_AFTER_MS = 10 * 60_000;
/** The most left-over entries one start takes up; the stream itself is bounded by its maxEntries. */
const MAX_LEFT_OVER = 10_000;

export interface LeftOverStanza {
  entry: string;
  stanza: Element;
  /** How long ago it was taken (by the Redis clock of its entry id against ours). */
  ageMs: number;
}

export class XmppInbox {
  private readonly removals = new Set<Promise<void>>();

  constructor(
    private readonly stream: Outbox,
    private readonly log: Logger,
  ) {}

  /**
   * Journals a stanza that would reach the network (a message with content); resolves with its
   * entry (null when not journaled) and never rejects. Pass the result to `done` when handled.
   */
  record(stanza: Element): Promise<string | null> {
    if (!reachesNetwork(stanza)) return Promise.resolve(null);
    return this.stream.append(stanza.toString()).catch((err: unknown) => {
      this.log.warn({ err: String(err) }, "stanza not journaled: a crash now would lose it");
      return null;
    });
  }

  /**
   * The stanza of `entry` was handled: its journal entry goes, once `handedOver` (what the
   * adapter still holds of it, SendReceipt.handedOver) has settled too.
   */
  done(entry: Promise<string | null>, handedOver?: Promise<void>): void {
    // Bounded: an adapter that never settles it (a session closed meanwhile) does not keep the
    // entry, or this process's memory of it, for longer than a replay would still send it.
    const held = handedOver && Promise.race([handedOver, delay(STALE_AFTER_MS)]);
    const removal = Promise.all([entry, held])
      .then(([id]) => (id ? this.stream.ack([id]) : undefined))
      .catch((err: unknown) => this.log.warn({ err: String(err) }, "journal entry not removed"));
    this.removals.add(removal);
    void removal.finally(() => this.removals.delete(removal));
  }

  /**
   * Resolves once every entry handed to `done` so far is removed (a clean stop leaves none behind
   * to send twice), or after `timeoutMs`: what an adapter still holds then stays for the next process.
   */
  async idle(timeoutMs = 5_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.all([...this.removals]), timeout]);
    clearTimeout(timer);
  }

  /**
   * What an earlier process took and never handled, oldest first. Call before the first `record`
   * of this process, so that nothing of its own is among them. Unreadable entries are dropped.
   */
  async leftOver(): Promise<LeftOverStanza[]> {
    const entries = await this.stream.peek(MAX_LEFT_OVER);
    const now = Date.now();
    const left: LeftOverStanza[] = [];
    for (const { id, stanza } of entries) {
      try {
        left.push({ entry: id, stanza: parseStoredStanza(stanza), ageMs: now - Number(id.split("-")[0]) });
      } catch (err) {
        this.log.warn({ err: String(err), entry: id }, "unreadable journal entry dropped");
        await this.stream.ack([id]);
      }
    }
    return left;
  }
}

/** Messages that carry something for the network: text, a subject, a correction, a retraction, reactions. */
function reachesNetwork(stanza: Element): boolean {
  if (stanza.name !== "message" || stanza.attrs.type === "error") return false;
  return (
    stanza.getChild("body") !== undefined ||
    stanza.getChild("subject") !== undefined ||
    stanza.getChild("retract", NS.retract) !== undefined ||
    stanza.getChild("reactions", NS.reactions) !== undefined
  );
}

/** Resolves after `ms`, without keeping the process alive for it. */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
