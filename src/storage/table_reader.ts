/**
 * Reads one table: verifies the footer, loads the index and the bloom filter into memory, and serves point
 * lookups and cursors, reading data blocks through the block cache.
 *
 * Every block is checked against its CRC32C right after it is read, before anything decodes it; a mismatch is
 * a CORRUPTION error naming the file and the block's offset, and the bad bytes are never cached or returned.
 *
 * Block reads allocate nothing that outlives them: a point read reads into a scratch buffer from the cache's
 * pool and copies out only the entry it returns; a cursor reads (or copies a cached block) into a buffer of its
 * own, reused block after block; compaction reads its runs into one buffer per input. The cache copies what it
 * keeps into its arena, and reads into a caller's buffer go through the file handle's `readInto`.
 *
 * A point read that misses the cache reads its block synchronously (`readIntoSync`) when the file offers it and
 * the engine's policy allows: a 4 KiB read from the page cache takes a few microseconds on the thread, where
 * the asynchronous one waits tens for the runtime's thread pool. The policy makes every so many of them
 * asynchronous, so the event loop (and the flush and compaction writes completing there) still runs.
 */
import { isMeshkvError, type MeshkvError } from "../errors.ts";
import type { FileHandle, FileSystem } from "../runtime/types.ts";
import { compareRange, readU32, readU64 } from "./_bytes.ts";
import { corruption } from "./_corruption.ts";
import { crc32c, maskCrc } from "./_crc32c.ts";
import {
  BLOCK_TRAILER_BYTES,
  COMPRESSION,
  FOOTER_BYTES,
  TABLE_FORMAT_VERSION,
  TABLE_MAGIC_HI,
  TABLE_MAGIC_LO,
  tableName,
} from "./_format.ts";
import { detachRec, Rec } from "./_record.ts";
import type { Source } from "./_source.ts";
import { Block } from "./block.ts";
import type { BlockCache } from "./block_cache.ts";
import { bloomMayContain } from "./bloom.ts";
import { decompressBlock } from "./compression.ts";
import type { TableMeta } from "./table_writer.ts";

/** `length` bytes at `offset`: a view of `buf` when it is large enough and the file can read into it. */
async function readAt(file: FileHandle, offset: number, length: number, buf: Uint8Array | null): Promise<Uint8Array> {
  if (buf === null || buf.length < length) return file.read(offset, length);
  const view = buf.subarray(0, length);
  const n = await file.readInto(offset, view);
  return n === length ? view : view.subarray(0, n);
}

/** Decides, for a point read that missed the cache, whether it may read the file synchronously. */
export interface SyncReadPolicy {
  syncRead(): boolean;
}

export class TableReader {
  readonly meta: TableMeta;
  readonly path: string;
  #file: FileHandle;
  #cache: BlockCache;
  #filter: Uint8Array;
  /**
   * The last key of each data block, packed (block `i`'s key ends at `#keyEnds[i]` and starts where the
   * previous one ends), and where each block is: a few typed arrays per table rather than an object per block,
   * which the collector would have to trace as long as the table lives and then collect after compaction.
   */
  #keys: Uint8Array;
  #keyEnds: Uint32Array;
  #offsets: Float64Array;
  #sizes: Uint32Array;
  /** Versions and cursors using this table; its file is deleted when this reaches zero after it left the tree. */
  refs = 0;
  obsolete = false;

  private constructor(
    meta: TableMeta,
    path: string,
    file: FileHandle,
    cache: BlockCache,
    filter: Uint8Array,
    index: Block,
  ) {
    this.meta = meta;
    this.path = path;
    this.#file = file;
    this.#cache = cache;
    this.#filter = filter;
    const n = index.count;
    this.#keyEnds = new Uint32Array(n);
    this.#offsets = new Float64Array(n);
    this.#sizes = new Uint32Array(n);
    const r = new Rec();
    let keyBytes = 0;
    for (let i = 0; i < n; i++) keyBytes += index.decode(i, r).keyEnd - r.keyStart;
    this.#keys = new Uint8Array(keyBytes);
    let at = 0;
    for (let i = 0; i < n; i++) {
      index.decode(i, r);
      if (r.valueEnd - r.valueStart !== 12) throw corruption("Table index entry is malformed", path, index.offset);
      this.#keys.set(r.buf.subarray(r.keyStart, r.keyEnd), at);
      at += r.keyEnd - r.keyStart;
      this.#keyEnds[i] = at;
      this.#offsets[i] = readU64(r.buf, r.valueStart);
      this.#sizes[i] = readU32(r.buf, r.valueStart + 8);
    }
  }

  static async open(fs: FileSystem, dir: string, meta: TableMeta, cache: BlockCache): Promise<TableReader> {
    const path = `${dir}/${tableName(meta.number)}`;
    const file = await fs.open(path, { readOnly: true });
    try {
      const size = await file.size();
      if (size < FOOTER_BYTES) throw corruption("Table is shorter than its footer", path, 0);
      const footerAt = size - FOOTER_BYTES;
      const f = await file.read(footerAt, FOOTER_BYTES);
      if (f.length !== FOOTER_BYTES || readU32(f, 44) !== TABLE_MAGIC_LO || readU32(f, 48) !== TABLE_MAGIC_HI) {
        throw corruption("Table footer has no magic number", path, footerAt);
      }
      if (readU32(f, 40) !== maskCrc(crc32c(f, 0, 40))) {
        throw corruption("Table footer failed its checksum", path, footerAt);
      }
      const version = readU32(f, 36);
      if (version !== TABLE_FORMAT_VERSION) {
        throw corruption(`Table format version ${version} is not supported`, path, footerAt);
      }
      const indexOff = readU64(f, 0);
      const indexSize = readU32(f, 8);
      const filterOff = readU64(f, 12);
      const filterSize = readU32(f, 20);
      if (filterOff > indexOff || indexOff + indexSize + BLOCK_TRAILER_BYTES !== footerAt) {
        throw corruption("Table footer points outside the table", path, footerAt);
      }
      const tail = await file.read(filterOff, footerAt - filterOff);
      const filter = checkBlock(tail, 0, filterSize, path, filterOff);
      const indexData = checkBlock(tail, indexOff - filterOff, indexSize, path, indexOff);
      const index = new Block(indexData, path, indexOff);
      return new TableReader(meta, path, file, cache, filter.slice(), index);
    } catch (e) {
      await file.close().catch(() => {});
      throw e;
    }
  }

  get blockCount(): number {
    return this.#sizes.length;
  }

  mayContain(hash: number): boolean {
    return bloomMayContain(this.#filter, hash);
  }

  /** Memory held outside the block cache: index keys and filter. */
  get residentBytes(): number {
    return this.#filter.length + this.#keys.length + this.#sizes.length * 16;
  }

  /** The first block whose last key is at or after `key` (`blockCount` when none). */
  findBlock(key: Uint8Array): number {
    let lo = 0;
    let hi = this.#sizes.length;
    const keys = this.#keys;
    const ends = this.#keyEnds;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareRange(keys, mid === 0 ? 0 : ends[mid - 1]!, ends[mid]!, key, 0, key.length) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The bytes a read of block `i` takes (the block and its trailer). */
  readBytes(i: number): number {
    return this.#sizes[i]! + BLOCK_TRAILER_BYTES;
  }

  /**
   * The verified block `i` in `buf` (at least `readBytes(i)` long): copied from the cache, or read from the file
   * and cached. The block's bytes live in `buf` (in a buffer of its own when the stored block is compressed).
   */
  blockInto(i: number, buf: Uint8Array): Block | Promise<Block> {
    const offset = this.#offsets[i]!;
    const hit = this.#cache.get(this.meta.number, offset);
    if (hit === undefined) return this.#fetch(i, buf);
    const n = hit.data.length;
    const data = n <= buf.length ? buf.subarray(0, n) : new Uint8Array(n);
    data.set(hit.data);
    return new Block(data, this.path, offset);
  }

  /** Reads block `i` into `buf` (when it fits), verifies it and puts a copy in the cache. */
  async #fetch(i: number, buf: Uint8Array | null): Promise<Block> {
    const offset = this.#offsets[i]!;
    const size = this.#sizes[i]!;
    const raw = await readAt(this.#file, offset, size + BLOCK_TRAILER_BYTES, buf);
    if (raw.length !== size + BLOCK_TRAILER_BYTES) throw corruption("Table block is cut short", this.path, offset);
    let data = checkBlock(raw, 0, size, this.path, offset);
    if (raw[size] === COMPRESSION.deflate) data = await this.#inflate(data, offset);
    const block = new Block(data, this.path, offset);
    this.#cache.insert(this.meta.number, offset, data, this.path);
    return block;
  }

  /**
   * The record for `ikey` in this table, or null. The caller checked the bloom filter. Synchronous when the
   * block is cached or `policy` lets it be read synchronously (the Rec then points into the cache and is shared
   * by all synchronous reads: valid until the next read or cache insert, so the caller copies what it needs
   * before doing anything else); a promise when the block is read asynchronously, and then the Rec and its
   * bytes are its own.
   */
  get(ikey: Uint8Array, policy?: SyncReadPolicy): Rec | null | Promise<Rec | null> {
    const bi = this.findBlock(ikey);
    if (bi >= this.#sizes.length) return null;
    const hit = this.#cache.get(this.meta.number, this.#offsets[bi]!);
    if (hit !== undefined) return findIn(hit, ikey, SYNC_REC);
    if (this.#file.readIntoSync !== undefined && policy !== undefined && policy.syncRead()) {
      const scratch = this.#cache.takeScratch(this.readBytes(bi));
      try {
        const r = this.#getSync(bi, ikey, scratch);
        if (r !== undefined) return r;
      } finally {
        this.#cache.giveScratch(scratch);
      }
    }
    return this.#getMiss(bi, ikey);
  }

  /**
   * Block `bi` read synchronously into `buf`, verified and cached, and the record for `ikey` in it (pointing
   * into the cache, like a hit, or copied out when the block is too large to cache); undefined when the handle
   * declines to read synchronously now, or when the block is compressed (inflating is asynchronous: the caller
   * reads it again the asynchronous way, which only compressed tables pay).
   */
  #getSync(bi: number, ikey: Uint8Array, buf: Uint8Array): Rec | null | undefined {
    const offset = this.#offsets[bi]!;
    const size = this.#sizes[bi]!;
    const view = buf.subarray(0, size + BLOCK_TRAILER_BYTES);
    const n = this.#file.readIntoSync!(offset, view);
    if (n === null) return undefined;
    if (n !== view.length) throw corruption("Table block is cut short", this.path, offset);
    const data = checkBlock(view, 0, size, this.path, offset);
    if (view[size] === COMPRESSION.deflate) return undefined;
    const cached = this.#cache.insert(this.meta.number, offset, data, this.path);
    if (cached !== undefined) return findIn(cached, ikey, SYNC_REC);
    const r = findIn(new Block(data, this.path, offset), ikey, new Rec());
    return r === null ? null : detachRec(r);
  }

  async #getMiss(bi: number, ikey: Uint8Array): Promise<Rec | null> {
    const scratch = this.#cache.takeScratch(this.readBytes(bi));
    try {
      const r = findIn(await this.#fetch(bi, scratch), ikey, new Rec());
      return r === null ? null : detachRec(r);
    } finally {
      this.#cache.giveScratch(scratch);
    }
  }

  /**
   * A cursor; with `onCorrupt`, blocks that fail their checks are reported and skipped instead of thrown.
   * With `readaheadBytes` (compaction), a forward cursor reads runs of blocks of about that size in one file
   * read each and leaves the block cache alone (LevelDB's `fill_cache = false`): a compaction reads every
   * block once, so caching them would only push out the blocks that point reads need.
   */
  cursor(reverse: boolean, onCorrupt?: (e: MeshkvError) => void, readaheadBytes = 0): Source {
    return new TableCursor(this, reverse, onCorrupt, readaheadBytes);
  }

  /**
   * Blocks `first`, `first + 1`, ... read with one file read of at most `maxBytes` (at least one block), into
   * `buf` when it is large enough, each verified; a block that fails its checks is its CORRUPTION error in the
   * result. Nothing is cached.
   */
  async readRun(first: number, maxBytes: number, buf: Uint8Array | null = null): Promise<(Block | MeshkvError)[]> {
    const offsets = this.#offsets;
    const sizes = this.#sizes;
    const start = offsets[first]!;
    let last = first;
    while (
      last + 1 < offsets.length && offsets[last + 1]! + sizes[last + 1]! + BLOCK_TRAILER_BYTES - start <= maxBytes
    ) last++;
    const raw = await readAt(this.#file, start, offsets[last]! + sizes[last]! + BLOCK_TRAILER_BYTES - start, buf);
    const out: (Block | MeshkvError)[] = [];
    for (let i = first; i <= last; i++) {
      const offset = offsets[i]!;
      try {
        let data = checkBlock(raw, offset - start, sizes[i]!, this.path, offset);
        if (raw[offset - start + sizes[i]!] === COMPRESSION.deflate) data = await this.#inflate(data, offset);
        out.push(new Block(data, this.path, offset));
      } catch (e) {
        if (!isMeshkvError(e, "CORRUPTION")) throw e;
        out.push(e);
      }
    }
    return out;
  }

  async #inflate(data: Uint8Array, offset: number): Promise<Uint8Array> {
    try {
      return await decompressBlock(data);
    } catch (e) {
      throw corruption("Table block does not decompress", this.path, offset, { cause: String(e) });
    }
  }

  evict(): void {
    this.#cache.evictTable(this.meta.number);
  }

  async close(): Promise<void> {
    await this.#file.close().catch(() => {});
  }
}

/**
 * The record a synchronous point read returns: it points into the cache and is valid only until the next cache
 * insert anyway, and the caller copies what it needs at once, so one object serves every such read.
 */
const SYNC_REC = new Rec();

function findIn(block: Block, ikey: Uint8Array, into: Rec): Rec | null {
  const i = block.seek(ikey);
  if (i >= block.count || block.compareKey(i, ikey) !== 0) return null;
  return block.decode(i, into);
}

/** Checks the trailer of the block stored at `data[at, at + size)`; returns the block's bytes. */
function checkBlock(data: Uint8Array, at: number, size: number, file: string, offset: number): Uint8Array {
  if (at < 0 || at + size + BLOCK_TRAILER_BYTES > data.length) {
    throw corruption("Table block is cut short", file, offset);
  }
  const kind = data[at + size]!;
  if (kind !== COMPRESSION.none && kind !== COMPRESSION.deflate) {
    throw corruption(`Table block has unknown compression ${kind}`, file, offset);
  }
  const stored = readU32(data, at + size + 1);
  if (maskCrc(crc32c(data, at, at + size + 1)) !== stored) {
    throw corruption("Table block failed its checksum", file, offset);
  }
  return data.subarray(at, at + size);
}

const EMPTY = new Uint8Array(0);
/** A cursor's block buffer starts at this size (a little over the default 4 KiB block) and grows when needed. */
const CURSOR_BUFFER_BYTES_MIN = 8192;

/** Walks one table in either direction, block by block. */
export class TableCursor implements Source {
  #t: TableReader;
  #reverse: boolean;
  #bi = 0;
  #block: Block | null = null;
  #i = 0;
  #rec = new Rec();
  #onCorrupt: ((e: MeshkvError) => void) | undefined;
  #readahead: number;
  /** With readahead: the run of blocks read last, starting at block `#aheadFirst`. */
  #ahead: (Block | MeshkvError)[] = [];
  #aheadFirst = 0;
  /** The buffer this cursor's block (or run of blocks) lives in, reused: the current record points into it. */
  #buf: Uint8Array = EMPTY;
  /**
   * With readahead: the next run, being read into `#spare` while this one is merged (so compaction's merging
   * overlaps its reads instead of waiting for each), starting at block `#nextFirst`.
   */
  #next: Promise<(Block | MeshkvError)[]> | null = null;
  #nextFirst = -1;
  #spare: Uint8Array = EMPTY;
  rec: Rec | null = null;

  constructor(t: TableReader, reverse: boolean, onCorrupt?: (e: MeshkvError) => void, readaheadBytes = 0) {
    this.#t = t;
    this.#reverse = reverse;
    this.#onCorrupt = onCorrupt;
    this.#readahead = reverse ? 0 : readaheadBytes;
  }

  seek(target: Uint8Array | null): void | Promise<void> {
    const t = this.#t;
    if (!this.#reverse) {
      const bi = target === null ? 0 : t.findBlock(target);
      return this.#enter(bi, (b) => (target === null ? 0 : b.seek(target)));
    }
    let bi = target === null ? t.blockCount - 1 : t.findBlock(target);
    if (bi >= t.blockCount) bi = t.blockCount - 1;
    return this.#enter(bi, (b) => (target === null ? b.count - 1 : b.seek(target) - 1));
  }

  next(): void | Promise<void> {
    if (this.rec === null) return;
    const step = this.#reverse ? -1 : 1;
    this.#i += step;
    if (this.#block !== null && this.#i >= 0 && this.#i < this.#block.count) {
      this.rec = this.#block.decode(this.#i, this.#rec);
      return;
    }
    return this.#enter(this.#bi + step, (b) => (this.#reverse ? b.count - 1 : 0));
  }

  /** Loads block `bi` and positions at `pick(block)`, moving on to neighbour blocks when out of range. */
  #enter(bi: number, pick: (b: Block) => number): void | Promise<void> {
    if (bi < 0 || bi >= this.#t.blockCount) {
      this.rec = null;
      this.#block = null;
      this.#ahead = [];
      return;
    }
    if (this.#readahead > 0) return this.#enterAhead(bi, pick);
    let b: Block | Promise<Block>;
    try {
      const need = this.#t.readBytes(bi);
      if (this.#buf.length < need) this.#buf = new Uint8Array(Math.max(need, CURSOR_BUFFER_BYTES_MIN));
      b = this.#t.blockInto(bi, this.#buf);
      if (b instanceof Block) return this.#place(bi, b, pick);
    } catch (e) {
      return this.#skip(e, bi);
    }
    return b.then((blk) => this.#place(bi, blk, pick), (e: unknown) => this.#skip(e, bi));
  }

  #enterAhead(bi: number, pick: (b: Block) => number): void | Promise<void> {
    const b = this.#ahead[bi - this.#aheadFirst];
    if (b instanceof Block) return this.#place(bi, b, pick);
    if (b !== undefined) return this.#skip(b, bi);
    let read: Promise<(Block | MeshkvError)[]>;
    if (this.#next !== null && this.#nextFirst === bi) {
      // The run read ahead goes on in `#spare`; the current buffer is free once we move on.
      read = this.#next;
      const spare = this.#spare;
      this.#spare = this.#buf;
      this.#buf = spare;
    } else {
      if (this.#buf.length < this.#readahead) this.#buf = new Uint8Array(this.#readahead);
      read = this.#t.readRun(bi, this.#readahead, this.#buf);
      if (this.#next !== null) {
        // A prefetch of some other run (after a seek): let it finish into `#spare` unused.
        this.#spare = EMPTY;
      }
    }
    this.#next = null;
    return read.then((run) => {
      this.#ahead = run;
      this.#aheadFirst = bi;
      this.#prefetch(bi + run.length);
      return this.#enterAhead(bi, pick);
    }, (e: unknown) => this.#skip(e, bi));
  }

  /** Starts reading the run at block `first` into `#spare`, unless the table ends before it. */
  #prefetch(first: number): void {
    if (first >= this.#t.blockCount) return;
    if (this.#spare.length < this.#readahead) this.#spare = new Uint8Array(this.#readahead);
    const p = this.#t.readRun(first, this.#readahead, this.#spare);
    // Handled here so an error is never unhandled (the cursor may be dropped); awaiting `p` still rejects.
    p.catch(() => {});
    this.#next = p;
    this.#nextFirst = first;
  }

  /** A damaged block: throw, or (for compaction) report it and go on with the next block. */
  #skip(e: unknown, bi: number): void | Promise<void> {
    if (this.#onCorrupt === undefined || !isMeshkvError(e, "CORRUPTION")) throw e;
    this.#onCorrupt(e);
    const step = this.#reverse ? -1 : 1;
    return this.#enter(bi + step, (x) => (this.#reverse ? x.count - 1 : 0));
  }

  #place(bi: number, b: Block, pick: (b: Block) => number): void | Promise<void> {
    this.#bi = bi;
    this.#block = b;
    this.#i = pick(b);
    if (this.#i >= 0 && this.#i < b.count) {
      try {
        this.rec = b.decode(this.#i, this.#rec);
      } catch (e) {
        return this.#skip(e, bi);
      }
      return;
    }
    const step = this.#reverse ? -1 : 1;
    return this.#enter(bi + step, (x) => (this.#reverse ? x.count - 1 : 0));
  }
}
