/**
 * Lines written to an IRC server that nothing since proves it read (RELIABILITY.md R8).
 *
 * Plain IRC has no receipts, but TCP is ordered both ways: once bytes arrive from the server
 * after we wrote a line, we take the line as read (the server wrote after reading it). Lines
 * written since bytes last arrived, including those written while handling them, are
 * "unconfirmed": a link that dies without a word (a half-open link, a blackholed route, a
 * crashed server) may have swallowed them. When that happens their messages are sent again after
 * the reconnect; one the server did read arrives twice, which the plan allows (≤ 1 duplicate per
 * conversation per fault where IRC has no stable ids). Bytes that crossed our line on the wire
 * count as a confirmation too: that window is one round trip.
 *
 * Each line carries its message's tag (the same object for every line of one message), so the
 * owner gets messages back, not lines; and once a message's last line is confirmed, the owner
 * hears of it (`onConfirmed`): the whole message is with the server. Bounded: past `maxLines` or
 * `maxBytes` the oldest lines are forgotten, as if confirmed, and counted, so the user can be told
 * some were not checked.
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
  /** Lines forgotten to stay within the bounds since the server was last heard. */
  forgotten: number;
}

export class UnconfirmedLines<Tag> {
  private lines: { tag: Tag; bytes: number; last: boolean }[] = [];
  private bytes = 0;
  private forgotten = 0;

  constructor(
    private readonly limits: UnconfirmedLimits = UNCONFIRMED_LIMITS,
    /** A message whose last line is confirmed (or forgotten over the bound, as if confirmed). */
    private readonly onConfirmed: (tag: Tag) => void = () => undefined,
  ) {}

  get size(): number {
    return this.lines.length;
  }

  /** A line of `tag`'s message was handed to the socket; `last`: the message's last line. */
  written(tag: Tag, line: string, last = true): void {
    const bytes = Buffer.byteLength(line, "utf8") + 2;
    this.lines.push({ tag, bytes, last });
    this.bytes += bytes;
    while (this.lines.length > this.limits.maxLines || this.bytes > this.limits.maxBytes) {
      const oldest = this.lines.shift();
      if (oldest === undefined) break;
      this.bytes -= oldest.bytes;
      this.forgotten += 1;
      if (oldest.last) this.onConfirmed(oldest.tag);
    }
  }

  /** The server sent something: everything written before it was read. */
  heard(): void {
    if (this.lines.length === 0 && this.forgotten === 0) return;
    const confirmed = this.lines.filter((line) => line.last);
    this.clear();
    for (const line of confirmed) this.onConfirmed(line.tag);
  }

  private clear(): void {
    this.lines = [];
    this.bytes = 0;
    this.forgotten = 0;
  }

  /** Empties the list and returns what it held (the link is gone). */
  take(): Unconfirmed<Tag> {
    const taken: Unconfirmed<Tag> = {
      tags: [...new Set(this.lines.map((line) => line.tag))],
      forgotten: this.forgotten,
    };
    this.clear();
    return taken;
  }
}
