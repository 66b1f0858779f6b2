/**
 * The record: one stored version of one key, and its encoding (shared by log batches and table blocks).
 *
 * A `Rec` does not own bytes: it points into a buffer (a log batch, the memtable's arena, a table block) by
 * offsets. The memtable keeps its arena and one small `Rec` per entry instead of three `Uint8Array` views, and a
 * block cursor re-points one `Rec` as it walks, so scans and merges allocate nothing per entry.
 *
 * Encoding (LevelDB's varint style): `varint ikeyLen | ikey | [varint seq] | flags u8 | [expiresAt u64] |
 * [varint metaLen | meta] | varint valueLen | value`. The sequence number is present in table entries and
 * absent in log batches, where it is the batch's base plus the operation's index.
 */
import { compareRange, copyRange, readU64, readVarint, varintSize, writeU64, writeVarint } from "./_bytes.ts";
import { ENTRY_FLAG } from "./_format.ts";

export class Rec {
  buf: Uint8Array = new Uint8Array(0);
  keyStart = 0;
  keyEnd = 0;
  seq = 0;
  flags = 0;
  /** Milliseconds since the epoch; 0 means no expiry. */
  expiresAt = 0;
  metaStart = 0;
  metaEnd = 0;
  valueStart = 0;
  valueEnd = 0;
  /**
   * Where the record's table entry starts in `buf` when its bytes are one (decoded from a table block: key
   * length through value, sequence number included), so a table writer can copy the entry whole; -1 when
   * they are not (log entries, records moved or changed since they were decoded).
   */
  entryStart = -1;

  get tombstone(): boolean {
    return (this.flags & ENTRY_FLAG.tombstone) !== 0;
  }

  key(): Uint8Array {
    return this.buf.subarray(this.keyStart, this.keyEnd);
  }

  meta(): Uint8Array {
    return this.buf.subarray(this.metaStart, this.metaEnd);
  }

  value(): Uint8Array {
    return this.buf.subarray(this.valueStart, this.valueEnd);
  }

  copyFrom(o: Rec): this {
    this.buf = o.buf;
    this.keyStart = o.keyStart;
    this.keyEnd = o.keyEnd;
    this.seq = o.seq;
    this.flags = o.flags;
    this.expiresAt = o.expiresAt;
    this.metaStart = o.metaStart;
    this.metaEnd = o.metaEnd;
    this.valueStart = o.valueStart;
    this.valueEnd = o.valueEnd;
    this.entryStart = o.entryStart;
    return this;
  }

  clone(): Rec {
    return new Rec().copyFrom(this);
  }
}

/** A live record of `key` and `value` (no meta, no expiry) at `seq`, in one buffer of its own. */
export function plainRec(key: Uint8Array, value: Uint8Array, seq: number): Rec {
  const r = new Rec();
  r.buf = new Uint8Array(key.length + value.length);
  r.buf.set(key);
  r.buf.set(value, key.length);
  r.keyEnd =
    r.metaStart =
    r.metaEnd =
    r.valueStart =
      key.length;
  r.valueEnd = r.buf.length;
  r.seq = seq;
  return r;
}

/**
 * Moves `rec` onto its own copy of its bytes (key through value, which are contiguous in every encoding), so it
 * outlives the buffer it was decoded from (a reused read buffer or a cache segment).
 */
export function detachRec(rec: Rec): Rec {
  return moveRec(rec, rec.buf.slice(rec.keyStart, rec.valueEnd), -rec.keyStart);
}

/** Points `rec` at `buf`, where its bytes now start `shift` bytes later than in its old buffer. */
export function moveRec(rec: Rec, buf: Uint8Array, shift: number): Rec {
  rec.buf = buf;
  rec.keyStart += shift;
  rec.keyEnd += shift;
  rec.metaStart += shift;
  rec.metaEnd += shift;
  rec.valueStart += shift;
  rec.valueEnd += shift;
  // The moved bytes start at the key: the entry's key length is not among them.
  rec.entryStart = -1;
  return rec;
}

/** Compares the internal keys of two records. */
export function compareRecKeys(a: Rec, b: Rec): number {
  return compareRange(a.buf, a.keyStart, a.keyEnd, b.buf, b.keyStart, b.keyEnd);
}

/** Compares a record's internal key with a key. */
export function compareRecKey(a: Rec, key: Uint8Array): number {
  return compareRange(a.buf, a.keyStart, a.keyEnd, key, 0, key.length);
}

/** Memtable ordering: internal key ascending, then sequence descending (newest version first). */
export function compareRecs(a: Rec, b: Rec): number {
  const c = compareRange(a.buf, a.keyStart, a.keyEnd, b.buf, b.keyStart, b.keyEnd);
  return c !== 0 ? c : b.seq - a.seq;
}

export interface RecFields {
  ikey: Uint8Array;
  flags: number;
  expiresAt: number;
  meta: Uint8Array;
  value: Uint8Array;
}

/** Encoded size of one entry (with `seq` when writing a table entry). */
export function encodedSize(f: RecFields, seq: number | null): number {
  let n = varintSize(f.ikey.length) + f.ikey.length + 1;
  if (seq !== null) n += varintSize(seq);
  if (f.flags & ENTRY_FLAG.expires) n += 8;
  if (f.flags & ENTRY_FLAG.meta) n += varintSize(f.meta.length) + f.meta.length;
  return n + varintSize(f.value.length) + f.value.length;
}

/** Copies a record's encoding (a table entry: with its sequence number) at `pos`. */
export function encodeRec(buf: Uint8Array, pos: number, r: Rec): number {
  const keyLen = r.keyEnd - r.keyStart;
  pos = writeVarint(buf, pos, keyLen);
  copyRange(buf, pos, r.buf, r.keyStart, r.keyEnd);
  pos += keyLen;
  pos = writeVarint(buf, pos, r.seq);
  buf[pos++] = r.flags;
  if (r.flags & ENTRY_FLAG.expires) {
    writeU64(buf, pos, r.expiresAt);
    pos += 8;
  }
  if (r.flags & ENTRY_FLAG.meta) {
    const metaLen = r.metaEnd - r.metaStart;
    pos = writeVarint(buf, pos, metaLen);
    copyRange(buf, pos, r.buf, r.metaStart, r.metaEnd);
    pos += metaLen;
  }
  const valueLen = r.valueEnd - r.valueStart;
  pos = writeVarint(buf, pos, valueLen);
  copyRange(buf, pos, r.buf, r.valueStart, r.valueEnd);
  return pos + valueLen;
}

export function recEncodedSize(r: Rec): number {
  const keyLen = r.keyEnd - r.keyStart;
  let n = varintSize(keyLen) + keyLen + varintSize(r.seq) + 1;
  if (r.flags & ENTRY_FLAG.expires) n += 8;
  if (r.flags & ENTRY_FLAG.meta) n += varintSize(r.metaEnd - r.metaStart) + r.metaEnd - r.metaStart;
  return n + varintSize(r.valueEnd - r.valueStart) + r.valueEnd - r.valueStart;
}

const cursor = { pos: 0 };

/**
 * Points `rec` at the entry encoded at `pos` in `buf` (ending at or before `end`). `hasSeq` says whether a
 * sequence number is encoded (tables) or not (log batches). Returns the position after the entry, or -1 when
 * the bytes do not form an entry (the caller reports CORRUPTION with its file and offset).
 */
export function decodeRec(buf: Uint8Array, pos: number, end: number, rec: Rec, hasSeq: boolean): number {
  cursor.pos = pos;
  const keyLen = readVarint(buf, cursor, end);
  if (keyLen < 2 || cursor.pos + keyLen > end) return -1;
  rec.buf = buf;
  rec.entryStart = hasSeq ? pos : -1;
  rec.keyStart = cursor.pos;
  rec.keyEnd = cursor.pos + keyLen;
  cursor.pos += keyLen;
  if (hasSeq) {
    const seq = readVarint(buf, cursor, end);
    if (seq < 0) return -1;
    rec.seq = seq;
  }
  if (cursor.pos >= end) return -1;
  const flags = buf[cursor.pos++]!;
  if (flags > 7) return -1;
  rec.flags = flags;
  rec.expiresAt = 0;
  if (flags & ENTRY_FLAG.expires) {
    if (cursor.pos + 8 > end) return -1;
    rec.expiresAt = readU64(buf, cursor.pos);
    cursor.pos += 8;
  }
  rec.metaStart = rec.metaEnd = cursor.pos;
  if (flags & ENTRY_FLAG.meta) {
    const metaLen = readVarint(buf, cursor, end);
    if (metaLen < 0 || cursor.pos + metaLen > end) return -1;
    rec.metaStart = cursor.pos;
    rec.metaEnd = cursor.pos + metaLen;
    cursor.pos += metaLen;
  }
  const valueLen = readVarint(buf, cursor, end);
  if (valueLen < 0 || cursor.pos + valueLen > end) return -1;
  rec.valueStart = cursor.pos;
  rec.valueEnd = cursor.pos + valueLen;
  return cursor.pos + valueLen;
}
