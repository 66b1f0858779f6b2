/**
 * Messages over a byte stream, for the mesh's plain-TCP transport (`Runtime.listenTcp`/`dialTcp`): what a
 * WebSocket gives the mesh (whole binary messages, a close code and reason) with the least framing.
 *
 * The stream is a sequence of records, each starting with a 32-bit big-endian header:
 * - below 2^31: a message of that many bytes follows;
 * - `CLOSE_MARK` (0xFFFFFFFF): the sender is closing; a u16 close code, a u16 reason length and the reason (UTF-8,
 *   at most 123 bytes, as on a WebSocket) follow, and the sender ends the stream after it.
 * Any other header is a protocol error (the connection closes with 1002, sent as 4002). A header announcing more
 * than the receiver's `maxMessageBytes` closes the connection with 1009 (sent as 4009) before a byte of the body is
 * buffered. A stream that ends without a close record closes with 1006, as a WebSocket that drops does.
 *
 * Each adapter supplies a `StreamDriver` (write bytes in order, end the stream) and feeds what it reads to
 * `FramedStream.data`; everything else is here, so the three runtimes frame identically.
 */
import { BufferedSocket, trimReason } from "./_socket.ts";

export const CLOSE_MARK = 0xffffffff;
/** Headers at or above this (other than `CLOSE_MARK`) are not valid. */
const MESSAGE_LIMIT = 0x80000000;
const HEADER_BYTES = 4;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A message with its header, in one buffer (one write). */
export function messageRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + data.byteLength);
  const n = data.byteLength;
  out[0] = n >>> 24;
  out[1] = (n >>> 16) & 0xff;
  out[2] = (n >>> 8) & 0xff;
  out[3] = n & 0xff;
  out.set(data, HEADER_BYTES);
  return out;
}

/** The record that closes a stream with `code` and `reason` (cut to 123 bytes). */
export function closeRecord(code: number, reason: string): Uint8Array {
  const why = encoder.encode(trimReason(reason));
  const out = new Uint8Array(HEADER_BYTES + 4 + why.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, CLOSE_MARK);
  view.setUint16(4, code & 0xffff);
  view.setUint16(6, why.length);
  out.set(why, 8);
  return out;
}

/** What an adapter does with its connection. */
export interface StreamDriver {
  /** Writes bytes after everything written before (the adapter queues what the OS does not take at once). */
  write(bytes: Uint8Array): void;
  /** Ends the stream once what was written has been sent, then releases the connection. */
  end(): void;
  /** Bytes written and not yet handed to the operating system. */
  bufferedAmount(): number;
}

/** The reading side of one connection: feeds records to its socket. */
export class FramedStream {
  readonly socket: BufferedSocket;
  #driver: StreamDriver;
  #max: number;
  /** The start of an unfinished record, gathered across reads until `#need` bytes are there (one copy at the end). */
  #waiting: Uint8Array[] = [];
  #waitingBytes = 0;
  #need = 0;
  #done = false;

  constructor(remote: string, driver: StreamDriver, maxMessageBytes: number) {
    this.#driver = driver;
    this.#max = maxMessageBytes;
    this.socket = new BufferedSocket(
      remote,
      {
        send: (data) => driver.write(messageRecord(data)),
        close: (code, reason) => {
          this.#done = true;
          driver.write(closeRecord(code, reason));
          driver.end();
        },
        bufferedAmount: () => driver.bufferedAmount(),
      },
      maxMessageBytes,
    );
  }

  /**
   * Bytes read from the connection. `owned`: the adapter will not reuse `chunk`, so messages may be views into
   * it (no copy); otherwise each message is copied out before this returns.
   */
  data(chunk: Uint8Array, owned: boolean): void {
    if (this.#done) return;
    let bytes = chunk;
    let viewable = owned;
    if (this.#waitingBytes > 0) {
      this.#waiting.push(owned ? chunk : chunk.slice());
      this.#waitingBytes += chunk.length;
      if (this.#waitingBytes < this.#need) return;
      bytes = concat(this.#waiting, this.#waitingBytes);
      viewable = true;
      this.#waiting = [];
      this.#waitingBytes = 0;
    }
    let at = 0;
    while (!this.#done && bytes.length - at >= HEADER_BYTES) {
      const header = ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
      if (header === CLOSE_MARK) {
        if (bytes.length - at < 8) break;
        const whyBytes = (bytes[at + 6]! << 8) | bytes[at + 7]!;
        if (bytes.length - at < 8 + whyBytes) break;
        const code = (bytes[at + 4]! << 8) | bytes[at + 5]!;
        const reason = decoder.decode(bytes.subarray(at + 8, at + 8 + whyBytes));
        this.#done = true;
        this.socket._closed(code, reason);
        this.#driver.end();
        return;
      }
      if (header >= MESSAGE_LIMIT) {
        this.socket.close(1002, `Invalid record header 0x${header.toString(16)}`);
        return;
      }
      if (header > this.#max) {
        this.socket.close(1009, `Message of ${header} bytes exceeds maxMessageBytes ${this.#max}`);
        return;
      }
      const end = at + HEADER_BYTES + header;
      if (end > bytes.length) break;
      const body = bytes.subarray(at + HEADER_BYTES, end);
      at = end;
      this.socket._message(viewable ? body : body.slice());
    }
    if (this.#done || at === bytes.length) return;
    const rest = bytes.subarray(at);
    this.#waiting = [viewable ? rest : rest.slice()];
    this.#waitingBytes = rest.length;
    this.#need = recordBytes(rest);
  }

  /** The connection ended or failed (after any close record, this changes nothing). */
  ended(reason = ""): void {
    this.#done = true;
    this.#waiting = [];
    this.#waitingBytes = 0;
    this.socket._closed(1006, reason);
  }
}

/** How many bytes the record starting `head` takes, as far as its first bytes tell (at least one more than now). */
function recordBytes(head: Uint8Array): number {
  if (head.length < HEADER_BYTES) return HEADER_BYTES;
  const header = ((head[0]! << 24) | (head[1]! << 16) | (head[2]! << 8) | head[3]!) >>> 0;
  if (header !== CLOSE_MARK) return HEADER_BYTES + header;
  return head.length < 8 ? 8 : 8 + ((head[6]! << 8) | head[7]!);
}

/** `parts` in one buffer; `bytes` is their total length when the caller knows it. */
export function concat(parts: Uint8Array[], bytes = parts.reduce((n, p) => n + p.length, 0)): Uint8Array {
  const out = new Uint8Array(bytes);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
