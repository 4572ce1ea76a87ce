/**
 * The IRC gateway's `settings` section: which servers users may reach and the limits that keep
 * one user (or a netsplit) from getting the gateway's address banned.
 */
import { z } from "zod";
import { isSupportedEncoding } from "./protocol/decode.ts";

const sha256Pin = z
  .string()
  .regex(/^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$/, "a SHA-256 fingerprint: 64 hex digits, colons allowed");

const serverSchema = z
  .object({
    host: z.string().min(1),
    /** Defaults to 6697 with TLS, 6667 without. */
    port: z.number().int().min(1).max(65535).optional(),
    tls: z.boolean().default(false),
    /** Verify the certificate chain and name; turn off only for self-signed test servers. */
    tlsVerify: z.boolean().default(true),
    /** Accept exactly this certificate (SHA-256 of the DER), verified or not. */
    tlsFingerprint: sha256Pin.optional(),
    /** Server password (PASS), the same for every user of this server. */
    password: z.string().optional(),
    webirc: z.object({ password: z.string(), gateway: z.string() }).strict().optional(),
    /** How to read lines that are not valid UTF-8. */
    encodingFallback: z
      .string()
      .refine(isSupportedEncoding, "an encoding label Node knows, e.g. latin1 or windows-1252")
      .default("latin1"),
    /** Connections to this server over all users. */
    maxConnections: z.number().int().positive().optional(),
  })
  .strict();

export const ircSettingsSchema = z
  .object({
    servers: z.record(z.string().min(1), serverSchema),
    /** A key of `servers`: then rooms are `#chan@gw` and contacts `nick@gw`. */
    fixedServer: z.string().optional(),
    /** When false, users may only reach the listed servers. */
    allowUnlistedServers: z.boolean().default(false),
    flood: z
      .object({
        /** Per connection (token bucket): lines at once, then one every `refillMs`. */
        burst: z.number().int().positive().default(5),
        refillMs: z.number().int().positive().default(2000),
        /** Per connection: lines waiting for the bucket; a message beyond them is refused. */
        maxQueued: z.number().int().positive().default(20),
        /** Per IRC server, over all users of this gateway: lines in any one second. */
        networkLinesPerSecond: z.number().int().positive().default(10),
        /** A message that would take more IRC lines than this is refused (long text: a paste service). */
        maxLinesPerMessage: z.number().int().positive().default(3),
      })
      .strict()
      .default({ burst: 5, refillMs: 2000, maxQueued: 20, networkLinesPerSecond: 10, maxLinesPerMessage: 3 }),
    connections: z
      .object({
        maxPerUser: z.number().int().positive().default(5),
        maxTotal: z.number().int().positive().default(1000),
        minIntervalMs: z.number().int().nonnegative().default(2000),
      })
      .strict()
      .default({ maxPerUser: 5, maxTotal: 1000, minIntervalMs: 2000 }),
    reconnect: z
      .object({
        minMs: z.number().int().nonnegative().default(2000),
        maxMs: z.number().int().positive().default(300_000),
        /** After a K-line or ban, wait at least this long before trying that user again. */
        bannedMs: z.number().int().nonnegative().default(600_000),
      })
      .strict()
      .default({ minMs: 2000, maxMs: 300_000, bannedMs: 600_000 }),
    /** Let users send raw IRC lines to the server contact. */
    allowRawCommands: z.boolean().default(false),
    realname: z.string().default("Postern XMPP gateway user"),
    username: z.string().optional(),
    /** What CTCP VERSION answers. */
    version: z.string().default("Postern XMPP gateway"),
    /** Close a server connection this long after its last channel and query ended. */
    idleCloseMs: z.number().int().positive().default(600_000),
    /** PING the server after this long without hearing from it (half-open links, R8). */
    keepaliveMs: z.number().int().positive().default(60_000),
    /** Drop the connection and reconnect after this long without a byte from the server. */
    deadAfterMs: z.number().int().positive().default(90_000),
  })
  .strict()
  .refine((s) => s.fixedServer === undefined || s.fixedServer in s.servers, {
    message: "fixedServer must be one of the keys of servers",
    path: ["fixedServer"],
  });

export type IrcSettings = z.output<typeof ircSettingsSchema>;
export type IrcServerSettings = z.output<typeof serverSchema>;

/**
 * Connection settings for a server name (as addresses spell it: lower case), including unlisted
 * ones when they are allowed; undefined when the user may not reach it.
 */
export function serverSettings(settings: IrcSettings, server: string): IrcServerSettings | undefined {
  const wanted = server.toLowerCase();
  const listed = Object.entries(settings.servers).find(([name]) => name.toLowerCase() === wanted)?.[1];
  if (listed) return listed;
  if (!settings.allowUnlistedServers) return undefined;
  return serverSchema.parse({ host: server });
}

/** The port to use: the configured one, or the usual one for (non-)TLS. */
export function serverPort(server: IrcServerSettings): number {
  return server.port ?? (server.tls ? 6697 : 6667);
}
