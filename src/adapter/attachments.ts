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

/**
 * Fetches a file the XMPP user attached (an OOB or upload URL) for sending to the network, with
 * the operator's limits: only http(s), only public addresses (never loopback, private or
 * link-local ranges, checked on the resolved address), a size cap and a timeout. Throws
 * `AdapterError` ("not-acceptable" or "remote-server-timeout") with a reason the user can read.
 */
export interface FileFetcher {
  fetch(url: string): Promise<{ data: Uint8Array; name: string; mediaType: string }>;
}
