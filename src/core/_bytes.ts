/**
 * Small byte helpers for the core's hand-rolled formats: a growable writer, a bounds-checked reader,
 * unsigned LEB128 varints (as in protobuf, up to 2^53 - 1 so every JavaScript safe integer round-trips),
 * strict base64url without padding (RFC 4648 section 5), and the one equality and one ordering of byte
 * strings that every layer above uses (storage, mesh and cluster import them from here).
 *
 * The reader never reads past its input: a short or malformed input throws `FormatError`, which each caller
 * turns into its own `MeshkvError` code (`CORRUPTION` for disk and wire bytes, `BAD_CONTEXT` for tokens).
 */

/** Thrown by `ByteReader` and `fromBase64Url`; callers translate it. */
export class FormatError extends Error {
  override readonly name = "FormatError" as const;
}

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** Bytes in one slab `copyBytes` carves its copies from. */
export const SLAB_BYTES = 32 * 1024;
/** Copies up to this many bytes come from a slab; longer ones (and 64 bytes or less) get an array of their own. */
export const SLAB_COPY_MAX = 2 * 1024;
/** Typed arrays up to this many bytes live on V8's heap: allocating one costs no backing store. */
const ON_HEAP_MAX = 64;

/**
 * Zeroed byte arrays carved out of shared slabs. On V8 (Node and Deno) every `ArrayBuffer` over 64 bytes is a
 * `malloc` with zeroing and external-memory bookkeeping: 1 to 3 µs each on the benchmark machine, against a
 * tenth of that for a view into a slab (docs/bench.md, "The floor", has the numbers; Bun's allocator is cheap
 * either way). So arrays of 65 bytes to `max` are views into slabs of `slabBytes`, never reused (a slab is freed
 * when its last array is), the way Node's `Buffer` pool works. Such an array's `.buffer` is the slab: code that
 * needs the bytes goes by `byteOffset` and `byteLength`, never by the whole `.buffer`; and an array kept for long
 * keeps its slab alive, so long-lived bytes (the memtable, the block cache) are not made this way.
 */
export class Slabs {
  #slab = new ArrayBuffer(0);
  #used = 0;
  readonly slabBytes: number;
  readonly max: number;
  constructor(slabBytes: number, max: number) {
    this.slabBytes = slabBytes;
    this.max = max;
  }

  /** `n` zeroed bytes the caller owns. */
  alloc(n: number): Uint8Array {
    if (n <= ON_HEAP_MAX || n > this.max) return new Uint8Array(n);
    if (this.#used + n > this.#slab.byteLength) {
      this.#slab = new ArrayBuffer(this.slabBytes);
      this.#used = 0;
    }
    const out = new Uint8Array(this.#slab, this.#used, n);
    this.#used += (n + 7) & ~7; // 8-byte aligned, as an allocator would
    return out;
  }
}

/** The slabs of the hot paths' small copies (entries, value records, encodings, mesh frames). */
const small = new Slabs(SLAB_BYTES, SLAB_COPY_MAX);

/** A copy of `src[start, end)` the caller owns, from a slab (see `Slabs`). */
export function copyBytes(src: Uint8Array, start = 0, end = src.length): Uint8Array {
  const out = small.alloc(end - start);
  out.set(src.subarray(start, end));
  return out;
}

/** `n` zeroed bytes the caller owns, from a slab (see `Slabs`). */
export function allocBytes(n: number): Uint8Array {
  return small.alloc(n);
}

// One shared scratch buffer for writers: a writer borrows this one and makes only the exact result in
// `finish()`. A writer created while another holds it (never the case today; encoders are synchronous and not
// nested) gets a buffer of its own.
let shared: Uint8Array | null = new Uint8Array(4096);
const EMPTY = new Uint8Array(0);

export class ByteWriter {
  #buf: Uint8Array;
  #len = 0;

  constructor() {
    this.#buf = shared ?? new Uint8Array(256);
    shared = null;
  }

  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + n));
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  u8(v: number): void {
    this.#room(1);
    this.#buf[this.#len++] = v;
  }

  u32(v: number): void {
    this.#room(4);
    this.#buf[this.#len++] = v >>> 24;
    this.#buf[this.#len++] = (v >>> 16) & 0xff;
    this.#buf[this.#len++] = (v >>> 8) & 0xff;
    this.#buf[this.#len++] = v & 0xff;
  }

  /** An unsigned LEB128 varint; `v` must be a safe non-negative integer. */
  varint(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`Varint out of range: ${v}`);
    this.#room(8);
    while (v >= 0x80) {
      this.#buf[this.#len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.#buf[this.#len++] = v;
  }

  bytes(data: Uint8Array): void {
    this.varint(data.length);
    this.#room(data.length);
    this.#buf.set(data, this.#len);
    this.#len += data.length;
  }

  string(text: string): void {
    const n = text.length;
    if (n < 0x80) {
      // ASCII (node ids, keys of the usual kind) byte by byte: no view for `encodeInto` to write into.
      this.#room(n + 1);
      const b = this.#buf;
      const at = this.#len + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = text.charCodeAt(i);
        if (c >= 0x80) break;
        b[at + i] = c;
      }
      if (i === n) {
        b[at - 1] = n;
        this.#len = at + n;
        return;
      }
    }
    // Reserve the worst case, write in place, then fill in the length (one byte when under 128 bytes).
    this.#room(text.length * 3 + 8);
    const start = this.#len;
    const small = text.length * 3 < 0x80;
    const at = start + (small ? 1 : 0);
    if (small) {
      const { written } = encoder.encodeInto(text, this.#buf.subarray(at));
      this.#buf[start] = written;
      this.#len = at + written;
    } else {
      this.bytes(encoder.encode(text));
    }
  }

  /** The bytes written, as a new array; the writer must not be used afterwards. */
  finish(): Uint8Array {
    const out = copyBytes(this.#buf, 0, this.#len);
    // Return the buffer for the next writer, unless it grew very large (keep the shared one small).
    if (this.#buf.length <= 1 << 20) shared = this.#buf;
    this.#buf = EMPTY;
    this.#len = 0;
    return out;
  }
}

export class ByteReader {
  readonly #buf: Uint8Array;
  #pos = 0;

  constructor(buf: Uint8Array) {
    this.#buf = buf;
  }

  get offset(): number {
    return this.#pos;
  }

  get done(): boolean {
    return this.#pos === this.#buf.length;
  }

  u8(): number {
    if (this.#pos >= this.#buf.length) throw new FormatError(`Unexpected end of input at offset ${this.#pos}`);
    return this.#buf[this.#pos++]!;
  }

  u32(): number {
    return ((this.u8() << 24) | (this.u8() << 16) | (this.u8() << 8) | this.u8()) >>> 0;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        // A trailing zero byte would give one number two encodings; reject it to keep formats canonical.
        if (b === 0 && i > 0) throw new FormatError(`Non-canonical varint at offset ${this.#pos - 1}`);
        if (!Number.isSafeInteger(value)) throw new FormatError(`Varint too large at offset ${this.#pos}`);
        return value;
      }
      scale *= 0x80;
    }
    throw new FormatError(`Varint too long at offset ${this.#pos}`);
  }

  /** Reads a length-prefixed run of at most `max` bytes and returns where it starts (the reader is past it). */
  #span(max: number): number {
    const n = this.varint();
    if (n > max) throw new FormatError(`Length ${n} over the limit ${max} at offset ${this.#pos}`);
    const start = this.#pos;
    if (start + n > this.#buf.length) throw new FormatError(`Unexpected end of input at offset ${start}`);
    this.#pos += n;
    return start;
  }

  bytes(max: number): Uint8Array {
    const start = this.#span(max);
    return this.#buf.subarray(start, this.#pos);
  }

  string(maxBytes: number): string {
    const at = this.#pos;
    const start = this.#span(maxBytes);
    const n = this.#pos - start;
    if (n <= INTERN_BYTES_MAX) {
      const known = interned(this.#buf, start, n);
      if (known !== null) return known;
    }
    let text: string;
    try {
      text = decoder.decode(this.#buf.subarray(start, start + n));
    } catch {
      throw new FormatError(`Invalid UTF-8 at offset ${at}`);
    }
    if (n <= INTERN_BYTES_MAX) intern(this.#buf, start, n, text);
    return text;
  }
}

/**
 * Short strings decoded lately (node ids above all: every stored set and context names the same few), so reading
 * one again costs a comparison, not a view, a decode and a new string. `INTERN_SLOTS` slots picked by length and
 * the first and last byte; a slot holds the latest string that hashed there.
 */
const INTERN_BYTES_MAX = 64;
const INTERN_SLOTS = 64;
const internBytes: (Uint8Array | null)[] = new Array(INTERN_SLOTS).fill(null);
const internText: string[] = new Array(INTERN_SLOTS).fill("");

function internSlot(buf: Uint8Array, start: number, n: number): number {
  return n === 0 ? 0 : (n * 31 + buf[start]! * 7 + buf[start + n - 1]!) & (INTERN_SLOTS - 1);
}

function interned(buf: Uint8Array, start: number, n: number): string | null {
  const slot = internSlot(buf, start, n);
  const b = internBytes[slot];
  if (b === null || b === undefined || b.length !== n) return null;
  for (let i = 0; i < n; i++) if (b[i] !== buf[start + i]) return null;
  return internText[slot]!;
}

function intern(buf: Uint8Array, start: number, n: number, text: string): void {
  const slot = internSlot(buf, start, n);
  internBytes[slot] = buf.slice(start, start + n);
  internText[slot] = text;
}

/** True when both hold the same bytes. Not constant-time: never use it to check a secret (see `mesh/auth.ts`). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lexicographic order of byte strings (a prefix sorts first): negative, zero or positive. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  if (a === b) return 0;
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Lowercase hexadecimal, two digits a byte. */
/** Orders keys as the engine does: by their UTF-8 bytes (not by UTF-16 code units, as `<` would). */
export function compareUtf8(a: string, b: string): number {
  return compareBytes(encoder.encode(a), encoder.encode(b));
}

export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += bytes[i]!.toString(16).padStart(2, "0");
  return s;
}

/** The bytes of even-length lowercase or uppercase hexadecimal (the inverse of `toHex`). */
export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >>> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const LOOKUP = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;
const CODES = new TextEncoder().encode(ALPHABET);
const b64Scratch = new Uint8Array(1024);

/** base64url without padding. */
export function toBase64Url(bytes: Uint8Array): string {
  // The characters' codes go into one array and become one string: concatenating four characters at a time made
  // a few short strings per three bytes (every read and write answer carries a context token).
  const len = Math.ceil((bytes.length * 4) / 3);
  const out = len <= b64Scratch.length ? b64Scratch : new Uint8Array(len);
  let i = 0;
  let o = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = CODES[n >>> 18]!;
    out[o++] = CODES[(n >>> 12) & 63]!;
    out[o++] = CODES[(n >>> 6) & 63]!;
    out[o++] = CODES[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out[o++] = CODES[n >>> 18]!;
    out[o++] = CODES[(n >>> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out[o++] = CODES[n >>> 18]!;
    out[o++] = CODES[(n >>> 12) & 63]!;
    out[o++] = CODES[(n >>> 6) & 63]!;
  }
  return decoder.decode(out.subarray(0, o));
}

/** Strict base64url: only the URL-safe alphabet, no padding, and unused trailing bits must be zero. */
export function fromBase64Url(text: string): Uint8Array {
  if (text.length % 4 === 1) throw new FormatError("Impossible base64url length");
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? LOOKUP[c]! : -1;
    if (v < 0) throw new FormatError(`Character outside base64url at position ${i}`);
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) throw new FormatError("Non-zero trailing bits in base64url");
  return out;
}
