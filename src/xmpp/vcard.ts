/**
 * XEP-0054 vcard-temp and XEP-0153 vCard-based avatars: how a contact's name and picture reach
 * XMPP clients (the vCard holds them; presence carries the picture's SHA-1 so clients refetch).
 */
import { createHash } from "node:crypto";
import { type Element, xml } from "@xmpp/component-core";
import { NS } from "./namespaces.ts";

export const NS_VCARD_UPDATE = "vcard-temp:x:update";

export function vcardResult(o: {
  name?: string;
  nickname?: string;
  avatar?: { data: Uint8Array; mediaType: string };
}): Element {
  return xml(
    "vCard",
    { xmlns: NS.vcardTemp },
    o.name ? xml("FN", {}, o.name) : null,
    o.nickname ? xml("NICKNAME", {}, o.nickname) : null,
    o.avatar
      ? xml(
          "PHOTO",
          {},
          xml("TYPE", {}, o.avatar.mediaType),
          xml("BINVAL", {}, Buffer.from(o.avatar.data).toString("base64")),
        )
      : null,
  );
}

/** The presence child announcing the current avatar (an empty `<photo/>`: none). */
export function avatarUpdate(hash: string | undefined): Element {
  return xml("x", { xmlns: NS_VCARD_UPDATE }, xml("photo", {}, hash ?? ""));
}

export function avatarHash(data: Uint8Array): string {
  return createHash("sha1").update(data).digest("hex");
}
