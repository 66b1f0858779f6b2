/**
 * Node's own way in for the hot routes (`FetchHandler.hot`: GET, PUT and DELETE of one key): a `node:net`
 * server in front of the `node:http` one that reads the plainest HTTP/1.1 requests itself and answers them
 * through the direct path, without `node:http`'s parser binding, `IncomingMessage` and `ServerResponse`
 * streams (bench/http.ts: `node` against `node-http`). It reads a request when it is sure to read it as
 * `node:http` would: HTTP/1.1, well-formed header lines, no `Transfer-Encoding`, `Expect` or `Upgrade`, one
 * `Host` and at most one `Content-Length`; it gathers one that comes in pieces (a head up to 16 KiB, a body up to
 * `BODY_BYTES_MAX`, for at most a keep-alive timeout). A hot request the direct path takes it answers itself;
 * any other such request (another route, the dashboard, a batch) it relays to the `node:http` server on a
 * stand-in connection (`_node_relay.ts`), and the connection stays its own for the requests after it. Anything
 * else (a malformed request, a chunked body, a WebSocket upgrade, a head or body over the bounds, a request that
 * stalls) hands the connection, the bytes it has not answered first, to the `node:http` server, which serves it
 * from then on as it would have from the start: its parser, limits and timeouts, the Hono app, upgrades.
 * Answers leave in request order (pipelining; the front answers each in one write, with the head `node:http`
 * would write: Date, Connection, Keep-Alive, Content-Length); an idle connection is closed after `keepAliveMs`
 * as `node:http` does. TLS servers do not use it; `MESHKV_HTTP=node-http` turns it off (src/runtime/node.ts).
 */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import { answerBytes, CLOSE, plainRequest } from "./_node_plain.ts";
import { Relay } from "./_node_relay.ts";
import type { PlainRequest, PlainResponse } from "./types.ts";

type Hot = (req: PlainRequest) => Promise<PlainResponse> | null;

const HEAD_END = Buffer.from("\r\n\r\n");
/** `node:http`'s default `maxHeaderSize`: a longer head is left to it (it answers 431). */
const HEAD_BYTES_MAX = 16 * 1024;
/** Answers owed on one connection before it stops reading (pipelining clients). */
const QUEUE_MAX = 64;
const REQUEST_LINE = /^([A-Z]+) ([\x21-\x7e]+) HTTP\/1\.1\r\n/;
const HEADER_LINE = /([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*((?:[\x21-\x7e](?:[\t\x20-\x7e]*[\x21-\x7e])?)?)[ \t]*\r\n/y;
const DIGITS = /^\d{1,15}$/;
const EMPTY = new Uint8Array(0);

/** One answer owed, in request order. */
interface Slot {
  bytes: Buffer | null;
  close: boolean;
}

/** What `#request` did with the bytes at hand, when it did not take a request (else: where the next starts). */
const HAND_OVER = -1;
/** The request's head is still coming in. */
const MORE = -2;
/** The request is for `node:http` and answers are still owed: it waits for them. */
const WAIT = -3;
/** Bytes held behind a request `node:http` answers (or waiting for one) before the front stops reading. */
const HELD_BYTES_MAX = 64 * 1024;

/** The body of the request being answered here, still coming in. */
interface Body {
  rest: number;
  parts: Buffer[];
  resolve: (b: Uint8Array) => void;
  reject: (e: Error) => void;
}

/**
 * Parses and answers one connection's requests. The hot ones it answers itself; any other plain request is
 * relayed to `node:http` (`_node_relay.ts`) and the connection stays the front's; what it cannot read as
 * `node:http` would hands the whole connection over.
 */
class Conn {
  readonly #queue: Slot[] = [];
  /** Bytes to hand over with the connection once every answer owed is written (null: still ours). */
  #handing: Buffer | null = null;
  #closing = false;
  /** Bytes read and not yet taken: a head still coming in, or requests held behind one `node:http` answers. */
  #pieces: Buffer[] = [];
  #pieceBytes = 0;
  /** When the head at the start of `#pieces` began to come in pieces (`Date.now()`), or -1. */
  #partialSince = -1;
  /** A request for `node:http` waits for the answers owed before it. */
  #waiting = false;
  /** The body of a request answered here that is still coming in (read into it before anything else). */
  #body: Body | null = null;
  /** The request `node:http` is answering, if any (nothing else is read meanwhile), and its body bytes to come. */
  #relay: Relay | null = null;
  #relayRest = 0;
  /** The head's connection lines of a keep-alive answer, as `node:http` writes them. */
  readonly #keepAlive: string;
  readonly #keepAliveMs: number;
  readonly #onData = (chunk: Buffer) => this.#read(chunk);
  readonly #onDrain = () => this.#resumeIfIdle();

  readonly socket: Socket;
  readonly http: HttpServer;
  readonly hot: Hot;

  constructor(socket: Socket, http: HttpServer, hot: Hot, keepAliveMs: number) {
    this.socket = socket;
    this.http = http;
    this.hot = hot;
    this.#keepAliveMs = keepAliveMs;
    socket.setTimeout(keepAliveMs);
    this.#keepAlive = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(keepAliveMs / 1000)}\r\n`;
    socket.on("data", this.#onData);
    socket.on("drain", this.#onDrain);
    socket.on("timeout", this.#onTimeout);
    socket.on("end", this.#onEnd);
    socket.on("error", this.#onError);
    socket.on("close", this.#onClose);
  }

  readonly #onTimeout = () => {
    if (this.#queue.length > 0 || this.#relay !== null) return; // the answer's write re-arms it
    // A head that stopped coming in: node:http's header timeout judges it from here.
    if (this.#pieceBytes > 0 && !this.#closing) this.#handOver(this.#takePieces());
    else this.socket.destroy(); // idle keep-alive
  };
  readonly #onEnd = () => {
    this.#closing = true;
    this.#endBody();
    this.#relay?.push(null); // node:http learns that the client went away, as on its own socket
    if (this.#queue.length === 0 && this.#relay === null) this.socket.end();
  };
  readonly #onError = () => this.socket.destroy();
  readonly #onClose = () => {
    this.#endBody();
    this.#relay?.destroy();
  };

  #endBody(): void {
    this.#body?.reject(new Error("Connection closed before the body ended"));
    this.#body = null;
  }

  #read(chunk: Buffer): void {
    if (this.#body !== null || this.#relayRest > 0) {
      chunk = this.#bodyBytes(chunk);
      if (chunk.length === 0) return;
    }
    if (this.#closing) return; // after a `Connection: close` request nothing more is read
    this.#pieces.push(chunk);
    this.#pieceBytes += chunk.length;
    if (this.#relay !== null || this.#waiting) {
      if (this.#pieceBytes > HELD_BYTES_MAX) this.socket.pause(); // resumed when they are read
      return;
    }
    // A head that takes longer than a keep-alive to arrive is left to node:http's timeouts.
    if (this.#partialSince !== -1 && Date.now() - this.#partialSince > this.#keepAliveMs) {
      return this.#handOver(this.#takePieces());
    }
    this.#parse();
  }

  /** Gives the body bytes at the start of `chunk` to the request they belong to; returns the rest. */
  #bodyBytes(chunk: Buffer): Buffer {
    const body = this.#body;
    if (body !== null) {
      const n = Math.min(body.rest, chunk.length);
      body.parts.push(chunk.subarray(0, n));
      body.rest -= n;
      if (body.rest === 0) {
        this.#body = null;
        body.resolve(body.parts.length === 1 ? body.parts[0]! : Buffer.concat(body.parts));
      }
      return chunk.subarray(n);
    }
    const n = Math.min(this.#relayRest, chunk.length);
    this.#relayRest -= n;
    if (!this.#relay!.push(chunk.subarray(0, n))) this.socket.pause(); // node:http reads on: `#relayWants`
    return chunk.subarray(n);
  }

  #takePieces(): Buffer {
    const pieces = this.#pieces;
    const all = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, this.#pieceBytes);
    this.#pieces = [];
    this.#pieceBytes = 0;
    return all;
  }

  /** Keeps the bytes not yet taken for the next `#parse`. */
  #hold(rest: Buffer): void {
    this.#pieces = rest.length > 0 ? [rest] : [];
    this.#pieceBytes = rest.length;
  }

  /** Takes the requests in the bytes at hand until a head is incomplete, or one is handed over or relayed. */
  #parse(): void {
    if (this.#handing !== null || this.#closing || this.#relay !== null || this.#pieceBytes === 0) return;
    const chunk = this.#takePieces();
    let at = 0;
    this.#waiting = false;
    while (at < chunk.length) {
      const next = this.#request(chunk, at);
      if (next === HAND_OVER) return this.#handOver(chunk.subarray(at));
      if (next === MORE) {
        if (at > 0 || this.#partialSince === -1) this.#partialSince = Date.now();
        return this.#hold(chunk.subarray(at));
      }
      this.#partialSince = -1;
      if (next === WAIT) {
        this.#waiting = true;
        this.#hold(chunk.subarray(at));
        break;
      }
      at = next;
      if (this.#closing) return; // a `Connection: close` request: what follows it is not read
      if (this.#relay !== null) return this.#hold(chunk.subarray(at));
    }
    if (this.#queue.length >= QUEUE_MAX) this.socket.pause();
  }

  /**
   * Takes the request at `at` and returns where the next one starts (the end of the bytes at hand when its body
   * is still coming in: `#body` or `#relayRest` take the rest): answered here, or relayed to node:http (`#relay`
   * is set). Else `HAND_OVER`, `MORE` or `WAIT`.
   */
  #request(chunk: Buffer, at: number): number {
    const c = chunk[at]!;
    if (c < 65 /* A */ || c > 90 /* Z */) return HAND_OVER;
    const headEnd = chunk.indexOf(HEAD_END, at);
    if (headEnd < 0) return chunk.length - at > HEAD_BYTES_MAX ? HAND_OVER : MORE;
    if (headEnd - at > HEAD_BYTES_MAX) return HAND_OVER;
    const head = chunk.toString("latin1", at, headEnd + 2);
    const line = REQUEST_LINE.exec(head);
    if (line === null) return HAND_OVER;
    const raw: string[] = [];
    let host: string | undefined;
    let length = 0;
    let lengths = 0;
    let keepAlive = true;
    HEADER_LINE.lastIndex = line[0].length;
    while (HEADER_LINE.lastIndex < head.length) {
      const h = HEADER_LINE.exec(head);
      if (h === null) return HAND_OVER;
      const name = h[1]!;
      const value = h[2]!;
      raw.push(name, value);
      switch (name.toLowerCase()) {
        case "host":
          if (host !== undefined) return HAND_OVER;
          host = value;
          break;
        case "content-length":
          if (lengths++ > 0 || !DIGITS.test(value)) return HAND_OVER;
          length = Number(value);
          break;
        case "connection":
          if (/upgrade/i.test(value)) return HAND_OVER;
          if (CLOSE.test(value)) keepAlive = false;
          break;
        case "transfer-encoding":
        case "expect":
        case "upgrade":
          return HAND_OVER;
      }
    }
    const bodyStart = headEnd + 4;
    const end = Math.min(bodyStart + length, chunk.length);
    const method = line[1]!;
    let answer: Promise<PlainResponse> | null = null;
    let body: Body | null = null;
    if (method === "GET" || method === "PUT" || method === "DELETE") {
      let bytes: Promise<Uint8Array>;
      if (bodyStart + length <= chunk.length) {
        // A plain view (a Buffer's `slice()` would not copy, should a route copy it).
        bytes = Promise.resolve(
          length > 0 ? new Uint8Array(chunk.buffer, chunk.byteOffset + bodyStart, length) : EMPTY,
        );
      } else {
        // The rest of the body comes in later reads; the route's body deadline runs from its first read.
        const first = chunk.subarray(bodyStart);
        bytes = new Promise((resolve, reject) => {
          body = { rest: length - first.length, parts: first.length > 0 ? [first] : [], resolve, reject };
        });
        bytes.catch(() => {}); // a route that never reads it
      }
      const req = plainRequest(method, line[2]!, host, raw, false, () => bytes);
      answer = req === null ? null : this.hot(req);
    }
    if (answer === null) return this.#relayRequest(chunk.subarray(at, end), bodyStart + length - end, end);
    this.#body = body;
    const slot: Slot = { bytes: null, close: false };
    this.#queue.push(slot);
    if (!keepAlive) this.#closing = true;
    answer.then(
      (a) => this.#answered(slot, a, keepAlive ? this.#keepAlive : null),
      () => this.#answered(slot, { status: 500, headers: {}, body: null }, keepAlive ? this.#keepAlive : null),
    );
    return end;
  }

  /**
   * Gives one request to node:http on a stand-in connection once no answers are owed (`_node_relay.ts`): the
   * bytes at hand, and the `rest` of its body as it comes.
   */
  #relayRequest(request: Buffer, rest: number, end: number): number {
    if (this.#queue.length > 0) return WAIT;
    // A copy: the bytes stay node:http's for as long as it reads them.
    this.#relay = new Relay(this.socket, Buffer.from(request), {
      over: (close) => this.#relayed(close),
      wants: () => this.#relayWants(),
    });
    this.#relayRest = rest;
    this.http.emit("connection", this.#relay);
    return end;
  }

  #relayWants(): void {
    if (this.#relayRest > 0 && this.#pieceBytes <= HELD_BYTES_MAX) this.socket.resume();
  }

  #relayed(close: boolean): void {
    this.#relay = null;
    // The rest of a body node:http did not read would have to be read and dropped: the connection closes instead.
    if (this.#relayRest > 0) close = true;
    this.#relayRest = 0;
    if (close) {
      this.#closing = true;
      this.#pieces = [];
      this.#pieceBytes = 0;
    }
    if (this.#closing) return void this.socket.end();
    this.#parse();
    if (this.#relay === null && this.#queue.length === 0) this.#resumeIfIdle();
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
    else {
      if (this.#waiting) this.#parse(); // a request for node:http that waited for these answers
      if (socket.writableNeedDrain) socket.pause(); // a client that does not read: 'drain' resumes
      else if (socket.isPaused()) this.#resumeIfIdle();
    }
  }

  #resumeIfIdle(): void {
    const socket = this.socket;
    if (
      this.#handing === null && !this.#closing && this.#relay === null && !this.#waiting &&
      this.#queue.length < QUEUE_MAX && !socket.writableNeedDrain
    ) {
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
    socket.off("close", this.#onClose);
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
  // The requests relayed to node:http learn when their answer is written (before any other listener answers).
  http.prependListener("request", (req: IncomingMessage, res: ServerResponse) => {
    if (req.socket instanceof Relay) req.socket.answering(res);
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
