/**
 * Decoding of incoming IRC lines, which are bytes in no declared encoding.
 *
 * Most of IRC speaks UTF-8, but older clients still send Latin-1 or Windows-1252. UTF-8 has
 * enough structure that a line which decodes without error is almost surely UTF-8; anything
 * else is read with the network's configured fallback, a whole line at a time, so one line is
 * never a mixture of both.
 */

import { isUtf8 } from "node:buffer";
import { TextDecoder } from "node:util";

const UTF8 = new TextDecoder("utf-8", { ignoreBOM: true });
const fallbackDecoders = new Map<string, TextDecoder>();

/**
 * The Windows-1252 characters for bytes 0x80–0x9F (WHATWG encoding index). Node 20's
 * TextDecoder accepts "windows-1252" (and "latin1", its WHATWG alias) but decodes them as
 * ISO-8859-1, turning "€" into the C1 control U+0080; we map them ourselves. Bytes 0x81, 0x8D,
 * 0x8F, 0x90 and 0x9D are unassigned and stay as their C1 code point, as WHATWG specifies.
 */
const WINDOWS_1252_C1 =
  "\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f" +
  "\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178";

/**
 * Decodes one IRC line. Valid UTF-8 is decoded as UTF-8; anything else is decoded entirely with
 * `fallback`, a WHATWG encoding label such as "windows-1252", "latin1" (which WHATWG defines as
 * Windows-1252) or "iso-8859-15".
 *
 * @throws RangeError when `fallback` is not an encoding label this Node knows
 *   (check configuration with {@link isSupportedEncoding}).
 */
export function decodeIrcBytes(bytes: Uint8Array, fallback: string): string {
  if (isUtf8(bytes)) return UTF8.decode(bytes);
  const decoder = fallbackDecoder(fallback);
  const text = decoder.decode(bytes);
  return decoder.encoding === "windows-1252" ? fixWindows1252(text) : text;
}

/** Whether `label` is accepted as a fallback by {@link decodeIrcBytes}; for config validation. */
export function isSupportedEncoding(label: string): boolean {
  try {
    fallbackDecoder(label);
    return true;
  } catch {
    return false;
  }
}

function fallbackDecoder(label: string): TextDecoder {
  let decoder = fallbackDecoders.get(label);
  if (!decoder) {
    // Throws RangeError for unknown labels; that is a configuration error, not input.
    decoder = new TextDecoder(label, { ignoreBOM: true });
    fallbackDecoders.set(label, decoder);
  }
  return decoder;
}

function fixWindows1252(text: string): string {
  return text.replace(/[\u0080-\u009f]/g, (ch) => WINDOWS_1252_C1.charAt(ch.charCodeAt(0) - 0x80));
}
