/**
 * Message lines written to an IRC server that nothing yet proves it read (RELIABILITY.md R1, R8).
 *
 * Plain IRC has no receipts, but the server answers our PINGs in order: its PONG to a PING written
 * after a line proves the line was read. Bytes merely heard from the server prove nothing — they
 * may have crossed our line on the wire, and a line still in our socket's send buffer is thrown
 * away by the kernel if the process dies with unread input (the socket is reset). So right after a
 * message line is written, a PING follows unless one is out already; its PONG confirms every line
 * written before it and, if more were written meanwhile, sends the next PING. A burst thus costs a
 * PING per round trip, and what a fault can repeat is about one round trip of lines. The PINGs go
 * straight to the socket, outside the flood limiter, like irc-framework's own.
 *
 * Two owners care. When the link is lost, the messages with an unconfirmed line are sent again
 * (`take`): one the server did read arrives twice, which the plan allows (≤ 1 duplicate per
 * conversation per fault where IRC has no stable ids). And a message is handed over — the core may
 * drop it from its crash journal — once its last line is confirmed (`handedOver`).
 *
 * Each line carries its message's tag (the same object for every line of one message), so the
 * owner gets messages back, not lines. Bounded: past `maxLines` or `maxBytes` the oldest lines are
 * forgotten, as if confirmed, and counted, so the user can be told some were not checked.
 */

export interface UnconfirmedLimits {
  maxLines: number;
  maxBytes: number;
}

/** Per connection: 100 lines, 64 KiB. */
export const UNCONFIRMED_LIMITS: UnconfirmedLimits = { maxLines: 100, maxBytes: 64 * 1024 };

/** What was unconfirmed when the link was lost. */
export interface Unconfirmed<Tag> {
  /** The messages with a line unconfirmed, each once, in the order their first line was written. */
  tags: Tag[];
  /** Lines forgotten to stay within the bounds since a PONG last confirmed lines. */
  forgotten: number;
}

interface Line<Tag> {
  seq: number;
  tag: Tag;
  bytes: number;
  /** The last line of its message: once confirmed, the message is handed over. */
  last: boolean;
}

export class UnconfirmedLines<Tag> {
  private lines: Line<Tag>[] = [];
  private bytes = 0;
  private forgotten = 0;
  private writtenCount = 0;
  private pings = 0;
  /** The PING out now: its token, and the last line written before it. */
  private outstanding: { token: string; upTo: number } | undefined;

  constructor(
    private readonly ping: (token: string) => void,
    /** `tag`'s message was read whole by the server, or forgotten over the bound, or closed. */
    private readonly handedOver: (tag: Tag) => void,
    private readonly limits: UnconfirmedLimits = UNCONFIRMED_LIMITS,
  ) {}

  get size(): number {
    return this.lines.length;
  }

  /** A line of `tag`'s message was handed to the socket; `last`: the message's last line. */
  written(tag: Tag, line: string, last = true): void {
    const bytes = Buffer.byteLength(line, "utf8") + 2;
    this.writtenCount += 1;
    this.lines.push({ seq: this.writtenCount, tag, bytes, last });
    this.bytes += bytes;
    while (this.lines.length > this.limits.maxLines || this.bytes > this.limits.maxBytes) {
      const oldest = this.lines.shift();
      if (oldest === undefined) break;
      this.bytes -= oldest.bytes;
      this.forgotten += 1;
      if (oldest.last) this.handedOver(oldest.tag);
    }
    if (this.outstanding === undefined) this.sendPing();
  }

  /** A PONG arrived; true if it answered our PING (the caller need not look at it further). */
  pong(params: readonly string[]): boolean {
    const outstanding = this.outstanding;
    if (outstanding === undefined || !params.includes(outstanding.token)) return false;
    this.outstanding = undefined;
    const confirmed = this.lines.filter((line) => line.seq <= outstanding.upTo);
    this.lines = this.lines.filter((line) => line.seq > outstanding.upTo);
    this.bytes = this.lines.reduce((n, line) => n + line.bytes, 0);
    this.forgotten = 0;
    for (const line of confirmed) if (line.last) this.handedOver(line.tag);
    if (this.lines.length > 0) this.sendPing();
    return true;
  }

  /** Empties the list and returns what it held (the link is gone; a PONG on it never counts). */
  take(): Unconfirmed<Tag> {
    const taken: Unconfirmed<Tag> = {
      tags: [...new Set(this.lines.map((line) => line.tag))],
      forgotten: this.forgotten,
    };
    this.clear();
    return taken;
  }

  /** Closed for good by us: nothing will be sent again, so every message counts as handed over. */
  closed(): void {
    const tags = [...new Set(this.lines.filter((line) => line.last).map((line) => line.tag))];
    this.clear();
    for (const tag of tags) this.handedOver(tag);
  }

  private clear(): void {
    this.lines = [];
    this.bytes = 0;
    this.forgotten = 0;
    this.outstanding = undefined;
  }

  private sendPing(): void {
    this.pings += 1;
    this.outstanding = { token: `postern-confirm-${this.pings}`, upTo: this.writtenCount };
    this.ping(this.outstanding.token);
  }
}
