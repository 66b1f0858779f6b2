/**
 * How stored values travel inside JSON responses (siblings, list pages, batch results, watch events): text
 * content types whose bytes are valid UTF-8 go as the text itself, anything else as base64, with the
 * encoding named so a client never guesses. Single-value reads skip this and send the raw bytes.
 */
import { encodeContext } from "../core/context.ts";
import type { VersionVector } from "../core/version.ts";
import type { StoredValue } from "../kv/backend.ts";
import { fromBase64, toBase64 } from "./_input.ts";
import { invalid } from "./errors.ts";

export interface WireValue {
  contentType: string;
  encoding: "utf8" | "base64";
  value: string;
}

const strict = new TextDecoder("utf-8", { fatal: true });
const TEXT_TYPE = /^(?:text\/|application\/(?:[\w.+-]*\+)?json\b)/i;

export function toWire(v: StoredValue): WireValue {
  if (TEXT_TYPE.test(v.contentType)) {
    try {
      return { contentType: v.contentType, encoding: "utf8", value: strict.decode(v.data) };
    } catch {
      // Not UTF-8 after all: fall through to base64.
    }
  }
  return { contentType: v.contentType, encoding: "base64", value: toBase64(v.data) };
}

/** The bytes of a value given in JSON as `value` with `encoding` (default utf8). */
export function bytesFromJson(value: unknown, encoding: unknown, field: string): Uint8Array {
  if (typeof value !== "string") throw invalid(`Invalid ${field}: expected a string`, { field });
  if (encoding === undefined || encoding === "utf8") return new TextEncoder().encode(value);
  if (encoding !== "base64") {
    throw invalid(`Invalid encoding: ${String(encoding)} (utf8 or base64)`, { field: "encoding" });
  }
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw invalid(`Invalid ${field}: not base64`, { field });
  try {
    return fromBase64(value.replace(/=+$/, ""));
  } catch {
    throw invalid(`Invalid ${field}: not base64`, { field });
  }
}

/** The context token for a response, or null when the key has no history. */
export function token(context: VersionVector): string | null {
  return context.length === 0 ? null : encodeContext(context);
}
