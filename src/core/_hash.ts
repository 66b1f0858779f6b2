/**
 * The stable hash behind partitioning, hash-tree segments and context checksums.
 *
 * MurmurHash3, x86 32-bit variant (Austin Appleby, 2011; the reference is `MurmurHash3_x86_32` in SMHasher),
 * over the UTF-8 bytes of a string. It was picked because it is small, fast in JavaScript (only `Math.imul`
 * and shifts, no BigInt), passes SMHasher's avalanche and distribution tests, and has published test
 * vectors, so every runtime and any future port computes the same numbers. These numbers decide where keys
 * live on disk and on the wire: changing the function or the encoding is a format change.
 *
 * Strings are encoded as UTF-8 with the WHATWG `TextEncoder` rules: a lone surrogate becomes U+FFFD.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

const encoder = new TextEncoder();
// A reusable scratch buffer so hashing a key does not allocate; grown when a longer string arrives. Module
// state, but it never leaks between calls: every use writes before it reads.
let scratch = new Uint8Array(1024);

function mixK(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

/** MurmurHash3 x86_32 of `bytes[0..length)` with `seed`, as an unsigned 32-bit integer. */
export function murmur3(bytes: Uint8Array, seed = 0, length = bytes.length): number {
  let h = seed >>> 0;
  const blocks = length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    const k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    h ^= mixK(k);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = length & 3;
  if (tail > 0) {
    let k = 0;
    if (tail === 3) k ^= bytes[blocks + 2]! << 16;
    if (tail >= 2) k ^= bytes[blocks + 1]! << 8;
    k ^= bytes[blocks]!;
    h ^= mixK(k);
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Encodes `text` as UTF-8 into the shared scratch buffer and returns the byte count. */
export function utf8Scratch(text: string, reserve = 0): { bytes: Uint8Array; length: number } {
  const worst = text.length * 3 + reserve;
  if (scratch.length < worst) scratch = new Uint8Array(Math.max(worst, scratch.length * 2));
  const { written } = encoder.encodeInto(text, scratch);
  return { bytes: scratch, length: written };
}

/** MurmurHash3 x86_32 of the UTF-8 bytes of `text`. */
export function hashString(text: string, seed = 0): number {
  const { bytes, length } = utf8Scratch(text);
  return murmur3(bytes, seed, length);
}

/** UTF-8 bytes of `text` (a fresh array). */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}
