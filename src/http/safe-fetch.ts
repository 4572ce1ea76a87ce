/**
 * Fetching files users attach (OOB / HTTP upload URLs), without letting a URL reach inside the
 * operator's network (SSRF). Every address is checked where it is about to be connected to: IP
 * literals before the request, names inside the DNS lookup the socket uses, and again for each
 * redirect. Only http(s); a size cap counted on the bytes received (a lying Content-Length does
 * not help); one overall timeout (a slow drip of bytes does not help either).
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { BlockList, isIP, type LookupFunction } from "node:net";
import type { FileFetcher } from "../adapter/attachments.ts";
import { AdapterError } from "../adapter/session.ts";

/** Addresses no fetch may reach: loopback, private, link-local, shared, multicast, reserved. */
const BLOCKED = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const) {
  BLOCKED.addSubnet(net, prefix, "ipv4");
}
for (const [net, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["64:ff9b::", 96],
  ["100::", 64],
  ["2001:db8::", 32],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
] as const) {
  BLOCKED.addSubnet(net, prefix, "ipv6");
}

/** True when `address` (an IP literal) is one a fetch may connect to. */
export function isPublicAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, "");
  const family = isIP(bare);
  if (family === 0) return false;
  if (family === 6) {
    // IPv4-mapped and -compatible forms (::ffff:127.0.0.1) are judged by their IPv4 address.
    const mapped = /^::(ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
    if (mapped?.[2]) return isPublicAddress(mapped[2]);
    const hexMapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(bare);
    if (hexMapped?.[1] && hexMapped[2]) {
      const hi = Number.parseInt(hexMapped[1], 16);
      const lo = Number.parseInt(hexMapped[2], 16);
      return isPublicAddress(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
    }
    return !BLOCKED.check(bare, "ipv6");
  }
  return !BLOCKED.check(bare, "ipv4");
}

export interface SafeFetchOptions {
  maxBytes: number;
  timeoutMs: number;
  maxRedirects?: number;
  /** Origins (`http://127.0.0.1:8080`) allowed even though they are not public: tests, a local upload service. */
  allowOrigins?: readonly string[];
  /** The resolver (tests pass a stub); node's by default. */
  lookup?: LookupFunction;
}

function refused(reason: string): AdapterError {
  return new AdapterError("not-acceptable", `the file cannot be fetched: ${reason}`);
}

export class SafeFetcher implements FileFetcher {
  constructor(private readonly opts: SafeFetchOptions) {}

  async fetch(url: string): Promise<{ data: Uint8Array; name: string; mediaType: string }> {
    const deadline = Date.now() + this.opts.timeoutMs;
    let current = url;
    for (let hop = 0; hop <= (this.opts.maxRedirects ?? 3); hop++) {
      const target = this.check(current);
      const response = await this.get(target, deadline);
      const status = response.statusCode ?? 0;
      if (status >= 300 && status < 400 && response.headers.location) {
        response.resume();
        current = new URL(response.headers.location, target).href;
        continue;
      }
      if (status !== 200) {
        response.resume();
        throw refused(`the server answered ${status}`);
      }
      const data = await this.readBody(response, deadline);
      const mediaType =
        (response.headers["content-type"] ?? "application/octet-stream").split(";")[0]?.trim() ||
        "application/octet-stream";
      const name = decodeURIComponent(target.pathname.split("/").pop() ?? "") || "file";
      return { data, name, mediaType };
    }
    throw refused("too many redirects");
  }

  /** Scheme and literal-address checks, before anything is sent. */
  private check(url: string): URL {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw refused("not a valid URL");
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
      throw refused(`${parsed.protocol} URLs are not allowed`);
    if (parsed.username || parsed.password) throw refused("URLs with credentials are not allowed");
    const host = parsed.hostname.replace(/^\[|\]$/g, "");
    if (isIP(host) && !this.allowed(parsed) && !isPublicAddress(host))
      throw refused("that address is not public");
    return parsed;
  }

  private allowed(url: URL): boolean {
    return (this.opts.allowOrigins ?? []).includes(url.origin);
  }

  private get(url: URL, deadline: number): Promise<IncomingMessage> {
    const allowed = this.allowed(url);
    const resolve = this.opts.lookup ?? (dnsLookup as LookupFunction);
    // The socket connects to whatever this lookup returns, so the check sits exactly there.
    const guardedLookup: LookupFunction = (hostname, options, callback) => {
      resolve(hostname, { ...options, all: true }, (err, addresses) => {
        if (err) return callback(err, "", 4);
        const list = (
          Array.isArray(addresses) ? addresses : [{ address: addresses, family: 4 }]
        ) as LookupAddress[];
        const usable = list.filter((a) => allowed || isPublicAddress(a.address));
        if (usable.length === 0)
          return callback(refused(`${hostname} resolves to an address that is not public`), "", 4);
        if ((options as { all?: boolean }).all)
          return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, usable);
        const first = usable[0] as LookupAddress;
        callback(null, first.address, first.family);
      });
    };
    const request = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolvePromise, reject) => {
      const req = request(
        url,
        { method: "GET", lookup: guardedLookup, headers: { "User-Agent": "Postern" } },
        (response) => {
          // From here on the body's deadline applies (readBody): one timer at a time.
          clearTimeout(timer);
          resolvePromise(response);
        },
      );
      const timer = setTimeout(
        () => req.destroy(new AdapterError("remote-server-timeout", "the file took too long to fetch")),
        Math.max(0, deadline - Date.now()),
      );
      req.on("close", () => clearTimeout(timer));
      req.on("error", (err) => reject(err instanceof AdapterError ? err : refused(err.message)));
      req.end();
    });
  }

  private readBody(response: IncomingMessage, deadline: number): Promise<Uint8Array> {
    const max = this.opts.maxBytes;
    const declared = Number(response.headers["content-length"] ?? "0");
    if (declared > max) {
      response.destroy();
      return Promise.reject(refused(`it is larger than ${max} bytes`));
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let timedOut = false;
      const timer = setTimeout(
        () => {
          timedOut = true;
          response.destroy(new AdapterError("remote-server-timeout", "the file took too long to fetch"));
        },
        Math.max(0, deadline - Date.now()),
      );
      response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > max) response.destroy(refused(`it is larger than ${max} bytes`));
        else chunks.push(chunk);
      });
      response.on("end", () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks));
      });
      response.on("error", (err) => {
        clearTimeout(timer);
        reject(err instanceof AdapterError ? err : refused(err.message));
      });
      response.on("close", () => {
        clearTimeout(timer);
        if (timedOut) reject(new AdapterError("remote-server-timeout", "the file took too long to fetch"));
        else if (!response.complete) reject(refused("the transfer was cut off"));
      });
    });
  }
}
