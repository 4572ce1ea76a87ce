/**
 * Every Redis key Postern uses is built here, and only here.
 *
 * Layout (`P` is the configured prefix, e.g. `postern:`; `<x>` is an encoded segment):
 *
 *   Keys of one XMPP user at one gateway — hash tag `{u:<bareJid>}`, so that all of a user's keys
 *   sit in one Redis Cluster slot and can be updated together in one MULTI or script:
 *     P v1:{u:<jid>}:<gw>:reg                       hash   registration values + metadata
 *     P v1:{u:<jid>}:<gw>:claims                    set    identities this user claimed at <gw>
 *     P v1:{u:<jid>}:<gw>:online                    set    the user's online XMPP resources
 *     P v1:{u:<jid>}:<gw>:state                     hash   the adapter's private state for this user
 *     P v1:{u:<jid>}:<gw>:core                      hash   the core's state for this user (joined rooms)
 *     P v1:{u:<jid>}:<gw>:idmap:<conv>:l:<legacy>   string legacy message id → stanza id (TTL)
 *     P v1:{u:<jid>}:<gw>:idmap:<conv>:s:<stanza>   string stanza id → legacy message id (TTL)
 *     P v1:{u:<jid>}:<gw>:archive:<conv>            stream the user's archive of one conversation
 *     P v1:{u:<jid>}:<gw>:dedupe:<event>            string inbound event already handled (TTL)
 *
 *   Gateway-wide keys — hash tag `{g:<gw>}`:
 *     P v1:{g:<gw>}:users                           set    bare JIDs registered at <gw>
 *     P v1:{g:<gw>}:online-users                    set    bare JIDs with online resources (superset)
 *     P v1:{g:<gw>}:state                           hash   the adapter's gateway-wide state
 *     P v1:{g:<gw>}:core                            hash   the core's gateway-wide state (portal rooms)
 *     P v1:{g:<gw>}:outbox                          stream stanzas waiting for the XMPP server
 *     P v1:{g:<gw>}:inbox                           stream stanzas from the XMPP server not yet handled
 *     P v1:{g:<gw>}:claim:<identity>                string legacy identity → bare JID owning it
 *     P v1:{g:<gw>}:archive:<conv>                  stream shared archive of a public room
 *     P v1:{g:<gw>}:dedupe:<event>                  string inbound event already handled (TTL)
 *
 *   Keys of no user or gateway (single-key operations only, so no hash tag is needed):
 *     P v1:rate:<scope>                             string fixed-window counter (TTL); scopes: `rateScopes`
 *     P v1:lock:<name>                              string leader lock holding its holder's token (TTL)
 *
 * Encoding: every variable segment (JID, gateway, conversation, message id, scope, …) is
 * percent-encoded: characters outside `A-Z a-z 0-9 - . _ ~ @ + = , ! $ & ' ( ) /` become `%XX` per
 * UTF-8 byte (lone UTF-16 surrogates are encoded as if they were code points, so every JavaScript
 * string has exactly one encoding). An encoded segment therefore never contains `:`, `{`, `}`, `%`
 * (other than as an escape), whitespace or the glob characters `* ? [ ] \`. So: segments cannot run
 * into each other, two different inputs always give two different keys, the first `{…}` of a key
 * is always our hash tag, and SCAN patterns built from encoded segments need no escaping.
 *
 * `v1` is the schema version: a change to what a key holds gets a new version, never a silent
 * reinterpretation of old data.
 */

import { createHash } from "node:crypto";

/** Bumped when the meaning of any key changes. */
export const SCHEMA_VERSION = "v1";

/** Whose dedupe set an inbound event id belongs to: one user at a gateway, or the gateway itself. */
export interface DedupeScope {
  gateway: string;
  /** Present for per-user events; absent for gateway-wide ones (e.g. Telegram update ids of a shared bot). */
  bareJid?: string;
}

/** Characters a prefix may contain: none of them has a meaning in keys, hash tags or SCAN patterns. */
const PREFIX_PATTERN = /^[A-Za-z0-9._:-]*$/;

/** Builds every Redis key string. Construct once per process with the configured prefix. */
export class Keys {
  readonly #base: string;

  /** @param prefix e.g. `postern:`; letters, digits and `. _ : -` only (it precedes the hash tag). */
  constructor(readonly prefix: string) {
    if (!PREFIX_PATTERN.test(prefix)) {
      throw new Error("Redis key prefix may contain only letters, digits and '.', '_', ':', '-'");
    }
    this.#base = `${prefix}${SCHEMA_VERSION}:`;
  }

  // --- keys of one user at one gateway ---

  /** Hash: the user's registration values (secret ones sealed) and metadata. */
  registration(gateway: string, bareJid: string): string {
    return this.#user(gateway, bareJid, "reg");
  }

  /** Set: the legacy identities the user claimed at the gateway (released when they unregister). */
  userClaims(gateway: string, bareJid: string): string {
    return this.#user(gateway, bareJid, "claims");
  }

  /** Set: the user's XMPP resources currently online towards the gateway. */
  onlineResources(gateway: string, bareJid: string): string {
    return this.#user(gateway, bareJid, "online");
  }

  /** Hash: the adapter's private state for this user. */
  userState(gateway: string, bareJid: string): string {
    return this.#user(gateway, bareJid, "state");
  }

  /** Hash: the core's own state for this user (joined rooms and their resources). */
  coreState(gateway: string, bareJid: string): string {
    return this.#user(gateway, bareJid, "core");
  }

  /** String: legacy message id → XMPP stanza id, within one conversation. */
  legacyToStanza(gateway: string, bareJid: string, conversation: string, legacyId: string): string {
    return this.#user(gateway, bareJid, "idmap", encodeSegment(conversation), "l", encodeSegment(legacyId));
  }

  /** String: XMPP stanza id → legacy message id, within one conversation. */
  stanzaToLegacy(gateway: string, bareJid: string, conversation: string, stanzaId: string): string {
    return this.#user(gateway, bareJid, "idmap", encodeSegment(conversation), "s", encodeSegment(stanzaId));
  }

  /** Stream: the user's own archive of one conversation (direct chats, private rooms). */
  userArchive(gateway: string, bareJid: string, conversation: string): string {
    return this.#user(gateway, bareJid, "archive", encodeSegment(conversation));
  }

  /** SCAN pattern matching every key of one user at one gateway (and nothing else). */
  userPattern(gateway: string, bareJid: string): string {
    return this.#user(gateway, bareJid, "*");
  }

  /** The hash tag shared by all keys of one user (`{u:<jid>}`), for checks and cluster routing. */
  userHashTag(bareJid: string): string {
    return `{u:${encodeSegment(bareJid)}}`;
  }

  // --- gateway-wide keys ---

  /** Set: bare JIDs registered at the gateway. */
  registeredUsers(gateway: string): string {
    return this.#gateway(gateway, "users");
  }

  /** Set: bare JIDs that had online resources (may hold stale entries; the per-user sets decide). */
  onlineUsers(gateway: string): string {
    return this.#gateway(gateway, "online-users");
  }

  /** Stream: stanzas waiting while the gateway's XMPP link is down. */
  xmppOutbox(gateway: string): string {
    return this.#gateway(gateway, "outbox");
  }

  /** Stream: stanzas taken from the XMPP server and not handled yet (handled again after a crash). */
  xmppInbox(gateway: string): string {
    return this.#gateway(gateway, "inbox");
  }

  /** Hash: the core's gateway-wide state (who is in each portal room). */
  coreGatewayState(gateway: string): string {
    return this.#gateway(gateway, "core");
  }

  /** Hash: the adapter's gateway-wide state (e.g. a Telegram update offset). */
  gatewayState(gateway: string): string {
    return this.#gateway(gateway, "state");
  }

  /** String: which bare JID owns a legacy identity (IRC account, Telegram user id, …) at the gateway. */
  identityClaim(gateway: string, identity: string): string {
    return this.#gateway(gateway, "claim", encodeSegment(identity));
  }

  /** Stream: the shared archive of a public room, the same for every user. */
  sharedArchive(gateway: string, conversation: string): string {
    return this.#gateway(gateway, "archive", encodeSegment(conversation));
  }

  /** The hash tag shared by all gateway-wide keys of one gateway (`{g:<gw>}`). */
  gatewayHashTag(gateway: string): string {
    return `{g:${encodeSegment(gateway)}}`;
  }

  // --- keys in either scope ---

  /** String with TTL: marks one inbound event id as handled, per user or per gateway. */
  dedupe(scope: DedupeScope, eventId: string): string {
    return scope.bareJid === undefined
      ? this.#gateway(scope.gateway, "dedupe", encodeSegment(eventId))
      : this.#user(scope.gateway, scope.bareJid, "dedupe", encodeSegment(eventId));
  }

  /** String with TTL: a fixed-window counter for an arbitrary scope (e.g. `register:alice@example.org`). */
  rateLimit(scope: string): string {
    return `${this.#base}rate:${encodeSegment(scope)}`;
  }

  /** String with TTL: a leader lock whose value is its holder's token. */
  lock(name: string): string {
    return `${this.#base}lock:${encodeSegment(name)}`;
  }

  #user(gateway: string, bareJid: string, ...rest: string[]): string {
    return [`${this.#base}${this.userHashTag(bareJid)}`, encodeSegment(gateway), ...rest].join(":");
  }

  #gateway(gateway: string, ...rest: string[]): string {
    return [`${this.#base}${this.gatewayHashTag(gateway)}`, ...rest].join(":");
  }
}

/**
 * The scopes of the rate limits (`Keys.rateLimit`), one builder per limit. A user's counters hold
 * a digest of the bare JID, not the JID: they must outlive an unregistration (or unregistering
 * would reset them), and unregistration leaves no key naming the user (RELIABILITY.md S6).
 */
export const rateScopes = {
  /** New registrations at `gateway` from users of one XMPP domain. */
  registrationsPerDomain: (gateway: string, userDomain: string): string =>
    `register:${encodeSegment(gateway)}:${encodeSegment(userDomain)}`,
  /** Registrations (new or changed) of one bare JID at `gateway`. */
  registrationsPerJid: (gateway: string, bareJid: string): string =>
    `register-jid:${encodeSegment(gateway)}:${jidDigest(bareJid)}`,
  /** New room joins of one bare JID at `gateway`. */
  roomJoins: (gateway: string, bareJid: string): string =>
    `join:${encodeSegment(gateway)}:${jidDigest(bareJid)}`,
};

/** A short, stable stand-in for a bare JID in keys that must not name it (128 bits of SHA-256). */
function jidDigest(bareJid: string): string {
  return createHash("sha256").update(bareJid, "utf8").digest("hex").slice(0, 32);
}

/** ASCII characters left as they are; none of them is `:`, `{`, `}`, `%`, whitespace or a glob character. */
const SAFE = /^[A-Za-z0-9\-._~@+=,!$&'()/]$/;

/** Percent-encodes one key segment (see the scheme at the top of this file). Injective over all strings. */
export function encodeSegment(value: string): string {
  let out = "";
  // Iterating a string yields code points; a lone surrogate comes out on its own.
  for (const char of value) {
    if (SAFE.test(char)) {
      out += char;
      continue;
    }
    for (const byte of utf8Bytes(char.codePointAt(0)!)) {
      out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    }
  }
  return out;
}

/**
 * UTF-8 bytes of one code point. Written out by hand because TextEncoder turns lone surrogates into
 * U+FFFD, which would make two different strings share a key.
 */
function utf8Bytes(cp: number): number[] {
  if (cp < 0x80) return [cp];
  if (cp < 0x800) return [0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)];
  if (cp < 0x10000) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
  return [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
}
