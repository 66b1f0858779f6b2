/**
 * A hot request's Node shapes, shared by the HTTP/1.1 front (`_node_http1.ts`) and the `node:http` path
 * (`node.ts`): a `PlainRequest` from a request's parts (as @hono/node-server would build its `Request`), the
 * answer through a `ServerResponse`, and the bytes `node:http` writes for an answer (the front writes those
 * itself, in one write).
 */
import { type ServerResponse, STATUS_CODES } from "node:http";
import type { PlainRequest, PlainResponse } from "./types.ts";

// `Request.url` as @hono/node-server builds it (its `buildUrl`), for a Host it takes as it is: scheme + Host +
// target when the target needs no normalising, else the WHATWG parse of that. Requests with another Host, or
// that it refuses (a backslash in the path), go through it as before.
const PLAIN_TARGET = /^\/[!#$&-;=?-\[\]_a-z~]*$/;
const DOT_SEGMENT = /\/\.\.?(?:[/?#]|$)/;
const PLAIN_HOST = /^[a-z0-9._-]+(?::(?:[1-5]\d{3,4}|[6-9]\d{3}))?$/;

function requestUrl(scheme: string, host: string, target: string): string | null {
  const url = `${scheme}://${host}${target}`;
  if (PLAIN_TARGET.test(target) && !DOT_SEGMENT.test(target)) return url;
  const backslash = target.indexOf("\\");
  const query = target.indexOf("?");
  if (backslash !== -1 && (query === -1 || backslash < query)) return null;
  try {
    return new URL(url).href;
  } catch {
    return null;
  }
}

/**
 * A request as a `PlainRequest` (`raw`: names and values in turn, as `IncomingMessage.rawHeaders`), or null
 * when @hono/node-server would not build a `Request` as above.
 */
export function plainRequest(
  method: string,
  target: string,
  host: string | undefined,
  raw: readonly string[],
  tls: boolean,
  body: () => Promise<Uint8Array>,
): PlainRequest | null {
  if (host === undefined || !PLAIN_HOST.test(host) || target.charCodeAt(0) !== 47 /* / */) return null;
  const url = requestUrl(tls ? "https" : "http", host, target);
  if (url === null) return null;
  return {
    method,
    target,
    url,
    // As `Headers.get` on the Request @hono/node-server builds from rawHeaders: every value of the name, joined.
    header(name) {
      let value: string | undefined;
      for (let i = 0; i < raw.length; i += 2) {
        const n = raw[i]!;
        if (n.length === name.length && n.toLowerCase() === name) {
          value = value === undefined ? raw[i + 1]! : `${value}, ${raw[i + 1]!}`;
        }
      }
      return value;
    },
    body,
  };
}

/**
 * An answer through `node:http`: one `writeHead` and one `end` (Node sends the head and the body in one write;
 * an answer without a body where one may be goes out as an empty chunked body, as @hono/node-server's do).
 */
export function writePlain(outgoing: ServerResponse, a: PlainResponse): void {
  if (outgoing.headersSent || outgoing.destroyed) return;
  const headers = a.headers;
  if (a.body !== null) {
    headers["Content-Length"] = String(typeof a.body === "string" ? Buffer.byteLength(a.body) : a.body.byteLength);
  }
  outgoing.writeHead(a.status, headers);
  if (a.body === null) outgoing.end();
  else outgoing.end(a.body);
}

const mayHaveBody = (status: number) => status >= 200 && status !== 204 && status !== 304;

const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** A `Connection` header value that says close. */
export const CLOSE = /(?:^|,)[ \t]*close[ \t]*(?:,|$)/i;

let dateSecond = -1;
let dateText = "";
/** The Date header's value, made once a second (as `node:http` caches it). */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

/** The head and body `node:http` writes for `writeHead(status, headers)` + `end(body)`, in one buffer. */
export function answerBytes(a: PlainResponse, keepAlive: string | null): { bytes: Buffer; close: boolean } {
  let head = `HTTP/1.1 ${a.status} ${STATUS_CODES[a.status] ?? "unknown"}\r\n`;
  let connection: string | undefined;
  for (const name in a.headers) {
    const value = a.headers[name]!;
    if (BAD_VALUE.test(value)) return answerBytes({ status: 500, headers: {}, body: null }, null);
    if (name.length === 10 && name.toLowerCase() === "connection") connection = value;
    head += `${name}: ${value}\r\n`;
  }
  const body = a.body;
  const bodyBytes = body === null ? 0 : typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
  if (body !== null) head += `Content-Length: ${bodyBytes}\r\n`;
  head += `Date: ${httpDate()}\r\n`;
  if (connection === undefined) {
    head += keepAlive ?? "Connection: close\r\n";
  }
  // `writeHead` then `end()` without a length: node:http sends an empty chunked body.
  head += body === null && mayHaveBody(a.status) ? "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" : "\r\n";
  const close = keepAlive === null || (connection !== undefined && CLOSE.test(connection));
  const bytes = Buffer.allocUnsafe(head.length + bodyBytes);
  bytes.write(head, 0, "latin1");
  if (typeof body === "string") bytes.write(body, head.length, "utf8");
  else if (body !== null) bytes.set(body, head.length);
  return { bytes, close };
}
