/**
 * The neutral styled-text type that crosses the adapter boundary.
 *
 * This mirrors src/adapter/text.ts; it is a local copy until the lead swaps the import.
 */

/** The kinds of styling the neutral text model knows about. */
export type StyleKind = "bold" | "italic" | "underline" | "strike" | "monospace" | "link";

/**
 * One styled range of a {@link StyledText}. Offsets are UTF-16 code unit indexes into `text`,
 * `end` exclusive. `url` is only meaningful for `link` spans.
 */
export interface StyleSpan {
  kind: StyleKind;
  start: number;
  end: number;
  url?: string;
}

/** Plain text plus the styling spans laid over it. Spans may overlap and are not ordered. */
export interface StyledText {
  text: string;
  spans: StyleSpan[];
}
