/**
 * The block cache: verified, decompressed blocks kept in memory, bounded in bytes, least recently used out
 * first (LevelDB's `NewLRUCache`). A JavaScript `Map` keeps insertion order, so a hit is a delete and a set,
 * and eviction walks from the oldest entry. Keys are numbers (`table * 2^32 + offset`), which Maps hash fast.
 */
import type { Block } from "./block.ts";

/** Bytes charged per cached block beyond its data: the Block object, its key and the Map slot. */
const ENTRY_OVERHEAD_BYTES = 128;

export class BlockCache {
  #map = new Map<number, Block>();
  #bytes = 0;
  readonly capacityBytes: number;
  hits = 0;
  misses = 0;

  constructor(capacityBytes: number) {
    this.capacityBytes = capacityBytes;
  }

  static key(table: number, offset: number): number {
    return table * 4294967296 + offset;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get(key: number): Block | undefined {
    const b = this.#map.get(key);
    if (b === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.#map.delete(key);
    this.#map.set(key, b);
    return b;
  }

  set(key: number, block: Block): void {
    const size = block.data.length + ENTRY_OVERHEAD_BYTES;
    if (size > this.capacityBytes) return;
    const old = this.#map.get(key);
    if (old !== undefined) {
      this.#bytes -= old.data.length + ENTRY_OVERHEAD_BYTES;
      this.#map.delete(key);
    }
    this.#map.set(key, block);
    this.#bytes += size;
    if (this.#bytes > this.capacityBytes) {
      for (const [k, b] of this.#map) {
        this.#map.delete(k);
        this.#bytes -= b.data.length + ENTRY_OVERHEAD_BYTES;
        if (this.#bytes <= this.capacityBytes) break;
      }
    }
  }

  /** Drops every block of a table (when its file is deleted). */
  evictTable(table: number, offsets: Iterable<number>): void {
    for (const o of offsets) {
      const k = BlockCache.key(table, o);
      const b = this.#map.get(k);
      if (b !== undefined) {
        this.#bytes -= b.data.length + ENTRY_OVERHEAD_BYTES;
        this.#map.delete(k);
      }
    }
  }

  get size(): number {
    return this.#map.size;
  }
}
