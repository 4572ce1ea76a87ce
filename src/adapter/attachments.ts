/** A file crossing the boundary. Exactly one of `url` or `data` is set. */
export interface Attachment {
  /** A URL the receiving side may fetch (never one that contains a secret, e.g. a bot token). */
  url?: string;
  data?: Uint8Array;
  name: string;
  mediaType: string;
  size?: number;
  /** Free text shown with the file (caption, OOB description). */
  description?: string;
}

/**
 * Publishes bytes from a legacy network at a URL the XMPP user's client can fetch (Postern's file
 * proxy or the XMPP server's upload service). Given to adapters through their context.
 */
export interface FilePublisher {
  publish(file: { data: Uint8Array; name: string; mediaType: string }): Promise<{ url: string }>;
}
