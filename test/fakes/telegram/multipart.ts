/**
 * A small, strict `multipart/form-data` parser (RFC 7578) for request bodies the fake
 * has already buffered. It only needs what Bot API clients send: one
 * `Content-Disposition: form-data; name="..."` header per part, an optional `filename`
 * and `Content-Type`. Anything that does not follow the grammar is rejected rather
 * than guessed at, so a client bug shows up as a failed request.
 */

/** One part of a multipart body. */
export interface MultipartPart {
  name: string;
  /** Present when the part is a file upload. */
  filename?: string;
  contentType?: string;
  data: Buffer;
}

/** Raised for a body that is not well-formed multipart. */
export class MultipartError extends Error {}

/** The boundary parameter of a `multipart/form-data` content type, if any. */
export function multipartBoundary(contentType: string): string | undefined {
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return match?.[1] ?? match?.[2];
}

const CRLF = Buffer.from("\r\n");
const HEADER_END = Buffer.from("\r\n\r\n");

/** Splits a buffered multipart body into its parts. */
export function parseMultipart(body: Buffer, boundary: string): MultipartPart[] {
  const delimiter = Buffer.from(`--${boundary}`);
  // Every part starts after "--boundary" and ends before "\r\n--boundary".
  const separator = Buffer.concat([CRLF, delimiter]);
  let position = body.indexOf(delimiter);
  if (position !== 0) throw new MultipartError("body does not start with the boundary");
  position += delimiter.length;
  const parts: MultipartPart[] = [];
  for (;;) {
    // "--" right after a delimiter closes the body.
    if (body.subarray(position, position + 2).toString("latin1") === "--") return parts;
    if (!body.subarray(position, position + 2).equals(CRLF)) {
      throw new MultipartError("boundary not followed by CRLF");
    }
    position += 2;
    const headerEnd = body.indexOf(HEADER_END, position);
    if (headerEnd < 0) throw new MultipartError("part headers never end");
    const headers = parseHeaders(body.subarray(position, headerEnd).toString("utf8"));
    const dataStart = headerEnd + HEADER_END.length;
    const dataEnd = body.indexOf(separator, dataStart);
    if (dataEnd < 0) throw new MultipartError("part is not terminated by a boundary");
    parts.push({ ...headers, data: body.subarray(dataStart, dataEnd) });
    position = dataEnd + separator.length;
  }
}

function parseHeaders(block: string): Omit<MultipartPart, "data"> {
  let disposition: string | undefined;
  let contentType: string | undefined;
  for (const line of block.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new MultipartError("malformed part header");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-disposition") disposition = value;
    else if (name === "content-type") contentType = value;
  }
  if (disposition === undefined || !/^form-data\s*(;|$)/i.test(disposition)) {
    throw new MultipartError("part without form-data Content-Disposition");
  }
  const name = dispositionParameter(disposition, "name");
  if (name === undefined) throw new MultipartError("part without a name");
  const filename = dispositionParameter(disposition, "filename");
  return {
    name,
    ...(filename !== undefined ? { filename } : {}),
    ...(contentType !== undefined ? { contentType } : {}),
  };
}

/** Reads `key="value"` (or an unquoted token) from a Content-Disposition value. */
function dispositionParameter(disposition: string, key: string): string | undefined {
  // The leading ";" keeps `name` from matching inside `filename`.
  const match = new RegExp(`;\\s*${key}=(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]+))`, "i").exec(disposition);
  if (match === null) return undefined;
  const quoted = match[1];
  if (quoted !== undefined) return decodeURIComponentSafe(quoted.replace(/\\(.)/g, "$1"));
  return match[2];
}

/** Browsers and undici percent-encode CR, LF and `"` in names (WHATWG); undo only that. */
function decodeURIComponentSafe(value: string): string {
  return value.replace(/%0D/gi, "\r").replace(/%0A/gi, "\n").replace(/%22/g, '"');
}
