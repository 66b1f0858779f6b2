/**
 * CRC32C (Castagnoli), the checksum on every write-ahead log record, table block, footer and manifest.
 *
 * LevelDB and RocksDB use CRC32C for the same job; it detects all burst errors up to 32 bits and is what
 * hardware (SSE 4.2) computes, so formats stay compatible with native tools. This is the pure-TypeScript
 * table-driven version with slicing-by-8 (Intel, Kounavis and Berry 2005): eight lookups per eight input
 * bytes, which runs at several hundred MB/s in V8 and JavaScriptCore without allocating.
 */

const POLY = 0x82f63b78; // reflected Castagnoli polynomial

function makeTables(): Int32Array {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
}

const T = makeTables();

/** Continues a CRC32C over `data[start, end)`; pass the previous result as `crc` (0 to start). */
export function crc32cUpdate(crc: number, data: Uint8Array, start = 0, end = data.length): number {
  let c = ~crc;
  let i = start;
  const t = T;
  const fast = end - ((end - i) & 7);
  while (i < fast) {
    const a = (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) ^ c;
    const b = data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24);
    c = t[1792 + (a & 0xff)]! ^ t[1536 + ((a >>> 8) & 0xff)]! ^ t[1280 + ((a >>> 16) & 0xff)]! ^
      t[1024 + (a >>> 24)]! ^ t[768 + (b & 0xff)]! ^ t[512 + ((b >>> 8) & 0xff)]! ^
      t[256 + ((b >>> 16) & 0xff)]! ^ t[b >>> 24]!;
    i += 8;
  }
  while (i < end) c = t[(c ^ data[i++]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** The CRC32C of `data[start, end)`, as an unsigned 32-bit number. */
export function crc32c(data: Uint8Array, start = 0, end = data.length): number {
  return crc32cUpdate(0, data, start, end);
}

/**
 * Masks a CRC before storing it, as LevelDB does, so that the CRC of bytes that themselves contain CRCs
 * (a block holding a log record, say) is not trivially related to them.
 */
export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}
