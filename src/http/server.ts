/**
 * The one small HTTP server: published files, `/health` (is every gateway linked to its XMPP
 * server, does Redis answer) and `/metrics` (Prometheus text). Nothing here takes input beyond
 * the path; everything else is 404.
 */
import { createReadStream } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Logger } from "pino";
import { processGauges, renderMetrics } from "../core/metrics.ts";
import type { FileStore } from "./file-store.ts";

export interface HealthSource {
  gateways(): { domain: string; online: boolean }[];
  redisOk(): Promise<boolean>;
}

/** Types a browser may show inline; anything else is served as a download. */
const INLINE = /^(image\/(png|jpeg|gif|webp)|audio\/|video\/)/;

export class HttpServer {
  private server: Server | null = null;

  constructor(
    private readonly opts: {
      host: string;
      port: number;
      files: FileStore | undefined;
      health: HealthSource;
      log: Logger;
    },
  ) {}

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.opts.log.warn({ err: String(err) }, "http request failed");
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    });
    // Starts sampling the event-loop delay, so the first scrape of /metrics already has a window.
    processGauges();
    server.requestTimeout = 30_000;
    server.headersTimeout = 10_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port, this.opts.host, () => resolve());
    });
  }

  get port(): number {
    const address = this.server?.address();
    return address && typeof address !== "string" ? address.port : this.opts.port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD" }).end();
      return;
    }
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/health") {
      const gateways = this.opts.health.gateways();
      const redis = await this.opts.health.redisOk();
      const ok = redis && gateways.every((g) => g.online);
      res
        .writeHead(ok ? 200 : 503, { "Content-Type": "application/json" })
        .end(JSON.stringify({ ok, redis, gateways }));
      return;
    }
    if (path === "/metrics") {
      const gauges: Record<string, number> = processGauges();
      for (const g of this.opts.health.gateways())
        gauges[`postern_gateway_online{domain="${g.domain}"}`] = g.online ? 1 : 0;
      res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" }).end(renderMetrics(gauges));
      return;
    }
    const match = /^\/files\/([A-Za-z0-9_-]{43})\/[^/]*$/.exec(path);
    const file = match && this.opts.files ? await this.opts.files.find(match[1] ?? "") : null;
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      "Content-Type": file.mediaType,
      "Content-Length": String(file.size),
      "Content-Disposition": `${INLINE.test(file.mediaType) ? "inline" : "attachment"}; filename*=UTF-8''${encodeURIComponent(file.name)}`,
      "X-Content-Type-Options": "nosniff",
      "Content-Security-Policy": "sandbox; default-src 'none'",
      "Cache-Control": "private, max-age=3600",
    });
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    createReadStream(file.path).pipe(res);
  }
}
