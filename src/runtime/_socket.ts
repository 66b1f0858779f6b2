/**
 * The part of a `PeerSocket` every adapter shares: buffering of messages and the close event until the owner
 * attaches handlers, so nothing is lost between accept and setup, and a single close notification.
 */
import { MeshkvError } from "../errors.ts";
import type { PeerSocket, SocketHandlers } from "./types.ts";

export interface SocketDriver {
  send(data: Uint8Array): void;
  close(code: number, reason: string): void;
  bufferedAmount(): number;
}

export class BufferedSocket implements PeerSocket {
  readonly remote: string;
  #driver: SocketDriver;
  #handlers: SocketHandlers | null = null;
  #early: Uint8Array[] = [];
  #closed: { code: number; reason: string } | null = null;
  #closeDelivered = false;
  #maxMessageBytes: number;

  constructor(remote: string, driver: SocketDriver, maxMessageBytes: number) {
    this.remote = remote;
    this.#driver = driver;
    this.#maxMessageBytes = maxMessageBytes;
  }

  get bufferedAmount(): number {
    return this.#closed ? 0 : this.#driver.bufferedAmount();
  }

  get isOpen(): boolean {
    return this.#closed === null;
  }

  send(data: Uint8Array): void {
    if (this.#closed) {
      throw new MeshkvError("CONNECTION_CLOSED", `Socket is closed: ${this.remote}`, {
        details: { remote: this.remote },
      });
    }
    this.#driver.send(data);
  }

  close(code = 1000, reason = ""): void {
    if (this.#closed) return;
    const wire = wireCloseCode(code);
    const why = trimReason(reason);
    try {
      this.#driver.close(wire, why);
    } catch {
      // The connection is already gone underneath us; it is closed either way.
    }
    this._closed(wire, why);
  }

  setHandlers(handlers: SocketHandlers): void {
    this.#handlers = handlers;
    const early = this.#early;
    this.#early = [];
    for (const m of early) handlers.message(m);
    if (this.#closed && !this.#closeDelivered) {
      this.#closeDelivered = true;
      handlers.close(this.#closed.code, this.#closed.reason);
    }
  }

  /** Adapters call this for each incoming message. */
  _message(data: Uint8Array): void {
    if (this.#closed) return;
    if (data.byteLength > this.#maxMessageBytes) {
      this.close(1009, `Message of ${data.byteLength} bytes exceeds maxMessageBytes ${this.#maxMessageBytes}`);
      return;
    }
    if (this.#handlers) this.#handlers.message(data);
    else this.#early.push(data);
  }

  /** Ends this side without telling its owner (the owner went down with it, as in a simulated crash). */
  _vanish(code: number, reason: string): void {
    this.#closed ??= { code, reason };
    this.#closeDelivered = true;
  }

  /** Adapters call this when the connection ends, whoever ended it. */
  _closed(code: number, reason: string): void {
    if (!this.#closed) this.#closed = { code, reason };
    if (this.#handlers && !this.#closeDelivered) {
      this.#closeDelivered = true;
      this.#handlers.close(this.#closed.code, this.#closed.reason);
    }
  }
}

/**
 * The close code that goes on the wire. Web-standard WebSockets (Deno's and Bun's client, Deno's server side)
 * throw on codes other than 1000 and 3000-4999, so every adapter sends protocol codes such as 1008 or 1009 as
 * 4000 + (code % 1000), identically on every runtime.
 */
export function wireCloseCode(code: number): number {
  if (code === 1000 || (code >= 3000 && code <= 4999)) return code;
  return 4000 + (Math.abs(Math.trunc(code)) % 1000);
}

/** Close reasons are limited to 123 UTF-8 bytes by the protocol; longer ones are cut, not thrown on. */
export function trimReason(reason: string): string {
  const bytes = new TextEncoder().encode(reason);
  if (bytes.length <= 123) return reason;
  return new TextDecoder().decode(bytes.subarray(0, 120)).replace(/\uFFFD$/, "") + "...";
}

/** Turns whatever a runtime's WebSocket delivered into bytes. Text frames become their UTF-8 bytes. */
export function toBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (typeof data === "string") return new TextEncoder().encode(data);
  if (Array.isArray(data)) {
    const parts = data.map(toBytes);
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
  throw new TypeError("Unsupported WebSocket message type");
}
