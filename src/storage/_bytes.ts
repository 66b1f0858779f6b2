/**
 * Byte helpers for the storage formats: range comparison, varints, fixed-width integers and internal keys.
 *
 * Everything here works on `Uint8Array` views with explicit offsets so hot paths (memtable inserts, block
 * searches, merges) compare and decode without allocating. Varints are LevelDB's base-128 little-endian
 * encoding, limited to 2^53 so they round-trip through JavaScript numbers. Equality, order and hex of whole
 * arrays are the ones every layer shares, in `core/_bytes.ts`.
 */

export const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Lexicographic comparison of two byte ranges: negative, zero or positive. */
export function compareRange(
  a: Uint8Array,
  aStart: number,
  aEnd: number,
  b: Uint8Array,
  bStart: number,
  bEnd: number,
): number {
  const aLen = aEnd - aStart;
  const bLen = bEnd - bStart;
  const n = aLen < bLen ? aLen : bLen;
  for (let i = 0; i < n; i++) {
    const d = a[aStart + i]! - b[bStart + i]!;
    if (d !== 0) return d;
  }
  return aLen - bLen;
}

/** Ranges up to this long are copied byte by byte: cheaper than the view `set` needs, and nothing to collect. */
const COPY_LOOP_BYTES_MAX = 48;

/** Copies `src[start, end)` to `dst` at `at`, without allocating a view for short ranges (keys). */
export function copyRange(dst: Uint8Array, at: number, src: Uint8Array, start: number, end: number): void {
  const n = end - start;
  if (n > COPY_LOOP_BYTES_MAX) {
    dst.set(src.subarray(start, end), at);
    return;
  }
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    dst[at + i] = src[start + i]!;
    dst[at + i + 1] = src[start + i + 1]!;
    dst[at + i + 2] = src[start + i + 2]!;
    dst[at + i + 3] = src[start + i + 3]!;
  }
  for (; i < n; i++) dst[at + i] = src[start + i]!;
}

/**
 * The key's first six bytes (fewer when it is shorter, as if padded with zeros) as a number below 2^48.
 * Prefixes order like the keys they come from, except that different keys may share one: comparing two
 * prefixes is a subtraction, and only equal prefixes need the bytes compared.
 */
export function keyPrefix(buf: Uint8Array, start: number, end: number): number {
  if (end - start >= 6) {
    return (buf[start]! * 0x10000 + buf[start + 1]! * 0x100 + buf[start + 2]!) * 0x1000000 +
      ((buf[start + 3]! << 16) | (buf[start + 4]! << 8) | buf[start + 5]!);
  }
  let p = 0;
  for (let i = 0; i < 6; i++) p = p * 256 + (start + i < end ? buf[start + i]! : 0);
  return p;
}

/** True when `bytes` starts with `prefix`. */
export function hasPrefix(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/** The smallest byte string greater than every string with this prefix, or null when there is none. */
export function prefixEnd(prefix: Uint8Array): Uint8Array | null {
  const out = prefix.slice();
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! < 0xff) {
      out[i]!++;
      return out.subarray(0, i + 1);
    }
  }
  return null;
}

export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Writes `n` (0 <= n < 2^53) as a varint at `offset`; returns the offset after it. */
export function writeVarint(buf: Uint8Array, offset: number, n: number): number {
  while (n >= 0x80) {
    buf[offset++] = (n & 0x7f) | 0x80;
    n = n >= 0x80000000 ? Math.floor(n / 128) : n >>> 7;
  }
  buf[offset++] = n;
  return offset;
}

/**
 * Reads a varint at `cursor.pos`, advancing it. Returns -1 when the bytes end first or the value is longer
 * than 8 bytes (callers turn that into a CORRUPTION error with the file and offset).
 */
export function readVarint(buf: Uint8Array, cursor: { pos: number }, end: number): number {
  let pos = cursor.pos;
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 8; i++) {
    if (pos >= end) return -1;
    const b = buf[pos++]!;
    result += (b & 0x7f) * mul;
    if (b < 0x80) {
      cursor.pos = pos;
      return result;
    }
    mul *= 128;
  }
  return -1;
}

export function writeU32(buf: Uint8Array, offset: number, n: number): void {
  buf[offset] = n & 0xff;
  buf[offset + 1] = (n >>> 8) & 0xff;
  buf[offset + 2] = (n >>> 16) & 0xff;
  buf[offset + 3] = (n >>> 24) & 0xff;
}

export function readU32(buf: Uint8Array, offset: number): number {
  return (buf[offset]! | (buf[offset + 1]! << 8) | (buf[offset + 2]! << 16) | (buf[offset + 3]! << 24)) >>> 0;
}

/** Writes a non-negative integer below 2^53 as 8 little-endian bytes. */
export function writeU64(buf: Uint8Array, offset: number, n: number): void {
  writeU32(buf, offset, n >>> 0);
  writeU32(buf, offset + 4, Math.floor(n / 4294967296));
}

export function readU64(buf: Uint8Array, offset: number): number {
  return readU32(buf, offset) + readU32(buf, offset + 4) * 4294967296;
}

// ---------------------------------------------------------------------------------------------------------
// Internal keys: a big-endian u16 partition number, then the user's key bytes. Sorting internal keys sorts
// by partition first, so one partition is one contiguous key range: iterating, streaming and dropping it
// touch only that range.

export const PARTITION_BYTES = 2;

export function internalKey(partition: number, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(PARTITION_BYTES + key.length);
  out[0] = partition >>> 8;
  out[1] = partition & 0xff;
  out.set(key, PARTITION_BYTES);
  return out;
}

export function partitionOf(ikey: Uint8Array): number {
  return (ikey[0]! << 8) | ikey[1]!;
}

/** The first internal key of a partition (an empty user key). */
export function partitionStart(partition: number): Uint8Array {
  return new Uint8Array([partition >>> 8, partition & 0xff]);
}
