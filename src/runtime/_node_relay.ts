/**
 * One request the HTTP/1.1 front (`_node_http1.ts`) does not answer itself, given to the `node:http` server on
 * a stand-in connection, so that the real connection stays the front's for the requests after it.
 *
 * `node:http` takes any `Duplex` as a connection (its documented `'connection'` event: "any Duplex stream can be
 * passed"). A relay carries exactly one request: its bytes are what the stand-in reads (its body as it comes,
 * then an end only if the client half-closes: `node:http` takes that for the client going away, as on its own
 * socket), and what `node:http` writes to it goes straight to the real socket, in order (the front starts a
 * relay only when it owes no answers, and reads no request while one runs). The relay is over when the answer has been written (the response's `finish`: the front reads
 * on), or when `node:http` ends or drops the stand-in (an answer that closes the connection, a request it
 * refuses, a server closing: the front ends the real connection once what was written has left). When the real
 * connection closes first (a watch stream's client goes away) the front destroys the relay, and `node:http`
 * aborts the request as it would for its own socket.
 */
import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { Duplex } from "node:stream";

/** What the front learns from a relay. */
export interface RelayEnds {
  /** Runs once, when the relay is over: `close` says the real connection must end after what was written. */
  over(close: boolean): void;
  /** node:http reads on: the front may read more of the body (it stops when `push` says the relay is full). */
  wants(): void;
}

export class Relay extends Duplex {
  readonly #socket: Socket;
  readonly #to: RelayEnds;
  #ended = false;

  /** `request`: its bytes at hand; the rest of its body is `push`ed as it comes. */
  constructor(socket: Socket, request: Uint8Array, to: RelayEnds) {
    super({ allowHalfOpen: true });
    this.#socket = socket;
    this.#to = to;
    this.push(request);
  }

  /** The response `node:http` answers the request with (the server's `'request'` event). */
  answering(res: ServerResponse): void {
    res.once("finish", () => {
      // An answer that ends the connection ends the stand-in too (`_final` says close); else the front reads on.
      if (this.writableEnded) return;
      this.#end(false);
      this.destroy();
    });
  }

  #end(close: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#to.over(close);
  }

  override _read(): void {
    this.#to.wants();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this._writev([{ chunk }], done);
  }

  override _writev(chunks: { chunk: Buffer }[], done: (err?: Error | null) => void): void {
    const socket = this.#socket;
    if (socket.destroyed) return done();
    socket.cork();
    let ok = true;
    for (const c of chunks) ok = socket.write(c.chunk);
    socket.uncork();
    if (ok) done();
    else socket.once("drain", () => done());
  }

  override _final(done: (err?: Error | null) => void): void {
    this.#end(true);
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.#end(true);
    done(err);
  }

  // What node:http and its users ask of a socket: timeouts stay the front's (it closes idle connections).
  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  get remoteAddress(): string | undefined {
    return this.#socket.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.#socket.remotePort;
  }
  get remoteFamily(): string | undefined {
    return this.#socket.remoteFamily;
  }
  get localAddress(): string | undefined {
    return this.#socket.localAddress;
  }
  get localPort(): number | undefined {
    return this.#socket.localPort;
  }
}
