/**
 * Writes one sorted string table (SSTable, O'Neil 1996's C1..Ck components as LevelDB lays them out).
 *
 * File layout: data blocks of about `blockBytes`, then a bloom filter block, a properties block, an index block
 * (the last key, offset and size of each data block) and a fixed 52-byte footer (`_format.ts`). Each block is
 * followed by a compression byte and a masked CRC32C. Output is buffered and appended in steps of at most
 * `ioStepBytes`, which bounds the I/O of one compaction step (one append in flight while the next step is
 * encoded), and the file is synced before it is handed to the manifest. Keys must arrive strictly ascending; that is asserted, because a table out of order would
 * answer reads wrongly forever.
 */
import { assert } from "../_assert.ts";
import type { FileHandle, FileSystem } from "../runtime/types.ts";
import { toHex } from "../core/_bytes.ts";
import { compareRange, copyRange, utf8, writeU32, writeU64 } from "./_bytes.ts";
import { crc32c, crc32cUpdate, maskCrc } from "./_crc32c.ts";
import {
  BLOCK_TRAILER_BYTES,
  COMPRESSION,
  ENTRY_FLAG,
  FOOTER_BYTES,
  TABLE_FORMAT_VERSION,
  TABLE_MAGIC_HI,
  TABLE_MAGIC_LO,
  tableName,
} from "./_format.ts";
import { Rec } from "./_record.ts";
import { BlockBuilder } from "./block.ts";
import { bloomHash, buildBloom } from "./bloom.ts";
import { compressBlock } from "./compression.ts";
import type { Compression } from "./options.ts";

/** What the manifest records about a table. */
export interface TableMeta {
  number: number;
  bytes: number;
  count: number;
  tombstones: number;
  minSeq: number;
  maxSeq: number;
  smallest: Uint8Array;
  largest: Uint8Array;
}

export interface TableWriterOptions {
  blockBytes: number;
  bloomBitsPerKey: number;
  compression: Compression;
  ioStepBytes: number;
}

export class TableWriter {
  readonly number: number;
  readonly path: string;
  #file: FileHandle;
  #o: TableWriterOptions;
  #block = new BlockBuilder();
  #out: Uint8Array;
  #outPos = 0;
  /**
   * The buffer of the append in flight (`#pending`), which becomes `#out` again once that append is done:
   * the writer fills one buffer while the other is written, so encoding the next step overlaps the I/O of the
   * last one instead of waiting for it.
   */
  #spare: Uint8Array;
  #pending: Promise<number> | null = null;
  #written = 0;
  /**
   * The index block, built as data blocks finish (last key, offset and size of each): bytes in one growing
   * buffer rather than an object and a key copy per block that would live until the table is done (long enough
   * to reach the collector's old generation while a compaction writes it).
   */
  #index = new BlockBuilder();
  #indexRec = new Rec();
  #indexEntry = new Uint8Array(64);
  #hashes = new Uint32Array(1024);
  #count = 0;
  #tombstones = 0;
  #minSeq = Infinity;
  #maxSeq = 0;
  #smallest: Uint8Array | null = null;
  /**
   * The last key of the last finished block, copied: records may point into buffers their source reuses (a
   * compaction input's read buffer), so the writer keeps its own bytes. Within a block the previous key is read
   * where the block builder encoded it, so a record's key is copied only once.
   */
  #lastKey = new Uint8Array(64);
  #lastKeyLength = 0;

  private constructor(file: FileHandle, path: string, number: number, options: TableWriterOptions) {
    this.#file = file;
    this.path = path;
    this.number = number;
    this.#o = options;
    this.#out = new Uint8Array(options.ioStepBytes + options.blockBytes * 2);
    this.#spare = new Uint8Array(this.#out.length);
  }

  static async create(fs: FileSystem, dir: string, number: number, options: TableWriterOptions): Promise<TableWriter> {
    const path = `${dir}/${tableName(number)}`;
    const file = await fs.open(path, { create: true, truncate: true });
    return new TableWriter(file, path, number, options);
  }

  get count(): number {
    return this.#count;
  }

  /** Bytes written so far plus what is buffered: close to the final size. */
  get estimatedBytes(): number {
    return this.#written + this.#outPos + this.#block.size;
  }

  /** Adds a record; keys must be strictly ascending. Returns a promise only when output had to be written. */
  add(rec: Rec): void | Promise<void> {
    const key = rec.buf;
    const block = this.#block;
    if (block.count > 0) {
      assert(
        compareRange(key, rec.keyStart, rec.keyEnd, block.buf, block.lastKeyStart, block.lastKeyEnd) > 0,
        "Table keys are strictly ascending",
      );
    } else if (this.#count > 0) {
      assert(
        compareRange(key, rec.keyStart, rec.keyEnd, this.#lastKey, 0, this.#lastKeyLength) > 0,
        "Table keys are strictly ascending",
      );
    } else {
      this.#smallest = key.slice(rec.keyStart, rec.keyEnd);
    }
    if (this.#count === this.#hashes.length) {
      const grown = new Uint32Array(this.#hashes.length * 2);
      grown.set(this.#hashes);
      this.#hashes = grown;
    }
    this.#hashes[this.#count++] = bloomHash(key, rec.keyStart, rec.keyEnd);
    if (rec.flags & ENTRY_FLAG.tombstone) this.#tombstones++;
    if (rec.seq < this.#minSeq) this.#minSeq = rec.seq;
    if (rec.seq > this.#maxSeq) this.#maxSeq = rec.seq;
    block.add(rec);
    if (block.size >= this.#o.blockBytes) return this.#finishBlock();
  }

  /** Copies the block's last key into `#lastKey`. */
  #keepKey(): void {
    const b = this.#block;
    const n = b.lastKeyEnd - b.lastKeyStart;
    if (n > this.#lastKey.length) this.#lastKey = new Uint8Array(n * 2);
    copyRange(this.#lastKey, 0, b.buf, b.lastKeyStart, b.lastKeyEnd);
    this.#lastKeyLength = n;
  }

  async #finishBlock(): Promise<void> {
    this.#keepKey();
    const offset = this.#written + this.#outPos;
    const size = await this.#putBlock(this.#block.finish(), true);
    this.#block.reset();
    this.#addIndexEntry(offset, size);
    if (this.#outPos >= this.#o.ioStepBytes) await this.#drain();
  }

  /** Adds the index entry of the block just finished: its last key (`#lastKey`), offset and size. */
  #addIndexEntry(offset: number, size: number): void {
    const n = this.#lastKeyLength;
    if (n + 12 > this.#indexEntry.length) this.#indexEntry = new Uint8Array((n + 12) * 2);
    const buf = this.#indexEntry;
    copyRange(buf, 0, this.#lastKey, 0, n);
    writeU64(buf, n, offset);
    writeU32(buf, n + 8, size);
    const r = this.#indexRec;
    r.buf = buf;
    r.keyStart = 0;
    r.keyEnd = n;
    r.seq = 0;
    r.flags = 0;
    r.metaStart = r.metaEnd = n;
    r.valueStart = n;
    r.valueEnd = n + 12;
    this.#index.add(r);
  }

  /** Copies a block and its trailer into the output buffer; returns the stored size (without trailer). */
  async #putBlock(raw: Uint8Array, compressible: boolean): Promise<number> {
    let data = raw;
    let kind: number = COMPRESSION.none;
    if (compressible && this.#o.compression === "deflate") {
      const packed = await compressBlock(raw);
      if (packed.length < raw.length - (raw.length >>> 3)) {
        data = packed;
        kind = COMPRESSION.deflate;
      }
    }
    const need = this.#outPos + data.length + BLOCK_TRAILER_BYTES;
    if (need > this.#out.length) {
      const grown = new Uint8Array(need * 2);
      grown.set(this.#out.subarray(0, this.#outPos));
      this.#out = grown;
    }
    const out = this.#out;
    out.set(data, this.#outPos);
    const end = this.#outPos + data.length;
    out[end] = kind;
    writeU32(out, end + 1, maskCrc(crc32c(out, this.#outPos, end + 1)));
    this.#outPos = end + BLOCK_TRAILER_BYTES;
    return data.length;
  }

  /**
   * Starts appending what is buffered and switches to the other buffer; waits only for the append before it
   * (at most one is in flight, so appends land in order and a buffer is reused only after its append is done).
   */
  async #drain(): Promise<void> {
    if (this.#outPos === 0) return;
    if (this.#pending !== null) await this.#pending;
    const p = this.#file.append(this.#out.subarray(0, this.#outPos));
    // Handled here so a failure is never unhandled; whoever awaits `#pending` next still gets the error.
    p.catch(() => {});
    this.#pending = p;
    const full = this.#out;
    this.#out = this.#spare;
    this.#spare = full;
    this.#written += this.#outPos;
    this.#outPos = 0;
  }

  async #settle(): Promise<void> {
    const p = this.#pending;
    this.#pending = null;
    if (p !== null) await p;
  }

  /** Writes the filter, properties, index and footer, syncs and closes the file; returns its metadata. */
  async finish(): Promise<TableMeta> {
    assert(this.#count > 0 && this.#smallest !== null, "A table holds at least one record");
    if (this.#block.count > 0) await this.#finishBlock();
    const filterOff = this.#written + this.#outPos;
    const filterSize = await this.#putBlock(buildBloom(this.#hashes, this.#count, this.#o.bloomBitsPerKey), false);
    const meta: TableMeta = {
      number: this.number,
      bytes: 0,
      count: this.#count,
      tombstones: this.#tombstones,
      minSeq: this.#minSeq,
      maxSeq: this.#maxSeq,
      smallest: this.#smallest,
      largest: this.#lastKey.slice(0, this.#lastKeyLength),
    };
    const props = utf8(JSON.stringify({
      count: meta.count,
      tombstones: meta.tombstones,
      minSeq: meta.minSeq,
      maxSeq: meta.maxSeq,
      smallest: toHex(meta.smallest),
      largest: toHex(meta.largest),
      blocks: this.#index.count,
    }));
    const propsOff = this.#written + this.#outPos;
    const propsSize = await this.#putBlock(props, false);
    const indexOff = this.#written + this.#outPos;
    const indexSize = await this.#putBlock(this.#index.finish(), false);
    this.#putFooter(indexOff, indexSize, filterOff, filterSize, propsOff, propsSize);
    await this.#drain();
    await this.#settle();
    await this.#file.sync();
    await this.#file.close();
    meta.bytes = this.#written;
    return meta;
  }

  #putFooter(
    indexOff: number,
    indexSize: number,
    filterOff: number,
    filterSize: number,
    propsOff: number,
    propsSize: number,
  ): void {
    const f = new Uint8Array(FOOTER_BYTES);
    writeU64(f, 0, indexOff);
    writeU32(f, 8, indexSize);
    writeU64(f, 12, filterOff);
    writeU32(f, 20, filterSize);
    writeU64(f, 24, propsOff);
    writeU32(f, 32, propsSize);
    writeU32(f, 36, TABLE_FORMAT_VERSION);
    writeU32(f, 40, maskCrc(crc32cUpdate(0, f, 0, 40)));
    writeU32(f, 44, TABLE_MAGIC_LO);
    writeU32(f, 48, TABLE_MAGIC_HI);
    if (this.#outPos + FOOTER_BYTES > this.#out.length) {
      const grown = new Uint8Array(this.#outPos + FOOTER_BYTES);
      grown.set(this.#out.subarray(0, this.#outPos));
      this.#out = grown;
    }
    this.#out.set(f, this.#outPos);
    this.#outPos += FOOTER_BYTES;
  }

  /** Closes and removes a table that will not be used (a failed or abandoned flush or compaction). */
  async abort(fs: FileSystem): Promise<void> {
    await this.#settle().catch(() => {});
    await this.#file.close().catch(() => {});
    await fs.remove(this.path).catch(() => {});
  }
}
