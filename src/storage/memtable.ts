/**
 * The memtable: the newest writes, kept sorted in memory until they are flushed to a table (O'Neil 1996's C0
 * component).
 *
 * It is a sorted array of chunks (at most `CHUNK` records each), a flat B-tree of height two: an insert binary
 * searches the chunk list, then the chunk, then splices into a small array. In V8 and JavaScriptCore that beats
 * a skip list of linked node objects (fewer objects, no pointer chasing, cheap appends for ascending keys), and
 * it keeps one `Rec` per entry pointing into its arena (see `_record.ts` and below).
 *
 * Records are copied into the memtable's own arena, chunks of `ARENA_CHUNK_BYTES` that records are packed
 * into, instead of keeping alive the log frame each write arrived in. A frame then dies young (the log writes
 * it and lets go), and an entry costs its bytes and one `Rec`, not a separate `ArrayBuffer` per write: with
 * awaited single puts that was three times the bytes the memtable counted (the buffer, its view objects and
 * the allocator's headers), and the memtable limit did not bound memory.
 *
 * A flushed memtable hands its arena chunks and its `Rec` objects to a `MemtablePool`, and the next memtables
 * and writes take them from there, once no iterator pins it any more. Without that, every record's `Rec` lived
 * as long as its memtable, reached the collector's old generation and died there (a million inserts left V8's
 * heap 60 MiB of such garbage between full collections), and every flush left 8 MiB of arena to the collector.
 *
 * Several versions of one key may be present, newest first; readers pick the newest at or below their snapshot
 * sequence. Records are only ever added, so a cursor that notices a change re-seeks past the key it was on and
 * loses nothing: that is how iterators stay consistent while writes go on.
 */
import { compareRange, keyPrefix } from "./_bytes.ts";
import type { Rec } from "./_record.ts";
import { compareRecs, moveRec } from "./_record.ts";
import type { Source } from "./_source.ts";

const CHUNK = 256;
/** Bytes charged per record beyond its encoding: the `Rec` object (ten fields) and its array slot. */
export const RECORD_OVERHEAD_BYTES = 120;
/** The arena grows in chunks of this size; a record larger than a quarter of it gets a buffer of its own. */
const ARENA_CHUNK_BYTES = 256 * 1024;

/**
 * Arena chunks and `Rec` objects of flushed memtables, for reuse, each kept up to what one memtable of
 * `memtableBytes` needs.
 */
export class MemtablePool {
  #chunks: Uint8Array[] = [];
  #recs: Rec[] = [];
  readonly chunksMax: number;
  readonly recsMax: number;

  constructor(memtableBytes: number) {
    this.chunksMax = Math.ceil(memtableBytes / ARENA_CHUNK_BYTES) + 1;
    this.recsMax = Math.ceil(memtableBytes / RECORD_OVERHEAD_BYTES);
  }

  get chunks(): number {
    return this.#chunks.length;
  }

  get recs(): number {
    return this.#recs.length;
  }

  takeChunk(): Uint8Array {
    return this.#chunks.pop() ?? new Uint8Array(ARENA_CHUNK_BYTES);
  }

  /** A Rec to fill in (its old fields are stale: the caller sets every field). */
  takeRec(): Rec | undefined {
    return this.#recs.pop();
  }

  /**
   * Takes a retired memtable's arena chunks and records. Only the records with buffers of their own (`own`,
   * large values) are cleared here; the others still point at arena chunks, which the pool keeps (up to one
   * memtable's worth), until they are reused. Not touching every record object saves a cache miss per record
   * on the flush's critical path. When the pool is full and lets chunks go, every record is cleared, so no
   * pooled record keeps a dropped chunk alive.
   */
  give(chunks: Uint8Array[], runs: readonly (readonly Rec[])[], own: readonly Rec[]): void {
    let dropped = false;
    for (const c of chunks) {
      if (this.#chunks.length < this.chunksMax) this.#chunks.push(c);
      else dropped = true;
    }
    for (const r of own) r.buf = EMPTY;
    const recs = this.#recs;
    for (const run of runs) {
      for (let i = 0; i < run.length; i++) {
        if (recs.length >= this.recsMax) return;
        const r = run[i]!;
        // A chunk the pool did not keep must not stay alive through the records that point into it.
        if (dropped) r.buf = EMPTY;
        recs.push(r);
      }
    }
  }
}

const EMPTY = new Uint8Array(0);

export class Memtable {
  #chunks: Rec[][] = [[]];
  /**
   * The first six bytes of each record's key as a number, parallel to `#chunks`: a binary search compares
   * these plain numbers and reads a record (an object and its arena bytes, usually cache misses) only when
   * they are equal. With random keys that took the memtable insert from about a fifth of the batched-insert
   * CPU time to a tenth.
   */
  #prefixes: number[][] = [[]];
  /**
   * The key's next six bytes (7th to 12th), compared when the first six are equal: keys that share a leading
   * part (a partition's two bytes and `user`, `users/`, a keyspace's prefix) are then still told apart by a
   * number before a record is read.
   */
  #prefixes2: number[][] = [[]];
  #arena: Uint8Array = new Uint8Array(0);
  #arenaPos = 0;
  /** Every arena chunk this memtable filled, for handing back to the pool. */
  #arenas: Uint8Array[] = [];
  /** Records too large for the arena, each in a buffer of its own. */
  #large: Rec[] = [];
  #pool: MemtablePool | null;
  /** Iterators reading this memtable; its memory goes back to the pool only when none is left after it retired. */
  #pins = 0;
  #retired = false;
  /** Changes whenever records move between positions (every insert). */
  version = 0;
  count = 0;
  bytes = 0;
  minSeq = Infinity;
  maxSeq = 0;
  /** The highest log segment number holding records of this memtable. */
  readonly id: number;

  constructor(id: number, pool: MemtablePool | null = null) {
    this.id = id;
    this.#pool = pool;
  }

  /** An iterator starts reading this memtable. */
  pin(): void {
    this.#pins++;
  }

  unpin(): void {
    this.#pins--;
    if (this.#pins === 0 && this.#retired) this.#recycle();
  }

  /**
   * The memtable is flushed and left the engine: once no iterator reads it, its arena chunks and records go to
   * `pool` and it must not be used again.
   */
  retire(pool: MemtablePool): void {
    this.#retired = true;
    this.#pool = pool;
    if (this.#pins === 0) this.#recycle();
  }

  #recycle(): void {
    const pool = this.#pool;
    if (pool === null) return;
    this.#pool = null;
    pool.give(this.#arenas, this.#chunks, this.#large);
    this.#arenas = [];
    this.#large = [];
    this.#chunks = [[]];
    this.#prefixes = [[]];
    this.#prefixes2 = [[]];
    this.#arena = EMPTY;
  }

  /**
   * Adds a record, copying its bytes into the arena (the caller's buffer is not kept). `size` is its encoded
   * size, counted against the byte limit.
   */
  add(rec: Rec, size: number): void {
    this.#own(rec);
    this.version++;
    this.count++;
    this.bytes += size + RECORD_OVERHEAD_BYTES;
    if (rec.seq < this.minSeq) this.minSeq = rec.seq;
    if (rec.seq > this.maxSeq) this.maxSeq = rec.seq;
    const chunks = this.#chunks;
    const prefixes = this.#prefixes;
    const prefixes2 = this.#prefixes2;
    const p = keyPrefix(rec.buf, rec.keyStart, rec.keyEnd);
    const p2 = keyPrefix2(rec.buf, rec.keyStart, rec.keyEnd);
    const lastChunk = chunks[chunks.length - 1]!;
    const last = lastChunk[lastChunk.length - 1];
    if (last === undefined || compareRecs(last, rec) < 0) {
      if (lastChunk.length < CHUNK) {
        lastChunk.push(rec);
        prefixes[prefixes.length - 1]!.push(p);
        prefixes2[prefixes2.length - 1]!.push(p2);
      } else {
        chunks.push([rec]);
        prefixes.push([p]);
        prefixes2.push([p2]);
      }
      return;
    }
    this.#lowerBound(rec.buf, rec.keyStart, rec.keyEnd, rec.seq, p, p2);
    const ci = this.#foundChunk;
    const i = this.#foundIndex;
    const chunk = chunks[ci]!;
    const pre = prefixes[ci]!;
    const pre2 = prefixes2[ci]!;
    chunk.splice(i, 0, rec);
    pre.splice(i, 0, p);
    pre2.splice(i, 0, p2);
    if (chunk.length > CHUNK) {
      chunks.splice(ci + 1, 0, chunk.splice(CHUNK >>> 1));
      prefixes.splice(ci + 1, 0, pre.splice(CHUNK >>> 1));
      prefixes2.splice(ci + 1, 0, pre2.splice(CHUNK >>> 1));
    }
  }

  /** Moves the record's bytes (key through value, which are contiguous) into the arena. */
  #own(rec: Rec): void {
    const start = rec.keyStart;
    const n = rec.valueEnd - start;
    let buf: Uint8Array;
    let at: number;
    if (n > ARENA_CHUNK_BYTES >>> 2) {
      buf = rec.buf.slice(start, rec.valueEnd);
      at = 0;
      this.#large.push(rec);
    } else {
      if (this.#arenaPos + n > this.#arena.length) {
        this.#arena = this.#pool?.takeChunk() ?? new Uint8Array(ARENA_CHUNK_BYTES);
        this.#arenas.push(this.#arena);
        this.#arenaPos = 0;
      }
      buf = this.#arena;
      at = this.#arenaPos;
      buf.set(rec.buf.subarray(start, rec.valueEnd), at);
      this.#arenaPos += n;
    }
    moveRec(rec, buf, at - start);
  }

  /** Where `#lowerBound` found its position (two fields rather than an array allocated per insert). */
  #foundChunk = 0;
  #foundIndex = 0;

  /**
   * The first position whose record sorts at or after (key, seq), key ascending and seq descending, into
   * `#foundChunk` and `#foundIndex`.
   */
  #lowerBound(key: Uint8Array, start: number, end: number, seq: number, p: number, p2: number): void {
    const chunks = this.#chunks;
    const prefixes = this.#prefixes;
    const prefixes2 = this.#prefixes2;
    let lo = 0;
    let hi = chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const pre = prefixes[mid]!;
      const last = pre.length - 1;
      const q = pre[last]!;
      const q2 = prefixes2[mid]![last]!;
      if (q < p || (q === p && (q2 < p2 || (q2 === p2 && cmp(chunks[mid]![last]!, key, start, end, seq) < 0)))) {
        lo = mid + 1;
      } else hi = mid;
    }
    const chunk = chunks[lo]!;
    const pre = prefixes[lo]!;
    const pre2 = prefixes2[lo]!;
    let a = 0;
    let b = chunk.length;
    while (a < b) {
      const mid = (a + b) >>> 1;
      const q = pre[mid]!;
      const q2 = pre2[mid]!;
      if (q < p || (q === p && (q2 < p2 || (q2 === p2 && cmp(chunk[mid]!, key, start, end, seq) < 0)))) a = mid + 1;
      else b = mid;
    }
    this.#foundChunk = lo;
    this.#foundIndex = a;
  }

  /** The newest version of `ikey` with a sequence at or below `snapshot`, or null. */
  get(ikey: Uint8Array, snapshot: number): Rec | null {
    this.#lowerBound(ikey, 0, ikey.length, snapshot, keyPrefix(ikey, 0, ikey.length), keyPrefix2(ikey, 0, ikey.length));
    const r = this.#at(this.#foundChunk, this.#foundIndex);
    if (r === null) return null;
    return compareRange(r.buf, r.keyStart, r.keyEnd, ikey, 0, ikey.length) === 0 ? r : null;
  }

  #at(ci: number, i: number): Rec | null {
    const chunk = this.#chunks[ci];
    if (chunk === undefined) return null;
    if (i < chunk.length) return chunk[i]!;
    return this.#chunks[ci + 1]?.[0] ?? null;
  }

  /** All records in order (every version), for flushing a frozen memtable. */
  *records(): IterableIterator<Rec> {
    for (const chunk of this.#chunks) yield* chunk;
  }

  /** The records in order, as the sorted runs they are kept in (no generator step per record, for flushes). */
  runs(): readonly (readonly Rec[])[] {
    return this.#chunks;
  }

  /** A cursor over the newest version of each key at or below `snapshot`. */
  cursor(snapshot: number, reverse: boolean): Source {
    return new MemtableCursor(this, snapshot, reverse);
  }

  /** @internal position helpers for the cursor. */
  _seek(key: Uint8Array, seq: number): [number, number] {
    this.#lowerBound(key, 0, key.length, seq, keyPrefix(key, 0, key.length), keyPrefix2(key, 0, key.length));
    return this._normalize(this.#foundChunk, this.#foundIndex);
  }

  _normalize(ci: number, i: number): [number, number] {
    const chunks = this.#chunks;
    while (ci < chunks.length && i >= chunks[ci]!.length) {
      ci++;
      i = 0;
    }
    return [ci, i];
  }

  _get(ci: number, i: number): Rec | undefined {
    return this.#chunks[ci]?.[i];
  }

  _prev(ci: number, i: number): [number, number] {
    if (i > 0) return [ci, i - 1];
    while (ci > 0) {
      ci--;
      const n = this.#chunks[ci]!.length;
      if (n > 0) return [ci, n - 1];
    }
    return [-1, -1];
  }

  _end(): [number, number] {
    return [this.#chunks.length, 0];
  }
}

/** Bytes 7 to 12 of a key as a number (zeros past its end), ordered as the keys are when their first six are equal. */
function keyPrefix2(buf: Uint8Array, start: number, end: number): number {
  return end - start > 6 ? keyPrefix(buf, start + 6, end) : 0;
}

function cmp(r: Rec, key: Uint8Array, start: number, end: number, seq: number): number {
  const c = compareRange(r.buf, r.keyStart, r.keyEnd, key, start, end);
  return c !== 0 ? c : seq - r.seq;
}

const MAX_SEQ = Number.MAX_SAFE_INTEGER;

class MemtableCursor implements Source {
  #m: Memtable;
  #snapshot: number;
  #reverse: boolean;
  #ci = 0;
  #i = 0;
  #version = -1;
  rec: Rec | null = null;

  constructor(m: Memtable, snapshot: number, reverse: boolean) {
    this.#m = m;
    this.#snapshot = snapshot;
    this.#reverse = reverse;
  }

  seek(target: Uint8Array | null): void {
    const m = this.#m;
    this.#version = m.version;
    if (!this.#reverse) {
      [this.#ci, this.#i] = target === null ? m._normalize(0, 0) : m._seek(target, MAX_SEQ);
      this.#settleForward();
    } else {
      const [ci, i] = target === null ? m._end() : m._seek(target, MAX_SEQ);
      [this.#ci, this.#i] = m._prev(ci, i);
      this.#settleReverse();
    }
  }

  next(): void {
    const cur = this.rec;
    if (cur === null) return;
    const m = this.#m;
    const key = cur.key();
    if (this.#version !== m.version) {
      // Records were inserted: find our place again, just past the key we were on.
      this.#version = m.version;
      if (!this.#reverse) [this.#ci, this.#i] = m._seek(key, -1);
      else [this.#ci, this.#i] = m._prev(...m._seek(key, MAX_SEQ));
    } else if (!this.#reverse) {
      [this.#ci, this.#i] = m._normalize(this.#ci, this.#i + 1);
      this.#skipKey(key);
    } else {
      [this.#ci, this.#i] = m._prev(this.#ci, this.#i);
      this.#skipKeyBack(key);
    }
    if (!this.#reverse) this.#settleForward();
    else this.#settleReverse();
  }

  #skipKey(key: Uint8Array): void {
    const m = this.#m;
    for (;;) {
      const r = m._get(this.#ci, this.#i);
      if (r === undefined || compareRange(r.buf, r.keyStart, r.keyEnd, key, 0, key.length) !== 0) return;
      [this.#ci, this.#i] = m._normalize(this.#ci, this.#i + 1);
    }
  }

  #skipKeyBack(key: Uint8Array): void {
    const m = this.#m;
    for (;;) {
      const r = m._get(this.#ci, this.#i);
      if (r === undefined || compareRange(r.buf, r.keyStart, r.keyEnd, key, 0, key.length) !== 0) return;
      [this.#ci, this.#i] = m._prev(this.#ci, this.#i);
    }
  }

  /** From the current position, moves to the first record visible in the snapshot (newest of its key). */
  #settleForward(): void {
    const m = this.#m;
    for (;;) {
      const r = m._get(this.#ci, this.#i);
      if (r === undefined) {
        this.rec = null;
        return;
      }
      if (r.seq <= this.#snapshot) {
        this.rec = r;
        return;
      }
      [this.#ci, this.#i] = m._normalize(this.#ci, this.#i + 1);
    }
  }

  /** Walking backwards we meet a key's oldest version first: go to its first version, take the newest visible. */
  #settleReverse(): void {
    const m = this.#m;
    for (;;) {
      const r = m._get(this.#ci, this.#i);
      if (r === undefined) {
        this.rec = null;
        return;
      }
      // Find the run of this key: walk back to its newest version.
      let best: Rec | null = null;
      let ci = this.#ci;
      let i = this.#i;
      let bestPos: [number, number] = [ci, i];
      for (;;) {
        const x = m._get(ci, i);
        if (x === undefined || compareRange(x.buf, x.keyStart, x.keyEnd, r.buf, r.keyStart, r.keyEnd) !== 0) break;
        if (x.seq <= this.#snapshot) {
          best = x;
          bestPos = [ci, i];
        }
        [ci, i] = m._prev(ci, i);
      }
      if (best !== null) {
        this.rec = best;
        [this.#ci, this.#i] = bestPos;
        return;
      }
      [this.#ci, this.#i] = [ci, i];
    }
  }
}
