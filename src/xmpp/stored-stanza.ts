/**
 * Reads back a stanza Postern serialised itself (its Redis inbox): the text came from an element
 * the component link's guarded parser had built, so the plain parser of @xmpp/xml is enough.
 */
import { type Element, xml } from "@xmpp/component-core";

/** The element `text` holds; throws when it is not one well-formed element. */
export function parseStoredStanza(text: string): Element {
  const parser = new xml.Parser();
  let root: Element | null = null;
  let failure: unknown = null;
  parser.on("start", (el: Element) => {
    root = el;
  });
  parser.on("element", (el: Element) => {
    root?.append(el);
  });
  parser.on("error", (err: unknown) => {
    failure = err;
  });
  parser.write(text);
  if (failure) throw failure;
  if (!root) throw new Error("no element in the stored stanza");
  return root;
}
