/**
 * What an adapter can do, as data. The core reads it to advertise disco features and to answer
 * `feature-not-implemented` before an adapter is ever called with something it cannot do.
 * Anything not listed is absent: a capability never defaults to "on".
 */

export type CapabilityName =
  | "rooms"
  | "directChats"
  | "edits"
  | "retractions"
  | "reactions"
  | "replies"
  | "typing"
  | "readMarkers"
  | "attachments"
  | "avatars"
  | "presence"
  | "history"
  | "nickChange"
  | "topic";

export type CapabilityLevel =
  | { level: "full" }
  /** Works with limits the user should know about; `limits` is shown to them (disco, docs). */
  | { level: "partial"; limits: string };

export type Capabilities = Partial<Record<CapabilityName, CapabilityLevel>>;

export function hasCapability(capabilities: Capabilities, name: CapabilityName): boolean {
  return capabilities[name] !== undefined;
}
