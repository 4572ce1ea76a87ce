/**
 * Small IQ answers every entity gives: XEP-0199 ping, XEP-0092 software version, XEP-0202 entity
 * time.
 */
import { type Element, xml } from "@xmpp/component-core";
import { NS } from "./namespaces.ts";

export function versionResult(name: string, version: string): Element {
  // The OS is left out on purpose: it tells an attacker more than it helps a user.
  return xml("query", { xmlns: NS.version }, xml("name", {}, name), xml("version", {}, version));
}

/** XEP-0202: UTC time and the process's offset from it, as ±hh:mm. */
export function timeResult(now: Date = new Date()): Element {
  const offsetMinutes = -now.getTimezoneOffset();
  const sign = offsetMinutes >= 0 ? "+" : "-";
  const abs = Math.abs(offsetMinutes);
  const tzo = `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
  return xml("time", { xmlns: NS.time }, xml("tzo", {}, tzo), xml("utc", {}, xmppDateTime(now)));
}

/** XEP-0082 DateTime in UTC, without fractions beyond milliseconds. */
export function xmppDateTime(date: Date): string {
  return date.toISOString();
}

/** XEP-0203 delayed delivery marker. */
export function delayElement(stamp: Date, from: string): Element {
  return xml("delay", { xmlns: NS.delay, stamp: xmppDateTime(stamp), from });
}
