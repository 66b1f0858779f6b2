/**
 * Parsing and checking of request input: keys, consistency levels, context tokens, TTLs, page limits,
 * cursors and bodies. Each check throws a `MeshkvError` whose code (through `errors.ts`) is the documented
 * 4xx, with the limit and its value in the message, before anything reaches the backend.
 */
import { decodeContext } from "../core/context.ts";
import { type ConsistencyLevel, parseConsistency } from "../core/quorum.ts";
import type { VersionVector } from "../core/version.ts";
import { MeshkvError } from "../errors.ts";
import { invalid, overLimit } from "./errors.ts";
import { DATA_LIMITS } from "../kv/limits.ts";
import { LIMITS } from "./limits.ts";
import type { Clock } from "../runtime/types.ts";

const encoder = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Checks a key from JSON or a decoded path: a non-empty, well-formed string within keyBytesMax, not `.` or `..`. */
export function checkKey(key: unknown, field = "key"): string {
  if (typeof key !== "string") {
    throw invalid(`Invalid ${field}: expected a string, got ${key === null ? "null" : typeof key}`, { field });
  }
  if (key.length === 0) throw invalid(`Invalid ${field}: empty`, { field });
  // URLs resolve these segments away (even percent-encoded), so such keys could not be addressed by path.
  if (key === "." || key === "..") {
    throw invalid(`Invalid ${field}: "${key}" is reserved (URLs resolve it away)`, { field });
  }
  if (LONE_SURROGATE.test(key)) throw invalid(`Invalid ${field}: not valid UTF-8 (a lone surrogate)`, { field });
  const bytes = encoder.encode(key).length;
  if (bytes > DATA_LIMITS.keyBytesMax) throw overLimit("keyBytesMax", DATA_LIMITS.keyBytesMax, bytes, "Key");
  return key;
}

/**
 * The key of `/v1/kv/{key}` from the raw (still percent-encoded) path, which may contain `/`: `path` when the
 * caller has it already, else the path of `rawUrl`.
 */
export function keyFromPath(rawUrl: string, prefix: string, path = new URL(rawUrl).pathname): string {
  const raw = path.slice(prefix.length);
  let key: string;
  try {
    key = decodeURIComponent(raw);
  } catch {
    throw invalid("Invalid key: the percent-encoding is not valid UTF-8", { field: "key" });
  }
  return checkKey(key);
}

/** `consistency=<level>` or `r=<n>`/`w=<n>` (the count letter given by the route); null when absent. */
export function levelFrom(query: (name: string) => string | undefined, count: "r" | "w"): ConsistencyLevel | null {
  const named = query("consistency");
  const n = query(count);
  if (named !== undefined && n !== undefined) throw invalid(`Give consistency or ${count}, not both`);
  if (named !== undefined) return parseConsistency(named);
  if (n !== undefined) return parseConsistency(`${count}=${n}`);
  return null;
}

/** A level from a JSON field (batch ops); null when absent. */
export function levelFromJson(value: unknown): ConsistencyLevel | null {
  return value === undefined || value === null ? null : parseConsistency(value);
}

/** A context token (header or JSON field); empty vector when absent. */
export function contextFrom(token: string | undefined | null): VersionVector {
  if (token === undefined || token === null || token === "") return [];
  return decodeContext(token);
}

/** A boolean query flag: absent is false; present with no value, `true` or `1` is true. */
export function flag(value: string | undefined, name: string): boolean {
  if (value === undefined || value === "false" || value === "0") return false;
  if (value === "" || value === "true" || value === "1") return true;
  throw invalid(`Invalid ${name}: ${value} (true or false)`, { field: name });
}

/** A positive integer in range from text or JSON. */
export function intIn(value: unknown, name: string, min: number, max: number, limitName?: string): number {
  const n = typeof value === "string" && /^\d{1,16}$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < min || n > max) {
    const bound = limitName ? `${limitName} ` : "";
    throw invalid(`Invalid ${name}: ${String(value)} (an integer from ${min} to ${bound}${max})`, {
      field: name,
      min,
      max,
    });
  }
  return n;
}

export function ttlFrom(value: unknown): number | null {
  if (value === undefined || value === null) return null;
  return intIn(value, "ttl", 1, DATA_LIMITS.ttlMsMax, "ttlMsMax");
}

export function pageLimitFrom(value: string | undefined): number {
  if (value === undefined) return LIMITS.pageLimitDefault;
  return intIn(value, "limit", 1, LIMITS.pageLimitMax, "pageLimitMax");
}

/** A content type as stored with a value: printable ASCII within contentTypeCharsMax. */
export function contentTypeFrom(value: string | undefined | null, fallback: string): string {
  if (value === undefined || value === null || value === "") return fallback;
  if (value.length > DATA_LIMITS.contentTypeCharsMax) {
    throw overLimit("contentTypeCharsMax", DATA_LIMITS.contentTypeCharsMax, value.length, "Content-Type");
  }
  if (!/^[\x20-\x7e]+$/.test(value)) {
    throw invalid("Invalid Content-Type: printable ASCII only", { field: "contentType" });
  }
  return value;
}

// Cursors: base64url of "1:" + the last key returned. Opaque to clients; the version prefix lets it change.
const CURSOR_VERSION = "1:";

export function encodeCursor(lastKey: string): string {
  return toBase64(encoder.encode(CURSOR_VERSION + lastKey)).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

export function decodeCursor(cursor: string | undefined): string | null {
  if (cursor === undefined || cursor === "") return null;
  const bad = (why: string) =>
    invalid(`Invalid cursor: ${why}; pass back the cursor of the previous page as is`, { field: "cursor" });
  if (cursor.length > LIMITS.cursorCharsMax) throw bad(`longer than cursorCharsMax ${LIMITS.cursorCharsMax}`);
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad("not base64url");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(
      fromBase64(cursor.replaceAll("-", "+").replaceAll("_", "/")),
    );
  } catch {
    throw bad("not a cursor");
  }
  if (!text.startsWith(CURSOR_VERSION) || text.length === CURSOR_VERSION.length) throw bad("unknown format");
  return text.slice(CURSOR_VERSION.length);
}

export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(text: string): Uint8Array {
  const padded = text + "=".repeat((4 - (text.length % 4)) % 4);
  const s = atob(padded);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * Requests whose body was read to its end. A response to any other request that has a body tells the client
 * `Connection: close` (see app.ts): the unread rest may be large, slow or never come, and the runtime would
 * otherwise keep reading it to reuse the connection.
 */
export const BODY_READ = new WeakSet<BodySource>();

/** The part of a `Request` a body read uses (a `Request`, or the direct path's stand-in, hot_routes.ts). */
export interface BodySource {
  readonly headers: { get(name: string): string | null; has(name: string): boolean };
  readonly body: ReadableStream<Uint8Array> | null;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** Whether the request announces a body (a positive Content-Length, or any Transfer-Encoding). */
export function announcesBody(request: BodySource): boolean {
  const length = request.headers.get("content-length");
  return (length !== null && length !== "0") || request.headers.has("transfer-encoding");
}

/** How long a request body may take (LIMITS' body* entries, or a node's own from `meshkv start` flags). */
export interface BodyTiming {
  clock: Clock;
  bodyDeadlineMs: number;
  bodyRateBytesPerSecMin: number;
  bodyRateGraceMs: number;
}

/** `received` is null when the runtime reads a Content-Length body in one call and does not say how far it got. */
function tooSlow(why: string, limit: string, max: number, received: number | null, elapsedMs: number): MeshkvError {
  const got = received === null ? "" : `received ${received} bytes `;
  return new MeshkvError("BODY_TIMEOUT", `Request body ${why}: ${got}in ${Math.round(elapsedMs)} ms`, {
    details: { limit, max, received, elapsedMs: Math.round(elapsedMs) },
  });
}

/**
 * Settles with `p`, or rejects with `onLate()` once `ms` pass first. The timer goes through the app's clock;
 * a `p` that loses the race is left to fail with its connection (its rejection is swallowed here).
 */
function within<T>(clock: Clock, p: Promise<T>, ms: number, onLate: () => MeshkvError): Promise<T> {
  p.catch(() => {});
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(onLate()), Math.max(1, ms));
    p.then(
      (v) => {
        clock.clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clock.clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/**
 * Reads a body of at most `max` bytes, failing with LIMIT_EXCEEDED as soon as it is longer (from
 * Content-Length when given, else while streaming), so an oversized upload is never buffered whole; and with
 * BODY_TIMEOUT (408) when it is too slow, so a writer that stalls holds nothing for long. Routes read the whole
 * body before they call the backend: no key lock, quorum or replica work waits on a client's upload.
 *
 * Speed rule: the body must be complete within bodyDeadlineMs, and after the first bodyRateGraceMs it must
 * have arrived at bodyRateBytesPerSecMin on average. A chunked body is checked as it streams. With a
 * Content-Length within the limit, HTTP framing bounds the body, so it is read in one call (on Node,
 * `@hono/node-server` then reads the socket directly instead of through a web stream, several times cheaper),
 * and the rate applies to the whole: it must end by bodyRateGraceMs + length / bodyRateBytesPerSecMin.
 */
export async function readBody(
  request: BodySource,
  max: number,
  limitName: string,
  what: string,
  t: BodyTiming,
): Promise<Uint8Array> {
  const started = t.clock.monotonic();
  const elapsed = () => t.clock.monotonic() - started;
  const declared = request.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared)) {
    const length = Number(declared);
    if (length > max) throw overLimit(limitName, max, length, what);
    const byRate = t.bodyRateGraceMs + (length * 1000) / t.bodyRateBytesPerSecMin;
    const late = () =>
      byRate < t.bodyDeadlineMs
        ? tooSlow(
          `of ${length} bytes under the bodyRateBytesPerSecMin limit: ${t.bodyRateBytesPerSecMin} bytes/s after bodyRateGraceMs ${t.bodyRateGraceMs}`,
          "bodyRateBytesPerSecMin",
          t.bodyRateBytesPerSecMin,
          null,
          elapsed(),
        )
        : tooSlow(
          `not complete within the bodyDeadlineMs limit: ${t.bodyDeadlineMs}`,
          "bodyDeadlineMs",
          t.bodyDeadlineMs,
          null,
          elapsed(),
        );
    const body = new Uint8Array(await within(t.clock, request.arrayBuffer(), Math.min(byRate, t.bodyDeadlineMs), late));
    BODY_READ.add(request);
    return body;
  }
  if (request.body === null) {
    BODY_READ.add(request);
    return new Uint8Array(0);
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  // The next moment the body could break a rule: the deadline, or when the rate line passes what has arrived.
  // The rule is named when the timer is set (timers may fire a fraction of a millisecond early).
  let byDeadline = true;
  const dueIn = () => {
    const byRate = t.bodyRateGraceMs + ((size + 1) * 1000) / t.bodyRateBytesPerSecMin;
    byDeadline = t.bodyDeadlineMs <= byRate;
    return Math.min(t.bodyDeadlineMs, byRate) - elapsed();
  };
  const late = (): MeshkvError => {
    const ms = elapsed();
    if (byDeadline) {
      return tooSlow(
        `not complete within the bodyDeadlineMs limit: ${t.bodyDeadlineMs}`,
        "bodyDeadlineMs",
        t.bodyDeadlineMs,
        size,
        ms,
      );
    }
    return tooSlow(
      `under the bodyRateBytesPerSecMin limit: ${t.bodyRateBytesPerSecMin} bytes/s after bodyRateGraceMs ${t.bodyRateGraceMs}`,
      "bodyRateBytesPerSecMin",
      t.bodyRateBytesPerSecMin,
      size,
      ms,
    );
  };
  try {
    for (;;) {
      const { done, value } = await within(t.clock, reader.read(), dueIn(), late);
      if (done) break;
      size += value.length;
      if (size > max) throw overLimit(limitName, max, size, what);
      chunks.push(value);
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    throw e;
  }
  BODY_READ.add(request);
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Parses a JSON body, failing with INVALID_ARGUMENT that says where the JSON broke. */
export function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new MeshkvError("INVALID_ARGUMENT", `Malformed ${what}: ${(e as Error).message}`);
  }
}
