/**
 * Table blocks: a few KiB of sorted entries followed by an array of entry offsets, so a reader binary searches
 * a block without decoding it (LevelDB's restart array with a restart at every entry: our keys are short and
 * random, so prefix compression would save little and cost a scan per lookup).
 *
 * Layout: `entry* | offset u32 * count | count u32`. Entries use the table encoding of `_record.ts`.
 */
import { assert } from "../_assert.ts";
import { compareRange, copyRange, readU32, readVarint, varintSize, writeU32 } from "./_bytes.ts";
import { corruption } from "./_corruption.ts";
import { decodeRec, encodeRec, type Rec, recEncodedSize } from "./_record.ts";

export class BlockBuilder {
  #buf = new Uint8Array(8192);
  #pos = 0;
  #offsets: number[] = [];

  get count(): number {
    return this.#offsets.length;
  }

  /** Bytes the finished block will take. */
  get size(): number {
    return this.#pos + this.#offsets.length * 4 + 4;
  }

  add(rec: Rec): void {
    const at = this.#pos;
    if (rec.entryStart >= 0) {
      // Already a table entry (a compaction input): the same bytes, copied whole.
      const n = rec.valueEnd - rec.entryStart;
      this.#reserve(n);
      copyRange(this.#buf, at, rec.buf, rec.entryStart, rec.valueEnd);
      this.#pos = at + n;
      this.lastKeyStart = at + rec.keyStart - rec.entryStart;
    } else {
      this.#reserve(recEncodedSize(rec));
      this.#pos = encodeRec(this.#buf, at, rec);
      this.lastKeyStart = at + varintSize(rec.keyEnd - rec.keyStart);
    }
    this.lastKeyEnd = this.lastKeyStart + rec.keyEnd - rec.keyStart;
    this.#offsets.push(at);
  }

  /** The bytes the last added entry's key occupies in `buf` (valid until the next `add` or `reset`). */
  lastKeyStart = 0;
  lastKeyEnd = 0;

  /** The block's bytes so far (a view may go stale when the block grows). */
  get buf(): Uint8Array {
    return this.#buf;
  }

  #reserve(extra: number): void {
    const need = this.#pos + extra + (this.#offsets.length + 2) * 4;
    if (need <= this.#buf.length) return;
    const grown = new Uint8Array(Math.max(need, this.#buf.length * 2));
    grown.set(this.#buf.subarray(0, this.#pos));
    this.#buf = grown;
  }

  /** The finished block; a view that stays valid until `reset`. */
  finish(): Uint8Array {
    this.#reserve(0);
    let p = this.#pos;
    for (const o of this.#offsets) {
      writeU32(this.#buf, p, o);
      p += 4;
    }
    writeU32(this.#buf, p, this.#offsets.length);
    return this.#buf.subarray(0, p + 4);
  }

  reset(): void {
    this.#pos = 0;
    this.#offsets.length = 0;
  }
}

/** A verified block, ready for lookups. `file` and `offset` locate it for CORRUPTION reports. */
export class Block {
  readonly data: Uint8Array;
  readonly count: number;
  readonly file: string;
  readonly offset: number;
  #offsetsAt: number;

  constructor(data: Uint8Array, file: string, offset: number) {
    this.data = data;
    this.file = file;
    this.offset = offset;
    if (data.length < 4) throw corruption("Table block is too short", file, offset);
    this.count = readU32(data, data.length - 4);
    this.#offsetsAt = data.length - 4 - this.count * 4;
    if (this.#offsetsAt < 0 || this.count === 0) throw corruption("Table block has a bad entry count", file, offset);
  }

  entryOffset(i: number): number {
    return readU32(this.data, this.#offsetsAt + i * 4);
  }

  /** Points `rec` at entry `i`; throws CORRUPTION when it does not decode. */
  decode(i: number, rec: Rec): Rec {
    assert(i >= 0 && i < this.count, "Block entry index in range");
    const start = this.entryOffset(i);
    if (start >= this.#offsetsAt || decodeTableRec(this.data, start, this.#offsetsAt, rec) < 0) {
      throw corruption("Table entry does not decode", this.file, this.offset + start);
    }
    return rec;
  }

  /** Compares entry `i`'s key with `key`. */
  compareKey(i: number, key: Uint8Array): number {
    const start = this.entryOffset(i);
    cursor.pos = start;
    const len = readVarint(this.data, cursor, this.#offsetsAt);
    if (len < 0 || cursor.pos + len > this.#offsetsAt) {
      throw corruption("Table entry key does not decode", this.file, this.offset + start);
    }
    return compareRange(this.data, cursor.pos, cursor.pos + len, key, 0, key.length);
  }

  /** The index of the first entry whose key is at or after `key` (`count` when none). */
  seek(key: Uint8Array): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compareKey(mid, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

const cursor = { pos: 0 };

function decodeTableRec(buf: Uint8Array, pos: number, end: number, rec: Rec): number {
  return decodeRec(buf, pos, end, rec, true);
}
