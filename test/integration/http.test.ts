/**
 * The HTTP side: files from the network published at unguessable, expiring URLs the user's
 * client can fetch (and nothing else can be guessed), /health and /metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GATEWAY, type Harness, startHarness } from "../support/gateway-harness.ts";
import { type XmppTestClient, xml } from "../support/xmpp-client.ts";

let h: Harness;
let alice: XmppTestClient;
let base: string;

beforeAll(async () => {
  h = await startHarness({ http: true });
  alice = await h.login("alice");
  base = `http://127.0.0.1:${h.postern.http!.port}`;
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

describe("file proxy", () => {
  it("serves a published file to the user's client from the URL in the message", async () => {
    const data = Buffer.from("GIF89a not really a gif but bytes all the same");
    const { url } = await h.network.files!.publish({ data, name: "cat picture.gif", mediaType: "image/gif" });
    expect(url).toMatch(new RegExp(`^${base}/files/[A-Za-z0-9_-]{43}/cat%20picture.gif$`));
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/gif");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
  });

  it("serves other types as downloads, and answers 404 to guessed or malformed ids", async () => {
    const { url } = await h.network.files!.publish({
      data: Buffer.from("<script>alert(1)</script>"),
      name: "x.html",
      mediaType: "text/html",
    });
    const res = await fetch(url);
    expect(res.headers.get("content-disposition")).toMatch(/^attachment;/);
    expect(res.headers.get("content-security-policy")).toContain("sandbox");
    const guessed = url.replace(/files\/[^/]{5}/, "files/AAAAA");
    expect((await fetch(guessed)).status).toBe(404);
    expect((await fetch(`${base}/files/../../etc/passwd`)).status).toBe(404);
    expect((await fetch(`${base}/nothing`)).status).toBe(404);
  });

  it("refuses a file over the size limit", async () => {
    await expect(
      h.network.files!.publish({
        data: Buffer.alloc(1_000_001),
        name: "big",
        mediaType: "application/octet-stream",
      }),
    ).rejects.toThrow(/limit/);
  });
});

describe("health and metrics", () => {
  it("reports the gateway online and Redis reachable", async () => {
    const res = await fetch(`${base}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      ok: true,
      redis: true,
      gateways: [{ domain: GATEWAY, online: true }],
    });
  });

  it("counts outcomes in Prometheus format", async () => {
    await alice.iq(xml("iq", { type: "get", to: GATEWAY }, xml("ping", { xmlns: "urn:xmpp:ping" })));
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(
      /postern_events_total\{direction="to-xmpp",result="delivered",what="iq:ping"\} [1-9]/,
    );
    expect(text).toContain(`postern_gateway_online{domain="${GATEWAY}"} 1`);
  });
});
