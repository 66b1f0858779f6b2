/**
 * Bloom filters (Bloom 1970), one per table, so a point read skips tables that cannot hold its key.
 *
 * LevelDB's scheme: one 32-bit hash per key and double hashing (Kirsch and Mitzenmacher 2006) to derive the
 * `k` probe positions, with `k = bitsPerKey * ln 2`. Ten bits per key gives about 0.8% false positives.
 * Layout: the bit array, then one byte holding `k` (so a reader works whatever the writer chose).
 */

/** LevelDB's `Hash` (a Murmur-like hash), over `data[start, end)`. */
export function bloomHash(data: Uint8Array, start: number, end: number): number {
  const m = 0xc6a4a793;
  let h = (0xbc9f1d34 ^ Math.imul(end - start, m)) >>> 0;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const w = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    h = (h + w) >>> 0;
    h = Math.imul(h, m) >>> 0;
    h ^= h >>> 16;
  }
  const rest = end - i;
  if (rest === 3) h = (h + (data[i + 2]! << 16)) >>> 0;
  if (rest >= 2) h = (h + (data[i + 1]! << 8)) >>> 0;
  if (rest >= 1) {
    h = (h + data[i]!) >>> 0;
    h = Math.imul(h, m) >>> 0;
    h ^= h >>> 24;
  }
  return h >>> 0;
}

/** Builds a filter from the keys' hashes. */
export function buildBloom(hashes: Uint32Array, count: number, bitsPerKey: number): Uint8Array {
  const k = Math.min(30, Math.max(1, Math.round(bitsPerKey * 0.69)));
  const bits = Math.max(64, count * bitsPerKey);
  const bytes = (bits + 7) >>> 3;
  const nbits = bytes * 8;
  const out = new Uint8Array(bytes + 1);
  out[bytes] = k;
  for (let i = 0; i < count; i++) {
    let h = hashes[i]!;
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    for (let j = 0; j < k; j++) {
      const pos = h % nbits;
      out[pos >>> 3]! |= 1 << (pos & 7);
      h = (h + delta) >>> 0;
    }
  }
  return out;
}

/** False when the key is certainly absent; true when it may be present. */
export function bloomMayContain(filter: Uint8Array, hash: number): boolean {
  const bytes = filter.length - 1;
  if (bytes <= 0) return true;
  const k = filter[bytes]!;
  if (k > 30) return true; // a future encoding: do not filter
  const nbits = bytes * 8;
  let h = hash;
  const delta = ((h >>> 17) | (h << 15)) >>> 0;
  for (let j = 0; j < k; j++) {
    const pos = h % nbits;
    if ((filter[pos >>> 3]! & (1 << (pos & 7))) === 0) return false;
    h = (h + delta) >>> 0;
  }
  return true;
}
