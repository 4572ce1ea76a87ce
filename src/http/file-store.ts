/**
 * Files received from a network, published at unguessable URLs that expire. The bytes live in a
 * folder (one file plus a small JSON sidecar each); the URL holds 32 random bytes, so knowing one
 * file's URL tells nothing about another's, and nothing in it leads back to the network (a
 * Telegram file URL, which contains the bot token, is never shown).
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { FilePublisher } from "../adapter/attachments.ts";

export interface StoredFile {
  path: string;
  name: string;
  mediaType: string;
  size: number;
  expires: number;
}

const ID = /^[A-Za-z0-9_-]{43}$/;

export class FileTooLargeError extends Error {
  constructor(size: number, max: number) {
    super(`file of ${size} bytes is over the ${max}-byte limit`);
    this.name = "FileTooLargeError";
  }
}

export class FileStore implements FilePublisher {
  constructor(private readonly opts: { dir: string; publicUrl: string; ttlMs: number; maxBytes: number }) {}

  async publish(file: { data: Uint8Array; name: string; mediaType: string }): Promise<{ url: string }> {
    if (file.data.byteLength > this.opts.maxBytes)
      throw new FileTooLargeError(file.data.byteLength, this.opts.maxBytes);
    await mkdir(this.opts.dir, { recursive: true });
    const id = randomBytes(32).toString("base64url");
    const name = safeName(file.name);
    const meta = {
      name,
      mediaType: safeMediaType(file.mediaType),
      size: file.data.byteLength,
      expires: Date.now() + this.opts.ttlMs,
    };
    await writeFile(join(this.opts.dir, id), file.data);
    await writeFile(join(this.opts.dir, `${id}.json`), JSON.stringify(meta));
    return { url: `${this.opts.publicUrl}/files/${id}/${encodeURIComponent(name)}` };
  }

  /** The file behind an id, or null when unknown or expired. */
  async find(id: string): Promise<StoredFile | null> {
    if (!ID.test(id)) return null;
    try {
      const meta = JSON.parse(await readFile(join(this.opts.dir, `${id}.json`), "utf8")) as Omit<
        StoredFile,
        "path"
      >;
      if (meta.expires < Date.now()) return null;
      return { ...meta, path: join(this.opts.dir, id) };
    } catch {
      return null;
    }
  }

  /** Deletes expired files; returns how many. */
  async sweep(): Promise<number> {
    let removed = 0;
    let names: string[];
    try {
      names = await readdir(this.opts.dir);
    } catch {
      return 0;
    }
    for (const n of names.filter((x) => x.endsWith(".json"))) {
      const id = n.slice(0, -5);
      const file = await this.find(id);
      if (file) continue;
      const info = await stat(join(this.opts.dir, n)).catch(() => null);
      if (!info) continue;
      await rm(join(this.opts.dir, id), { force: true });
      await rm(join(this.opts.dir, n), { force: true });
      removed += 1;
    }
    return removed;
  }
}

/** A file name safe in a URL path and a Content-Disposition header. */
export function safeName(name: string): string {
  const cleaned = name
    .replace(/[^\p{L}\p{N}._ -]/gu, "_")
    .replace(/^\.+/, "")
    .trim()
    .slice(0, 100);
  return cleaned || "file";
}

function safeMediaType(type: string): string {
  return /^[a-z0-9.+-]+\/[a-z0-9.+-]+$/i.test(type) ? type.toLowerCase() : "application/octet-stream";
}
