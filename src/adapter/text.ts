/**
 * Text as it crosses the adapter boundary: plain text plus styling spans.
 *
 * Each network renders spans in its own format (XEP-0393 on XMPP, mIRC codes on IRC, entities on
 * Telegram), so no markup of one network ever reaches another as literal characters.
 */

export type StyleKind = "bold" | "italic" | "underline" | "strike" | "monospace" | "link";

/** A styled range of `StyledText.text`, in UTF-16 offsets, `end` exclusive. */
export interface StyleSpan {
  kind: StyleKind;
  start: number;
  end: number;
  /** For `link` spans: the target, when it differs from the covered text. */
  url?: string;
}

export interface StyledText {
  text: string;
  spans: StyleSpan[];
}

/** Plain text with no styling. */
export function plain(text: string): StyledText {
  return { text, spans: [] };
}
