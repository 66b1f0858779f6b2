/**
 * The numbers that are on the disk: magic numbers, format versions, record and block types.
 *
 * Every table here is append only. A number, once written to a file, must keep its meaning forever; a new
 * kind of record gets a new number and an old reader rejects it with a CORRUPTION error rather than guessing.
 * The layouts follow LevelDB's log and table formats (doc/log_format.md, doc/table_format.md) with fewer
 * moving parts: whole-record frames instead of 32 KiB log blocks, and one bloom filter per table.
 */

/** Write-ahead log segment: a 16-byte header, then frames `len u32 | masked crc32c u32 | payload`. */
export const WAL_MAGIC = 0x4c4b534d; // "MSKL" little-endian
export const WAL_FORMAT_VERSION = 1;
export const WAL_HEADER_BYTES = 16;
export const WAL_FRAME_HEADER_BYTES = 8;

/** append only: the numbers are on the disk. The first payload byte of a log record. */
export const WAL_RECORD = {
  batch: 1,
  dropPartition: 2,
} as const;

/** append only: the numbers are on the disk. Bits of the flags byte of a table entry. */
export const ENTRY_FLAG = {
  tombstone: 1,
  expires: 2,
  meta: 4,
} as const;

/** Table file: data blocks, filter block, properties block, index block, then a fixed footer. */
export const TABLE_MAGIC_LO = 0x5453534d; // "MSST"
export const TABLE_MAGIC_HI = 0x31305642; // "BV01"
export const TABLE_FORMAT_VERSION = 1;
/** index off u64, size u32, filter off u64, size u32, props off u64, size u32, version u32, crc u32, magic u64. */
export const FOOTER_BYTES = 52;
/** Every block is followed by `compression u8 | masked crc32c u32` over the stored bytes and that byte. */
export const BLOCK_TRAILER_BYTES = 5;

/** append only: the numbers are on the disk. How a block's bytes are stored. */
export const COMPRESSION = {
  none: 0,
  deflate: 1,
} as const;

/** Manifest: `magic u64 | version u32 | body length u32 | masked crc32c u32 | body (JSON, UTF-8)`. */
export const MANIFEST_MAGIC_LO = 0x464e4d4d; // "MMNF"
export const MANIFEST_MAGIC_HI = 0x31305453; // "ST01"
export const MANIFEST_FORMAT_VERSION = 1;
export const MANIFEST_HEADER_BYTES = 20;

export const MANIFEST_NAME = "MANIFEST";
export const MANIFEST_TEMP_NAME = "MANIFEST.tmp";
export const LOCK_NAME = "LOCK";

export function tableName(number: number): string {
  return `${String(number).padStart(6, "0")}.sst`;
}

export function logName(number: number): string {
  return `${String(number).padStart(6, "0")}.log`;
}

/** Parses `000012.sst` or `000012.log`; null for other names. */
export function parseFileName(name: string): { number: number; kind: "table" | "log" } | null {
  const m = /^(\d{6,})\.(sst|log)$/.exec(name);
  if (!m) return null;
  return { number: Number(m[1]), kind: m[2] === "sst" ? "table" : "log" };
}
