/**
 * S8 (RELIABILITY.md): fetching a file a user attached never reaches inside the operator's
 * network. Every blocked case is refused before a connection is made (the local servers count
 * their connections), and size and time limits hold against a lying or dripping server.
 */
import { createServer, type Server } from "node:http";
import type { LookupFunction } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isPublicAddress, SafeFetcher } from "../../src/http/safe-fetch.ts";

let server: Server;
let origin: string;
let connections = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === "/ok.png") {
      res.writeHead(200, { "Content-Type": "image/png" }).end(Buffer.from("png-bytes"));
    } else if (req.url === "/to-private") {
      res.writeHead(302, { Location: "http://10.0.0.1/secret" }).end();
    } else if (req.url === "/to-loopback-name") {
      res.writeHead(302, { Location: "http://internal.test/secret" }).end();
    } else if (req.url === "/lying") {
      res.writeHead(200, { "Content-Length": "10" });
      res.end(Buffer.alloc(5000));
    } else if (req.url === "/chunked-big") {
      res.writeHead(200);
      res.write(Buffer.alloc(600));
      res.end(Buffer.alloc(600));
    } else if (req.url === "/drip") {
      res.writeHead(200);
      const timer = setInterval(() => res.write("x"), 100);
      res.on("close", () => clearInterval(timer));
    } else {
      res.writeHead(404).end();
    }
  });
  server.on("connection", () => {
    connections += 1;
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("no port");
  origin = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

/** A resolver that knows one name, pointing at a private address. */
const stubLookup: LookupFunction = (hostname, options, callback) => {
  const address = hostname === "internal.test" ? "10.1.2.3" : "93.184.216.34";
  if ((options as { all?: boolean }).all)
    (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
      { address, family: 4 },
    ]);
  else callback(null, address, 4);
};

describe("address checks", () => {
  it.each([
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "0.0.0.0",
    "169.254.169.254",
    "10.20.30.40",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "fe80::1",
    "fd00::1",
    "100.64.0.1",
    "224.0.0.1",
  ])("blocks %s", (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "172.32.0.1", "8.8.8.8"])(
    "allows %s",
    (address) => {
      expect(isPublicAddress(address)).toBe(true);
    },
  );
});

describe("SafeFetcher", () => {
  const strict = () => new SafeFetcher({ maxBytes: 1000, timeoutMs: 2000, lookup: stubLookup });
  const local = () =>
    new SafeFetcher({ maxBytes: 1000, timeoutMs: 1000, allowOrigins: [origin], lookup: stubLookup });

  it.each([
    ["loopback by IP", () => `${origin}/ok.png`],
    ["loopback as a decimal integer", () => `http://2130706433:${new URL(origin).port}/ok.png`],
    ["loopback in hex", () => `http://0x7f000001:${new URL(origin).port}/ok.png`],
    ["IPv6 loopback", () => "http://[::1]/ok.png"],
    ["IPv4-mapped loopback", () => "http://[::ffff:127.0.0.1]/ok.png"],
    ["unspecified address", () => "http://0.0.0.0/ok.png"],
    ["cloud metadata", () => "http://169.254.169.254/latest/meta-data/"],
    ["private 10/8", () => "http://10.0.0.1/"],
    ["private 172.16/12", () => "http://172.16.5.4/"],
    ["private 192.168/16", () => "http://192.168.0.10/"],
    ["a name resolving to a private address", () => "http://internal.test/file"],
    ["file:", () => "file:///etc/passwd"],
    ["gopher:", () => "gopher://127.0.0.1:70/"],
    ["credentials in the URL", () => "http://user:pw@example.org/"],
  ])("refuses %s without connecting", async (_name, url) => {
    const before = connections;
    await expect(strict().fetch(url())).rejects.toMatchObject({ condition: "not-acceptable" });
    expect(connections).toBe(before);
  });

  it("fetches from an allowed origin, with the type and name", async () => {
    const file = await local().fetch(`${origin}/ok.png`);
    expect(Buffer.from(file.data).toString()).toBe("png-bytes");
    expect(file.mediaType).toBe("image/png");
    expect(file.name).toBe("ok.png");
  });

  it("refuses a redirect to a private address, and to a name that resolves to one", async () => {
    await expect(local().fetch(`${origin}/to-private`)).rejects.toThrow(/not public/);
    await expect(local().fetch(`${origin}/to-loopback-name`)).rejects.toThrow(/not public/);
  });

  it("stops at the byte cap whatever Content-Length says", async () => {
    await expect(local().fetch(`${origin}/chunked-big`)).rejects.toMatchObject({
      condition: "not-acceptable",
    });
    // A short Content-Length with a long body: only the declared bytes are read, never more.
    const lying = await local().fetch(`${origin}/lying`);
    expect(lying.data.byteLength).toBe(10);
  });

  it("gives up on a server that drips bytes", async () => {
    await expect(local().fetch(`${origin}/drip`)).rejects.toMatchObject({
      condition: "remote-server-timeout",
    });
  });
});
