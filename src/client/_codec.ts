/**
 * How SDK values become request bodies and back. `Uint8Array` travels as raw `application/octet-stream`;
 * everything else goes through superjson, so `Date`, `Map`, `Set`, `BigInt`, `undefined` and nested objects
 * survive. A value superjson needs no annotations for is sent as plain `application/json` (readable by curl
 * and other clients); one that needs them is sent as `{ json, meta }` with the `SUPERJSON_TYPE` content type.
 * Reading follows the stored content type, so values written by other clients decode sensibly too: JSON
 * types parse, `text/*` is a string, anything else is bytes.
 */
import SuperJSON from "superjson";

export const SUPERJSON_TYPE = "application/vnd.meshkv.superjson+json";
export const JSON_TYPE = "application/json";
export const BYTES_TYPE = "application/octet-stream";

export interface Encoded {
  body: Uint8Array;
  contentType: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeValue(value: unknown, contentType?: string): Encoded {
  if (value instanceof Uint8Array) return { body: value, contentType: contentType ?? BYTES_TYPE };
  const { json, meta } = SuperJSON.serialize(value as never);
  if (meta === undefined) return { body: encoder.encode(JSON.stringify(json)), contentType: contentType ?? JSON_TYPE };
  return { body: encoder.encode(JSON.stringify({ json, meta })), contentType: contentType ?? SUPERJSON_TYPE };
}

const isJson = (type: string) => /^application\/(?:[\w.+-]*\+)?json\b/i.test(type);

export function decodeValue<T>(bytes: Uint8Array, contentType: string): T {
  if (contentType === "application/octet-stream") return bytes as T;
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  if (type === SUPERJSON_TYPE) return SuperJSON.deserialize(JSON.parse(decoder.decode(bytes))) as T;
  if (isJson(type)) return JSON.parse(decoder.decode(bytes)) as T;
  if (type.startsWith("text/")) return decoder.decode(bytes) as T;
  return bytes as T;
}

/** A value as it appears inside JSON responses (siblings, list pages, batch results, watch events). */
export interface WireValue {
  contentType: string;
  encoding: "utf8" | "base64";
  value: string;
}

export function decodeWire<T>(w: WireValue): T {
  const bytes = w.encoding === "base64" ? fromBase64(w.value) : encoder.encode(w.value);
  return decodeValue<T>(bytes, w.contentType);
}

export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** The path of a key: percent-encoded as one segment, dots too, so `.`-segments are never resolved away. */
export function keyPath(key: string): string {
  const encoded = encodeURIComponent(key);
  return `/v1/kv/${encoded.includes(".") ? encoded.replace(/\./g, "%2E") : encoded}`;
}
