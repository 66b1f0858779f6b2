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
 * Bounded by `bytesMax` (the encoded set plus `ENTRY_OVERHEAD_BYTES` per entry); the oldest write goes first. An
 * entry is decoded from a copy of the set's encoding in a buffer of its own, so its values and its encoding (which
 * a read sent on to a peer reuses) are views into that buffer: the written set's values may be views into a mesh
 * frame, and encodings into a shared slab, which an entry kept for long would otherwise keep alive.
 */
import { decodeSet, encodeSet } from "../core/context.ts";
import type { Stored } from "../core/stored.ts";

/** Default bound of a replica's write cache (a few thousand 1 KB values). */
export const WRITE_CACHE_BYTES_DEFAULT = 4 * 1024 * 1024;
/** Bytes charged per entry beyond its values: the set's objects, the key and the map's slot. */
export const ENTRY_OVERHEAD_BYTES = 200;

interface Entry {
  readonly p: number;
  readonly stored: Stored;
  readonly bytes: number;
}

export class WriteCache {
  readonly bytesMax: number;
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;

  constructor(bytesMax: number = WRITE_CACHE_BYTES_DEFAULT) {
    this.bytesMax = bytesMax;
  }

  /** Entries held. */
  get size(): number {
    return this.#entries.size;
  }

  /** Bytes charged for them. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The state last written for `key` in partition `p`, if still held. */
  get(p: number, key: string): Stored | undefined {
    const e = this.#entries.get(key);
    return e !== undefined && e.p === p ? e.stored : undefined;
  }

  /** Keeps `stored` as the key's state when it is `live` and has no expiry; otherwise forgets the key. */
  set(p: number, key: string, stored: Stored, live: boolean): void {
    this.delete(key);
    if (!live || stored.expiresAt !== null) return;
    const encoded = encodeSet(stored.set); // made by the write already: no encoding here
    const bytes = encoded.byteLength + ENTRY_OVERHEAD_BYTES + key.length;
    if (bytes > this.bytesMax) return;
    this.#entries.set(key, { p, stored: { set: decodeSet(encoded.slice()), expiresAt: null }, bytes });
    this.#bytes += bytes;
    for (const [k, e] of this.#entries) {
      if (this.#bytes <= this.bytesMax) break;
      this.#entries.delete(k);
      this.#bytes -= e.bytes;
    }
  }

  delete(key: string): void {
    const e = this.#entries.get(key);
    if (e === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= e.bytes;
  }
}
