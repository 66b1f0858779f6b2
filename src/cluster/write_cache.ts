/**
 * The state this replica last wrote for each recently written key, so the next write of a hot key (a
 * read-modify-write or a merge) starts from it instead of reading the engine: no memtable search, no copy out
 * of the engine, no decoding of the stored set. On the benchmark machine that was about a fifth of a replica's
 * CPU per write of a hot key (docs/bench.md, fifth round).
 *
 * It is right because of who fills it and who reads it: the replica store writes a key only under the key's
 * lock, and sets the entry there after the engine took the write (and drops it before a write, so a write that
 * fails leaves no entry); the writes that read it hold the same lock. So an entry is always what the engine
 * holds for the key. Reads outside the lock (a coordinator's) still go to the engine. Only live states without
 * an expiry are kept: the engine drops a deleted key's history and expired values on its own (compaction), and
 * such an entry would then no longer match it.
 *
 * Bounded by `bytesMax`; the oldest write goes first. An entry is decoded, at its first read, from a copy of the
 * set's encoding in memory the cache owns, so its values and its encoding (which a read sent on to a peer reuses)
 * are views into it: the written set's values may be views into a mesh frame, and encodings into a shared slab,
 * which an entry kept for long would otherwise keep alive. The copies are carved out of the cache's own slabs
 * (`slabBytes`, 64 KiB by default): a buffer of its own per entry is a `malloc` on V8, which cost more than the
 * engine read the cache saves (docs/bench.md, sixth round). A slab is charged whole, from its first entry
 * until its last one is gone, so what the cache keeps alive is what it counts, however its entries were
 * overwritten or evicted; each entry is charged `ENTRY_OVERHEAD_BYTES` and its key besides. An entry larger than
 * a quarter of a slab gets a buffer of its own, charged at its size.
 */
import { decodeSet, encodeSet, rememberEncoding } from "../core/context.ts";
import type { Stored } from "../core/stored.ts";

/** Default bound of a replica's write cache (a few thousand 1 KB values). */
export const WRITE_CACHE_BYTES_DEFAULT = 4 * 1024 * 1024;
/** Bytes charged per entry beyond its encoded set and key: the set's objects and the map's slot. */
export const ENTRY_OVERHEAD_BYTES = 200;
/** The largest slab the cache carves copies from (a sixteenth of the bound when that is less). */
export const WRITE_CACHE_SLAB_BYTES = 64 * 1024;

interface Slab {
  readonly buf: ArrayBuffer;
  used: number;
  /** Entries still in it. */
  live: number;
}

interface Entry {
  readonly key: string;
  readonly p: number;
  /** Decoded from `encoded` at the first `get` (many entries are overwritten or evicted before one). */
  stored: Stored | null;
  /** The set's encoding, in the slab (the decoded set's values are views into it). */
  readonly encoded: Uint8Array;
  readonly slab: Slab;
  /** Charged for the entry itself (its slab is charged apart). */
  readonly bytes: number;
  /** Neighbours in write order. A list rather than the map's own order: finding the oldest entry of a map whose
   * first slots were deleted walks every deleted slot until the map is rebuilt. */
  older: Entry | null;
  newer: Entry | null;
}

export class WriteCache {
  readonly bytesMax: number;
  readonly slabBytes: number;
  readonly #entries = new Map<string, Entry>();
  #oldest: Entry | null = null;
  #newest: Entry | null = null;
  #slab: Slab | null = null;
  #bytes = 0;

  constructor(bytesMax: number = WRITE_CACHE_BYTES_DEFAULT, slabBytes?: number) {
    this.bytesMax = bytesMax;
    this.slabBytes = slabBytes ?? Math.min(WRITE_CACHE_SLAB_BYTES, Math.floor(bytesMax / 16));
  }

  /** Entries held. */
  get size(): number {
    return this.#entries.size;
  }

  /** Bytes charged: the slabs entries are in (and the one being filled), each entry's overhead and key. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The state last written for `key` in partition `p`, if still held. */
  get(p: number, key: string): Stored | undefined {
    const e = this.#entries.get(key);
    if (e === undefined || e.p !== p) return undefined;
    // Its encoding again among the recent ones (decoding remembers it): a read sent on to a peer (or merged and
    // written) reuses it.
    if (e.stored === null) e.stored = { set: decodeSet(e.encoded), expiresAt: null };
    else rememberEncoding(e.stored.set, e.encoded);
    return e.stored;
  }

  /** Keeps `stored` as the key's state when it is `live` and has no expiry; otherwise forgets the key. */
  set(p: number, key: string, stored: Stored, live: boolean): void {
    this.delete(key);
    if (!live || stored.expiresAt !== null) return;
    const encoded = encodeSet(stored.set); // made by the write already: no encoding here
    const n = encoded.byteLength;
    const bytes = ENTRY_OVERHEAD_BYTES + key.length;
    if (bytes + n > this.bytesMax) return;
    const slab = this.#slabFor(n);
    const copy = new Uint8Array(slab.buf, slab.used, n);
    copy.set(encoded);
    slab.used += (n + 7) & ~7;
    slab.live++;
    const e: Entry = {
      key,
      p,
      stored: null,
      encoded: copy,
      slab,
      bytes,
      older: this.#newest,
      newer: null,
    };
    if (this.#newest !== null) this.#newest.newer = e;
    else this.#oldest = e;
    this.#newest = e;
    this.#entries.set(key, e);
    this.#bytes += bytes;
    while (this.#bytes > this.bytesMax && this.#oldest !== null) this.#remove(this.#oldest);
  }

  delete(key: string): void {
    const e = this.#entries.get(key);
    if (e !== undefined) this.#remove(e);
  }

  /** A slab with room for `n` bytes: the one being filled, a new one, or (past a quarter of a slab) its own. */
  #slabFor(n: number): Slab {
    if (n > this.slabBytes / 4) {
      this.#bytes += n;
      return { buf: new ArrayBuffer(n), used: 0, live: 0 };
    }
    const s = this.#slab;
    if (s !== null && s.used + n <= s.buf.byteLength) return s;
    if (s !== null && s.live === 0) this.#bytes -= s.buf.byteLength;
    this.#bytes += this.slabBytes;
    return this.#slab = { buf: new ArrayBuffer(this.slabBytes), used: 0, live: 0 };
  }

  #remove(e: Entry): void {
    this.#entries.delete(e.key);
    this.#bytes -= e.bytes;
    if (--e.slab.live === 0 && e.slab !== this.#slab) this.#bytes -= e.slab.buf.byteLength;
    if (e.older !== null) e.older.newer = e.newer;
    else this.#oldest = e.newer;
    if (e.newer !== null) e.newer.older = e.older;
    else this.#newest = e.older;
    e.older = e.newer = null;
  }
}
