/** XEP-0030 Service Discovery: the disco#info and disco#items answers. */
import { type Element, xml } from "@xmpp/component-core";
import { NS } from "./namespaces.ts";

export interface Identity {
  category: string;
  type: string;
  name?: string;
}

export interface DiscoItem {
  jid: string;
  node?: string;
  name?: string;
}

export function discoInfoResult(identities: Identity[], features: string[], node?: string): Element {
  const unique = [...new Set(features)].sort();
  return xml(
    "query",
    { xmlns: NS.discoInfo, node },
    ...identities.map((i) => xml("identity", { category: i.category, type: i.type, name: i.name })),
    ...unique.map((f) => xml("feature", { var: f })),
  );
}

export function discoItemsResult(items: DiscoItem[], node?: string): Element {
  return xml(
    "query",
    { xmlns: NS.discoItems, node },
    ...items.map((i) => xml("item", { jid: i.jid, node: i.node, name: i.name })),
  );
}
