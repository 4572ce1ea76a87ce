/**
 * Every inbound or outbound event ends in exactly one log line saying what became of it
 * (DESIGN.md §7): delivered, ignored (and why), or failed (why, and the error the sender got).
 */
import type { Logger } from "pino";
import { countEvent } from "./metrics.ts";

export type Direction = "to-xmpp" | "to-network";

export interface Outcome {
  direction: Direction;
  /** What it was: "message", "join", "presence", "iq:disco#info", … */
  what: string;
  user?: string;
  conversation?: string;
  result: "delivered" | "ignored" | "failed";
  reason?: string;
  /** For failures: the XMPP error condition the sender was sent. */
  errorSent?: string;
}

export function logOutcome(log: Logger, outcome: Outcome): void {
  countEvent("postern_events_total", {
    direction: outcome.direction,
    what: outcome.what,
    result: outcome.result,
  });
  // Deliveries are the bulk of the traffic: counted always, logged at debug (a busy gateway
  // would spend more time logging than relaying). Failures are what an operator must see.
  const level = outcome.result === "failed" ? "warn" : "debug";
  log[level](
    { outcome: outcome.result, ...outcome },
    `${outcome.direction} ${outcome.what} ${outcome.result}`,
  );
}
