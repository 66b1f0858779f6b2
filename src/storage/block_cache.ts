/**
 * The block cache: verified, decompressed blocks kept in memory, bounded in bytes (LevelDB's block cache,
 * laid out as a log in segments, like RAMCloud's log-structured memory, Rumble et al. 2014).
 *
 * Blocks are copied into a fixed arena of equal segments allocated once (lazily, the first time each is
 * written), so the cache's memory is the arena and nothing else: a miss creates no buffer that lives on after
 * it, and an eviction frees nothing for the collector to find. (The cache used to keep each block's read
 * buffer; JavaScriptCore collects those late, and a random-read run on Bun held 200 MiB of evicted blocks.)
 *
 * Blocks are written one after another into the current segment. When it is full, writing moves on to the
 * spare segment, and the oldest segment is emptied to become the next spare: its blocks that were read since
 * they were written are copied into the new segment (second chance, at most half of it), the others are
 * evicted. That is FIFO with a second chance (CLOCK's rule), which keeps hot blocks as LRU does, and a hit
 * costs setting a flag. The arena takes `capacityBytes` plus one segment (the spare); a block larger than a segment is not cached.
 *
 * A cached block's bytes stay valid until the next `insert`, which may recycle them: `get` is for synchronous
 * use (a point read decodes and copies its entry before it returns); cursors copy the block into their own
 * buffer. Scratch buffers for block reads come from a small pool here too, so reads allocate nothing.
 *
 * The bookkeeping allocates nothing per block either: a block is a slot in parallel arrays of numbers (reused
 * through a free list), found through one `Map` per table keyed by the block's offset (small integers, which
 * V8 and JavaScriptCore store unboxed). An object per cached block lived long enough to reach the old
 * generation and died there, and on a random-read run that garbage grew V8's heap by 60 MiB between collections.
 */
import { Block } from "./block.ts";

const MiB = 1024 * 1024;
/** Segment size: an eighth of the capacity, within these bounds. */
const SEGMENT_BYTES_MAX = MiB;
const SEGMENT_BYTES_MIN = 4096;
/** A second chance copies hot blocks into at most this fraction of the new segment; the rest is for new blocks. */
const REINSERT_FRACTION = 0.5;
/** Scratch buffers kept for reuse, and the largest one kept. */
const SCRATCH_KEPT_MAX = 16;
const SCRATCH_BYTES_KEPT_MAX = MiB;
const SCRATCH_BYTES_MIN = 16 * 1024;

export class BlockCache {
  readonly capacityBytes: number;
  readonly segmentBytes: number;
  /** Per table: block offset in the file to slot. */
  #tables = new Map<number, Map<number, number>>();
  #segs: (Uint8Array | null)[];
  /** The slots written into each segment, in order (some may be dead). */
  #segSlots: number[][];
  #cur = 0;
  #pos = 0;
  #bytes = 0;
  #count = 0;
  // Slots: where each cached block is, and whether it was read since it was written. A dead slot has table -1.
  #table: number[] = [];
  #offset: number[] = [];
  #file: string[] = [];
  #at: number[] = [];
  #length: number[] = [];
  #hot: number[] = [];
  #free: number[] = [];
  #scratch: Uint8Array[] = [];
  hits = 0;
  misses = 0;

  constructor(capacityBytes: number) {
    this.capacityBytes = capacityBytes;
    const seg = Math.min(SEGMENT_BYTES_MAX, Math.max(SEGMENT_BYTES_MIN, Math.ceil(capacityBytes / 8)));
    const count = Math.floor(capacityBytes / seg);
    this.segmentBytes = count === 0 ? 0 : seg;
    // One more than the capacity holds: the spare that the oldest segment's hot blocks are copied into.
    this.#segs = count === 0 ? [] : new Array<Uint8Array | null>(count + 1).fill(null);
    this.#segSlots = this.#segs.map(() => []);
  }

  /** Bytes of the blocks held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Blocks held. */
  get size(): number {
    return this.#count;
  }

  /** Bytes the arena has allocated so far (at most `capacityBytes` plus one segment). */
  get arenaBytes(): number {
    let n = 0;
    for (const s of this.#segs) n += s?.length ?? 0;
    return n;
  }

  /** The cached block at `offset` of table `table`; its bytes are valid until the next `insert`. */
  get(table: number, offset: number): Block | undefined {
    const slot = this.#tables.get(table)?.get(offset);
    if (slot === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.#hot[slot] = 1;
    return this.#block(slot);
  }

  /**
   * Copies a verified block into the arena; returns the cached copy (valid until the next insert), or undefined
   * when it is larger than a segment and is not cached. `file` names the table's file in corruption reports.
   */
  insert(table: number, offset: number, data: Uint8Array, file: string): Block | undefined {
    const n = data.length;
    if (n > this.segmentBytes) return undefined;
    this.#remove(table, offset);
    if (this.#pos + n > this.segmentBytes) this.#advance();
    const seg = (this.#segs[this.#cur] ??= new Uint8Array(this.segmentBytes));
    seg.set(data, this.#pos);
    const slot = this.#free.pop() ?? this.#table.length;
    this.#table[slot] = table;
    this.#offset[slot] = offset;
    this.#file[slot] = file;
    this.#at[slot] = this.#cur * this.segmentBytes + this.#pos;
    this.#length[slot] = n;
    this.#hot[slot] = 0;
    this.#pos += n;
    this.#segSlots[this.#cur]!.push(slot);
    let blocks = this.#tables.get(table);
    if (blocks === undefined) this.#tables.set(table, blocks = new Map());
    blocks.set(offset, slot);
    this.#bytes += n;
    this.#count++;
    return this.#block(slot);
  }

  /** Drops every block of a table (when its file is deleted); their space is reused when their segment is. */
  evictTable(table: number): void {
    const blocks = this.#tables.get(table);
    if (blocks === undefined) return;
    this.#tables.delete(table);
    for (const slot of blocks.values()) this.#kill(slot);
  }

  /** A buffer of at least `n` bytes for reading a block into; give it back with `giveScratch`. */
  takeScratch(n: number): Uint8Array {
    const pool = this.#scratch;
    for (let i = pool.length - 1; i >= 0; i--) {
      const b = pool[i]!;
      if (b.length >= n) {
        pool[i] = pool[pool.length - 1]!;
        pool.pop();
        return b;
      }
    }
    return new Uint8Array(Math.max(n, SCRATCH_BYTES_MIN));
  }

  giveScratch(b: Uint8Array): void {
    if (this.#scratch.length < SCRATCH_KEPT_MAX && b.length <= SCRATCH_BYTES_KEPT_MAX) this.#scratch.push(b);
  }

  #block(slot: number): Block {
    const at = this.#at[slot]!;
    const seg = Math.floor(at / this.segmentBytes);
    const start = at - seg * this.segmentBytes;
    const view = this.#segs[seg]!.subarray(start, start + this.#length[slot]!);
    return new Block(view, this.#file[slot]!, this.#offset[slot]!);
  }

  #remove(table: number, offset: number): void {
    const blocks = this.#tables.get(table);
    const slot = blocks?.get(offset);
    if (slot === undefined) return;
    blocks!.delete(offset);
    this.#kill(slot);
  }

  /** Marks a slot dead (its map entry is already gone); the slot is freed when its segment is emptied. */
  #kill(slot: number): void {
    this.#table[slot] = -1;
    this.#bytes -= this.#length[slot]!;
    this.#count--;
  }

  /** Moves writing to the spare segment and empties the oldest one, giving its hot blocks a second chance. */
  #advance(): void {
    const segs = this.#segs;
    const count = segs.length;
    const size = this.segmentBytes;
    this.#cur = (this.#cur + 1) % count;
    this.#pos = 0;
    const cur = (segs[this.#cur] ??= new Uint8Array(size));
    const into = this.#segSlots[this.#cur]!;
    const oldest = (this.#cur + 1) % count;
    const from = this.#segSlots[oldest]!;
    const old = segs[oldest];
    const keepBytes = Math.floor(size * REINSERT_FRACTION);
    for (const slot of from) {
      const table = this.#table[slot]!;
      if (table === -1) {
        this.#free.push(slot);
        continue;
      }
      const n = this.#length[slot]!;
      if (this.#hot[slot] === 1 && this.#pos + n <= keepBytes) {
        const start = this.#at[slot]! - oldest * size;
        cur.set(old!.subarray(start, start + n), this.#pos);
        this.#at[slot] = this.#cur * size + this.#pos;
        this.#pos += n;
        this.#hot[slot] = 0;
        into.push(slot);
      } else {
        const blocks = this.#tables.get(table)!;
        blocks.delete(this.#offset[slot]!);
        if (blocks.size === 0) this.#tables.delete(table);
        this.#kill(slot);
        this.#free.push(slot);
      }
    }
    from.length = 0;
  }
}
