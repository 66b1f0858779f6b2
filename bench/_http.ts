/**
 * A lean `fetch` for the load generator of bench/ycsb.ts: HTTP/1.1 over `node:net` sockets, keep-alive, and a
 * fully buffered, Response-like answer.
 *
 * Why: the generator must cost far less CPU than the systems it measures (issue 18: at most a third of a core
 * per 5,000 ops/s, 67 µs per operation). The built-in `fetch` (undici behind the WHATWG layer) costs several
 * times `node:http` per request (docs/bench.md), and `node:http` itself still cost ~218 µs per SDK operation:
 * ClientRequest and its agent, the incoming-message parser, `new URL`, and undici `Headers`/`Response` objects
 * built for every request and answer. Here a request is one string or Buffer written to an idle socket, the
 * answer is parsed in place, and the origin's host, port and pool are looked up in a Map instead of parsing
 * the URL. The SDK still drives meshkv over real HTTP, and etcd's gateway goes through the same function.
 * Measured against one Node node (20,000 GETs, 32 in flight, docs/bench.md): generator CPU per bare request
 * from ~140-155 µs (node:http) to ~50-60 µs; per SDK `get()` from ~250 µs to ~120-130 µs, of which the SDK's own
 * work (re-wrapping every answer in `new Response`, a timer and an AbortController per attempt) is most.
 *
 * Scope (what the SDK and the etcd calls use): `http:` URLs given as strings; `method`, `headers` (a record,
 * or anything `Headers` accepts), `body` (string or bytes) and `signal`. One request per connection at a time
 * (no pipelining), at most `maxSockets` connections per origin, more requests queue; a request that finds its
 * kept-alive connection closed before any byte of answer is sent once more on a new one (the server closed it
 * while idle, so it never saw the request). Answers are framed by Content-Length, chunked transfer coding, or
 * the connection's end; 1xx interim answers are skipped. The answer resolves once complete, so it does not
 * stream: `body` is a ReadableStream over the buffered bytes, built only when read, and the SDK's `watch()` (a
 * never-ending event stream, unused by ycsb) would never resolve.
 */
import { connect, type Socket } from "node:net";

/** Largest response head accepted, in bytes (a generous bound; meshkv's and etcd's heads are a few hundred). */
const HEAD_BYTES_MAX = 64 * 1024;
const CRLF = "\r\n";
// Parser states of a connection.
const HEAD = 0, BODY = 1, CHUNK_SIZE = 2, CHUNK_DATA = 3, CHUNK_END = 4, TRAILER = 5, UNTIL_CLOSE = 6;

/**
 * Response headers over the head as it arrived (status line included): `get` finds a field by searching the
 * lower-cased head for `CRLF name:`, so an answer whose headers are read by name (the SDK reads two or three)
 * never splits the head into lines; iterating (`new Headers(h)`) parses it then. Names come out lower-cased, in
 * arrival order.
 */
class LeanHeaders {
  readonly #head: string;
  /** `#head` lower-cased: the same length, as the head is Latin-1 text whose lower case never changes length. */
  readonly #lower: string;
  #pairs: [string, string][] | null = null;
  constructor(head: string, lower: string) {
    this.#head = head;
    this.#lower = lower;
  }
  get(name: string): string | null {
    const needle = `\r\n${name.toLowerCase()}:`;
    const lower = this.#lower;
    let out: string | null = null;
    for (let at = lower.indexOf(needle); at >= 0; at = lower.indexOf(needle, at + needle.length)) {
      const from = at + needle.length;
      const end = lower.indexOf(CRLF, from);
      const value = this.#head.slice(from, end < 0 ? lower.length : end).trim();
      out = out === null ? value : `${out}, ${value}`;
    }
    return out;
  }
  has(name: string): boolean {
    return this.get(name) !== null;
  }
  #all(): [string, string][] {
    if (this.#pairs !== null) return this.#pairs;
    const pairs: [string, string][] = [];
    const lines = this.#head.split(CRLF);
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i]!, colon = l.indexOf(":");
      if (colon > 0) pairs.push([l.slice(0, colon).trim().toLowerCase(), l.slice(colon + 1).trim()]);
    }
    return (this.#pairs = pairs);
  }
  forEach(cb: (value: string, name: string, parent: LeanHeaders) => void): void {
    for (const [k, v] of this.#all()) cb(v, k, this);
  }
  entries(): IterableIterator<[string, string]> {
    return this.#all()[Symbol.iterator]();
  }
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.#all()[Symbol.iterator]();
  }
}

/** The members of `Response` the SDK and bench/_peers.ts read; cast to `Response` for the `fetch` type. */
class LeanResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: LeanHeaders;
  /** The whole body, set by the parser before the answer is handed out; null for 204, 304 and HEAD. */
  data: Buffer | null = null;
  #stream: ReadableStream<Uint8Array> | null = null;
  constructor(status: number, statusText: string, headers: LeanHeaders) {
    this.status = status;
    this.statusText = statusText;
    this.headers = headers;
  }
  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }
  get body(): ReadableStream<Uint8Array> | null {
    const data = this.data;
    if (data === null || this.#stream !== null) return this.#stream;
    return (this.#stream = new ReadableStream({ start: (c) => (c.enqueue(new Uint8Array(data)), c.close()) }));
  }
  arrayBuffer(): Promise<ArrayBuffer> {
    const d = this.data;
    if (d === null) return Promise.resolve(new ArrayBuffer(0));
    return Promise.resolve(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength) as ArrayBuffer);
  }
  text(): Promise<string> {
    return Promise.resolve(this.data?.toString("utf8") ?? "");
  }
  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
}

/**
 * One request: its encoded bytes (kept so a keep-alive race can resend them) and its promise's ends. It is its
 * signal's abort listener itself (`handleEvent`), so a request makes no closure: under tsx, whose transform
 * names every function a request would create, that naming cost the generator about 5% of its CPU.
 */
class Pending {
  readonly payload: string | Buffer;
  readonly head: boolean;
  readonly resolve: (r: Response) => void;
  readonly reject: (e: unknown) => void;
  readonly signal: AbortSignal | null;
  readonly pool: Pool;
  conn: Conn | undefined = undefined;
  retried = false;
  constructor(
    payload: string | Buffer,
    head: boolean,
    resolve: (r: Response) => void,
    reject: (e: unknown) => void,
    signal: AbortSignal | null,
    pool: Pool,
  ) {
    this.payload = payload;
    this.head = head;
    this.resolve = resolve;
    this.reject = reject;
    this.signal = signal;
    this.pool = pool;
  }
  /** The signal aborted: end the request's connection, or take it out of the queue. */
  handleEvent(): void {
    const c = this.conn;
    if (c !== undefined && c.req === this) {
      c.req = null; // the close that follows must not settle it again
      c.socket.destroy();
    } else {
      const i = this.pool.queue.indexOf(this);
      if (i >= 0) this.pool.queue.splice(i, 1);
    }
    this.reject(this.signal!.reason);
  }
}

/** The connections to one origin (host:port): idle ones, how many are open, and requests waiting for one. */
class Pool {
  readonly host: string;
  readonly port: number;
  readonly hostHeader: string;
  readonly max: number;
  readonly idle: Conn[] = [];
  readonly queue: Pending[] = [];
  open = 0;
  constructor(host: string, port: number, hostHeader: string, max: number) {
    this.host = host;
    this.port = port;
    this.hostHeader = hostHeader;
    this.max = max;
  }
  /** Most recently used idle connection first (the others may time out at the server and be dropped). */
  dispatch(p: Pending): void {
    const c = this.idle.pop();
    if (c !== undefined) c.start(p);
    else if (this.open < this.max) this.fresh(p);
    else this.queue.push(p);
  }
  fresh(p: Pending): void {
    this.open++;
    new Conn(this).start(p);
  }
  release(c: Conn): void {
    const next = this.queue.shift();
    if (next !== undefined) return c.start(next);
    c.socket.unref(); // an idle pool must not keep the process alive (node:http's agent does the same)
    this.idle.push(c);
  }
  closed(c: Conn): void {
    this.open--;
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    const next = this.queue.length > 0 && this.open < this.max ? this.queue.shift() : undefined;
    if (next !== undefined) this.fresh(next);
  }
}

class Conn {
  readonly pool: Pool;
  readonly socket: Socket;
  req: Pending | null = null;
  #reused = false; // an answer came back on it before: its server may have closed it since (keep-alive race)
  #got = false; // a byte of the current answer arrived: a failure after that is not a keep-alive race
  #error: Error | null = null;
  #buf: Buffer = Buffer.alloc(0);
  #state = HEAD;
  #res: LeanResponse | null = null;
  #close = false;
  #remaining = 0;
  #parts: Buffer[] = [];
  constructor(pool: Pool) {
    this.pool = pool;
    this.socket = connect({ host: pool.host, port: pool.port });
    this.socket.setNoDelay(true);
    this.socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    this.socket.on("error", (e: Error) => (this.#error = e));
    this.socket.on("close", () => this.#onClose());
  }
  start(p: Pending): void {
    p.conn = this;
    this.req = p;
    this.#got = false;
    this.socket.ref();
    this.socket.write(p.payload);
  }
  #onData(chunk: Buffer): void {
    if (this.req === null) return void this.socket.destroy(); // bytes nobody asked for: the stream is unusable
    this.#got = true;
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    try {
      this.#parse();
    } catch (e) {
      this.socket.destroy(e as Error);
    }
  }
  /** Consumes `#buf` as far as it goes; returns when it needs more bytes or the answer is complete. */
  #parse(): void {
    for (;;) {
      const buf = this.#buf;
      if (this.#state === HEAD) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) {
          if (buf.length > HEAD_BYTES_MAX) throw new Error(`response head over ${HEAD_BYTES_MAX} bytes`);
          return;
        }
        this.#buf = buf.subarray(end + 4);
        this.#head(buf.toString("latin1", 0, end));
      } else if (this.#state === BODY || this.#state === CHUNK_DATA) {
        const take = Math.min(this.#remaining, buf.length);
        if (take > 0) this.#parts.push(buf.subarray(0, take));
        this.#remaining -= take;
        this.#buf = buf.subarray(take);
        if (this.#remaining > 0) return;
        if (this.#state === BODY) return this.#finish();
        this.#state = CHUNK_END;
      } else if (this.#state === CHUNK_END) {
        if (buf.length < 2) return;
        if (buf[0] !== 13 || buf[1] !== 10) throw new Error("no CRLF after a chunk");
        this.#buf = buf.subarray(2);
        this.#state = CHUNK_SIZE;
      } else if (this.#state === CHUNK_SIZE || this.#state === TRAILER) {
        const end = buf.indexOf(CRLF);
        if (end < 0) return;
        const line = buf.toString("latin1", 0, end);
        this.#buf = buf.subarray(end + 2);
        if (this.#state === TRAILER) {
          if (line === "") return this.#finish();
          continue; // trailer fields are dropped, as fetch drops them
        }
        const size = parseInt(line, 16); // a `;extension` after the size is ignored by parseInt
        if (!(size >= 0)) throw new Error(`bad chunk size ${JSON.stringify(line)}`);
        this.#state = size === 0 ? TRAILER : CHUNK_DATA;
        this.#remaining = size;
      } else { // UNTIL_CLOSE: the body is whatever arrives before the server closes
        if (buf.length > 0) this.#parts.push(buf);
        this.#buf = Buffer.alloc(0);
        return;
      }
    }
  }
  /** Parses the status line, then picks how the body is framed (RFC 9112 §6.3); other fields are read on demand. */
  #head(head: string): void {
    const eol = head.indexOf(CRLF);
    const line = eol < 0 ? head : head.slice(0, eol);
    const status = Number(line.slice(9, 12));
    if (!line.startsWith("HTTP/1.") || !(status >= 100 && status <= 999)) {
      throw new Error(`bad status line ${JSON.stringify(line.slice(0, 40))}`);
    }
    if (status >= 100 && status < 200) return; // an interim answer (100 Continue): the real one follows
    const headers = new LeanHeaders(head, head.toLowerCase());
    const lengthField = headers.get("content-length");
    const length = lengthField === null ? -1 : Number(lengthField);
    const chunked = headers.get("transfer-encoding")?.toLowerCase().includes("chunked") ?? false;
    const connection = headers.get("connection");
    const close = connection === null ? line.startsWith("HTTP/1.0") : connection.toLowerCase().includes("close");
    this.#res = new LeanResponse(status, line.slice(13), headers);
    this.#close = close;
    if (this.req!.head || status === 204 || status === 304) return this.#finish();
    if (chunked) this.#state = CHUNK_SIZE;
    else if (length >= 0 && Number.isSafeInteger(length)) {
      this.#state = BODY;
      this.#remaining = length;
      if (length === 0) this.#finish();
    } else {
      this.#state = UNTIL_CLOSE;
      this.#close = true;
    }
  }
  /** Delivers the answer and hands the connection back (or ends it when the server asked to close). */
  #finish(): void {
    const p = this.req!, parts = this.#parts, res = this.#res!;
    if (this.#state !== HEAD) res.data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const reuse = !this.#close && this.#buf.length === 0; // bytes past the answer: the stream is unusable
    this.#reused = true;
    this.req = null;
    this.#res = null;
    this.#state = HEAD;
    this.#parts = [];
    this.#buf = Buffer.alloc(0);
    if (reuse) this.pool.release(this);
    else this.socket.destroy();
    settle(p);
    p.resolve(res as unknown as Response);
  }
  #onClose(): void {
    if (this.req !== null && this.#state === UNTIL_CLOSE && this.#error === null) this.#finish();
    const p = this.req;
    this.req = null;
    const retry = p !== null && this.#reused && !this.#got && !p.retried;
    if (retry) {
      // Keep-alive race: the server closed the idle connection as the request went out, so it never saw it.
      // First in the queue, so closed() below sends it on a new connection.
      p!.retried = true;
      this.pool.queue.unshift(p!);
    }
    this.pool.closed(this);
    if (p === null || retry) return;
    settle(p);
    const why = this.#error?.message ?? "the server closed the connection";
    p.reject(new TypeError(`fetch failed: ${why}`, { cause: this.#error ?? undefined }));
  }
}

function settle(p: Pending): void {
  p.signal?.removeEventListener("abort", p);
}

/** Origin → pool; the generator talks to a handful of nodes, so the map stays as small as that. */
type Origins = Map<string, Pool>;

function poolFor(origins: Origins, origin: string, maxSockets: number): Pool {
  let pool = origins.get(origin);
  if (pool === undefined) {
    const url = new URL(origin);
    if (url.protocol !== "http:") throw new TypeError(`fetch failed: only http: URLs are supported: ${origin}`);
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1"); // IPv6 literals come bracketed
    pool = new Pool(host, Number(url.port || 80), url.host, maxSockets);
    origins.set(origin, pool);
  }
  return pool;
}

/** One request header line; Host and Content-Length are the fetch's own and are left out. */
function headerLine(name: string, value: string): string {
  const n = name.toLowerCase();
  return n === "host" || n === "content-length" ? "" : `${name}: ${value}\r\n`;
}

/** The request's bytes: head and body in one string (string bodies) or one Buffer (byte bodies). */
function encode(method: string, path: string, pool: Pool, init: RequestInit): string | Buffer {
  let head = `${method} ${path} HTTP/1.1\r\nhost: ${pool.hostHeader}\r\n`;
  const h = init.headers;
  if (h !== undefined && h !== null) {
    if (Array.isArray(h) || typeof (h as Headers).forEach === "function") {
      new Headers(h).forEach((v, k) => (head += headerLine(k, v)));
    } else {
      for (const k in h as Record<string, string>) head += headerLine(k, (h as Record<string, string>)[k]!);
    }
  }
  const body = init.body;
  if (body === undefined || body === null) {
    return method === "GET" || method === "HEAD" ? `${head}\r\n` : `${head}content-length: 0\r\n\r\n`;
  }
  if (typeof body === "string") return `${head}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const bytes = body instanceof Uint8Array ? body : body instanceof ArrayBuffer ? new Uint8Array(body) : null;
  if (bytes === null) throw new TypeError("fetch failed: only string and byte bodies are supported");
  head += `content-length: ${bytes.byteLength}\r\n\r\n`;
  const out = Buffer.allocUnsafe(head.length + bytes.byteLength);
  out.write(head, 0, "latin1");
  out.set(bytes, head.length);
  return out;
}

export function httpFetch(maxSockets = 256): typeof fetch {
  const origins: Origins = new Map();
  const fn = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> =>
    new Promise((resolve, reject) => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      // The origin is everything before the path: "http://host:port" of "http://host:port/v1/kv/a?x=1".
      const slash = url.indexOf("/", url.indexOf("//") + 2);
      const origin = slash < 0 ? url : url.slice(0, slash);
      let path = slash < 0 ? "/" : url.slice(slash);
      const hash = path.indexOf("#");
      if (hash >= 0) path = path.slice(0, hash);
      if (/[\s\0-\x1f]/.test(path)) {
        return reject(new TypeError(`fetch failed: whitespace or control character in ${url}`));
      }
      const signal = init.signal ?? null;
      if (signal?.aborted) return reject(signal.reason);
      const method = (init.method ?? "GET").toUpperCase();
      let pool: Pool, payload: string | Buffer;
      try {
        pool = poolFor(origins, origin, maxSockets);
        payload = encode(method, path, pool, init);
      } catch (e) {
        return reject(e);
      }
      const p = new Pending(payload, method === "HEAD", resolve, reject, signal, pool);
      signal?.addEventListener("abort", p); // settle() removes it
      pool.dispatch(p);
    });
  return fn as typeof fetch;
}
