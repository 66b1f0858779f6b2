/**
 * Node's own way in for the hot routes (`FetchHandler.hot`: GET, PUT and DELETE of one key): a `node:net`
 * server in front of the `node:http` one that reads the plainest HTTP/1.1 requests itself and answers them
 * through the direct path, without `node:http`'s parser binding, `IncomingMessage` and `ServerResponse`
 * streams (bench/http.ts: `node` against `node-http`). It takes a request only when it is sure to read it as
 * `node:http` would: the whole request in the bytes at hand (head, and a body by `Content-Length`), HTTP/1.1,
 * a hot method and `/v1/kv/` target, well-formed header lines, no `Transfer-Encoding`, `Expect` or `Upgrade`,
 * one `Host` and at most one `Content-Length`, and the direct path willing. At the first request that is
 * anything else (another route, a partial or malformed request, a WebSocket upgrade) it hands the connection,
 * the bytes it has not answered first, to the `node:http` server, which serves it from then on as it would
 * have from the start: its parser, limits and timeouts, the Hono app, upgrades. Answers leave in request order
 * (pipelining), each in one write, with the head `node:http` would write (Date, Connection, Keep-Alive,
 * Content-Length); an idle connection is closed after `keepAliveMs` as `node:http` does.
 * TLS servers do not use it; `MESHKV_HTTP=node-http` turns it off (src/runtime/node.ts).
 */
import { type Server as HttpServer, type ServerResponse, STATUS_CODES } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
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

type Hot = (req: PlainRequest) => Promise<PlainResponse> | null;

const HEAD_END = Buffer.from("\r\n\r\n");
/** `node:http`'s default `maxHeaderSize`: a longer head is left to it (it answers 431). */
const HEAD_BYTES_MAX = 16 * 1024;
/** Answers owed on one connection before it stops reading (pipelining clients). */
const QUEUE_MAX = 64;
const REQUEST_LINE = /^(GET|PUT|DELETE) ([\x21-\x7e]+) HTTP\/1\.1\r\n/;
const HEADER_LINE = /([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*((?:[\x21-\x7e](?:[\t\x20-\x7e]*[\x21-\x7e])?)?)[ \t]*\r\n/y;
const DIGITS = /^\d{1,15}$/;
const CLOSE = /(?:^|,)[ \t]*close[ \t]*(?:,|$)/i;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const EMPTY = new Uint8Array(0);

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
function answerBytes(a: PlainResponse, keepAlive: string | null): { bytes: Buffer; close: boolean } {
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

/** One answer owed, in request order. */
interface Slot {
  bytes: Buffer | null;
  close: boolean;
}

/** Parses and answers one connection's requests until it hands the connection over. */
class Conn {
  readonly #queue: Slot[] = [];
  /** Bytes to hand over with the connection once every answer owed is written (null: still ours). */
  #handing: Buffer | null = null;
  #closing = false;
  /** The head's connection lines of a keep-alive answer, as `node:http` writes them. */
  readonly #keepAlive: string;
  readonly #onData = (chunk: Buffer) => this.#read(chunk);
  readonly #onDrain = () => this.#resumeIfIdle();

  readonly socket: Socket;
  readonly http: HttpServer;
  readonly hot: Hot;

  constructor(socket: Socket, http: HttpServer, hot: Hot, keepAliveMs: number) {
    this.socket = socket;
    this.http = http;
    this.hot = hot;
    socket.setTimeout(keepAliveMs);
    this.#keepAlive = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(keepAliveMs / 1000)}\r\n`;
    socket.on("data", this.#onData);
    socket.on("drain", this.#onDrain);
    socket.on("timeout", this.#onTimeout);
    socket.on("end", this.#onEnd);
    socket.on("error", this.#onError);
  }

  readonly #onTimeout = () => {
    if (this.#queue.length === 0) this.socket.destroy(); // idle keep-alive; else the answer's write re-arms it
  };
  readonly #onEnd = () => {
    this.#closing = true;
    if (this.#queue.length === 0) this.socket.end();
  };
  readonly #onError = () => this.socket.destroy();

  #read(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      const next = this.#request(chunk, at);
      if (next < 0) {
        this.#handOver(chunk.subarray(at));
        return;
      }
      at = next;
      if (this.#closing) return; // a `Connection: close` request: what follows it is not read
    }
    if (this.#queue.length >= QUEUE_MAX) this.socket.pause();
  }

  /** Takes the request at `at` and returns where the next one starts, or -1 to hand the connection over. */
  #request(chunk: Buffer, at: number): number {
    const c = chunk[at];
    if (c !== 71 /* G */ && c !== 80 /* P */ && c !== 68 /* D */) return -1;
    const headEnd = chunk.indexOf(HEAD_END, at);
    if (headEnd < 0 || headEnd - at > HEAD_BYTES_MAX) return -1;
    const head = chunk.toString("latin1", at, headEnd + 2);
    const line = REQUEST_LINE.exec(head);
    if (line === null) return -1;
    const raw: string[] = [];
    let host: string | undefined;
    let length = -1;
    let keepAlive = true;
    HEADER_LINE.lastIndex = line[0].length;
    while (HEADER_LINE.lastIndex < head.length) {
      const h = HEADER_LINE.exec(head);
      if (h === null) return -1;
      const name = h[1]!;
      const value = h[2]!;
      raw.push(name, value);
      switch (name.toLowerCase()) {
        case "host":
          if (host !== undefined) return -1;
          host = value;
          break;
        case "content-length":
          if (length !== -1 || !DIGITS.test(value)) return -1;
          length = Number(value);
          break;
        case "connection":
          if (/upgrade/i.test(value)) return -1;
          if (CLOSE.test(value)) keepAlive = false;
          break;
        case "transfer-encoding":
        case "expect":
        case "upgrade":
          return -1;
      }
    }
    const bodyStart = headEnd + 4;
    const end = bodyStart + Math.max(length, 0);
    if (end > chunk.length) return -1; // the rest has not come yet: node:http waits for it, with its timeouts
    // A plain view (a Buffer's `slice()` would not copy, should a route copy it).
    const body = length > 0 ? new Uint8Array(chunk.buffer, chunk.byteOffset + bodyStart, length) : EMPTY;
    const req = plainRequest(line[1]!, line[2]!, host, raw, false, () => Promise.resolve(body));
    const answer = req === null ? null : this.hot(req);
    if (answer === null) return -1;
    const slot: Slot = { bytes: null, close: false };
    this.#queue.push(slot);
    if (!keepAlive) this.#closing = true;
    answer.then(
      (a) => this.#answered(slot, a, keepAlive ? this.#keepAlive : null),
      () => this.#answered(slot, { status: 500, headers: {}, body: null }, keepAlive ? this.#keepAlive : null),
    );
    return end;
  }

  #answered(slot: Slot, a: PlainResponse, keepAlive: string | null): void {
    const { bytes, close } = answerBytes(a, keepAlive);
    slot.bytes = bytes;
    slot.close = close;
    const queue = this.#queue;
    const socket = this.socket;
    while (queue.length > 0 && queue[0]!.bytes !== null) {
      const next = queue.shift()!;
      if (socket.destroyed) continue;
      socket.write(next.bytes!);
      if (next.close) {
        queue.length = 0;
        this.#closing = true;
        this.#handing = null;
        socket.end();
        return;
      }
    }
    if (queue.length > 0) return;
    if (this.#closing) socket.end();
    else if (this.#handing !== null) this.#give();
    else if (socket.writableNeedDrain) socket.pause(); // a client that does not read: 'drain' resumes
    else if (socket.isPaused()) this.#resumeIfIdle();
  }

  #resumeIfIdle(): void {
    const socket = this.socket;
    if (this.#handing === null && !this.#closing && this.#queue.length < QUEUE_MAX && !socket.writableNeedDrain) {
      socket.resume();
    }
  }

  #handOver(rest: Buffer): void {
    this.socket.pause();
    this.socket.off("data", this.#onData);
    this.#handing = rest;
    if (this.#queue.length === 0) this.#give();
  }

  /** Gives the connection to the `node:http` server, `#handing` first (it reads on from there). */
  #give(): void {
    const socket = this.socket;
    const rest = this.#handing!;
    this.#handing = null;
    socket.off("drain", this.#onDrain);
    socket.off("timeout", this.#onTimeout);
    socket.off("end", this.#onEnd);
    socket.off("error", this.#onError);
    socket.setTimeout(0);
    if (socket.destroyed) return;
    if (rest.length > 0) socket.unshift(rest);
    this.http.emit("connection", socket);
    socket.resume();
  }
}

/**
 * A `node:net` server that answers what the direct path takes and gives every other connection to `http`
 * (which must not listen itself). `close` stops it and drops every connection it accepted, handed over or not.
 */
export function http1Front(http: HttpServer, hot: Hot, keepAliveMs = 5000): Server {
  const open = new Set<Socket>();
  const front = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    open.add(socket);
    socket.once("close", () => open.delete(socket));
    new Conn(socket, http, hot, keepAliveMs);
  });
  // node:http starts its header and request timeouts' checks when it listens; it never does here.
  front.once("listening", () => http.emit("listening"));
  const close = front.close.bind(front);
  front.close = (done) => {
    close(done);
    http.close();
    for (const s of open) s.destroy();
    return front;
  };
  return front;
}
