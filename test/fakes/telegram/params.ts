/**
 * Request parameters, read the way the Bot API reads them: from the query string and
 * from an `application/x-www-form-urlencoded`, `application/json` or
 * `multipart/form-data` body. The real server sees every parameter as a string; a
 * structured parameter (entities, reply_parameters, allowed_updates, reaction, ...) is a
 * JSON-serialized string in form bodies and a plain JSON value in JSON bodies, and both
 * are accepted here.
 */
import { badRequest } from "./errors.ts";
import { MultipartError, multipartBoundary, parseMultipart } from "./multipart.ts";

/** A file part of a multipart request. */
export interface UploadedFile {
  data: Buffer;
  filename: string;
  contentType: string;
}

type ParamValue = string | UploadedFile | unknown;

/** Typed access to the parameters of one request. */
export class Params {
  constructor(private readonly values: Map<string, ParamValue>) {}

  /** True when the parameter was sent at all (even empty). */
  has(name: string): boolean {
    return this.values.has(name);
  }

  /** The parameter as the real server sees it: a string (JSON values re-serialized). */
  str(name: string): string | undefined {
    const value = this.values.get(name);
    if (value === undefined || value === null || isUpload(value)) return undefined;
    if (typeof value === "string") return value;
    if (typeof value === "number" || typeof value === "boolean") return String(value);
    return JSON.stringify(value);
  }

  /** An integer parameter; absent or unparsable values give `fallback` (the server's to_integer). */
  int(name: string, fallback = 0): number {
    const raw = this.str(name)?.trim();
    if (raw === undefined || !/^[-+]?\d+$/.test(raw)) return fallback;
    return Number(raw);
  }

  /** A boolean parameter: "true" or a non-zero number, case-insensitively, as the server does. */
  bool(name: string): boolean {
    const raw = this.str(name)?.trim().toLowerCase();
    if (raw === undefined) return false;
    return raw === "true" || (/^\d+$/.test(raw) && Number(raw) !== 0);
  }

  /**
   * A structured parameter. A string is parsed as JSON; failure gives 400 with
   * `Bad Request: can't parse <what> JSON object`, the wording the server uses.
   */
  json(name: string, what: string): unknown {
    const value = this.values.get(name);
    if (value === undefined || isUpload(value)) return undefined;
    if (typeof value !== "string") return value;
    if (value.trim() === "") return undefined;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      throw badRequest(`can't parse ${what} JSON object`);
    }
  }

  /** The uploaded file in this multipart field, if the field is a file part. */
  file(name: string): UploadedFile | undefined {
    const value = this.values.get(name);
    return isUpload(value) ? value : undefined;
  }

  /** A log-friendly copy: files are replaced by their name, type and size. */
  toLog(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, value] of this.values) {
      out[key] = isUpload(value)
        ? { file: value.filename, content_type: value.contentType, size: value.data.length }
        : value;
    }
    return out;
  }
}

function isUpload(value: unknown): value is UploadedFile {
  return typeof value === "object" && value !== null && Buffer.isBuffer((value as { data?: unknown }).data);
}

/**
 * Builds the parameters of one request from its query string and buffered body.
 * Body parameters win over query parameters of the same name.
 */
export function readParams(query: URLSearchParams, contentType: string | undefined, body: Buffer): Params {
  const values = new Map<string, ParamValue>();
  for (const [key, value] of query) values.set(key, value);
  const type = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (body.length === 0) return new Params(values);
  if (type === "application/x-www-form-urlencoded") {
    for (const [key, value] of new URLSearchParams(body.toString("utf8"))) values.set(key, value);
  } else if (type === "application/json") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString("utf8"));
    } catch {
      throw badRequest("can't parse JSON object");
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw badRequest("can't parse JSON object");
    }
    for (const [key, value] of Object.entries(parsed)) values.set(key, value);
  } else if (type === "multipart/form-data") {
    const boundary = multipartBoundary(contentType ?? "");
    if (boundary === undefined) throw badRequest("can't parse multipart/form-data body");
    try {
      for (const part of parseMultipart(body, boundary)) {
        values.set(
          part.name,
          part.filename === undefined
            ? part.data.toString("utf8")
            : {
                data: Buffer.from(part.data),
                filename: part.filename,
                contentType: part.contentType ?? "application/octet-stream",
              },
        );
      }
    } catch (error) {
      if (error instanceof MultipartError) throw badRequest("can't parse multipart/form-data body");
      throw error;
    }
  }
  return new Params(values);
}
