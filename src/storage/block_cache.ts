/**
 * The block cache: verified, decompressed blocks kept in memory, bounded in bytes, least recently used out
 * first (LevelDB's `NewLRUCache`). Keys are numbers (`table * 2^32 + offset`), which Maps hash fast.
 *
 * Recency lives in an intrusive doubly linked list, so a hit only relinks two nodes and an eviction takes the
 * tail. (An earlier version used the insertion order of a `Map`, deleting and re-inserting on every hit and
 * evicting by iterating from the front: V8 leaves a hole per deletion until it rehashes, so every eviction
 * walked over the holes, and the cache cost 5% of a random-read workload on its own.)
 */
import type { Block } from "./block.ts";

/** Bytes charged per cached block beyond its data: the Block object, its list node and the Map slot. */
const ENTRY_OVERHEAD_BYTES = 160;

class Node {
  key: number;
  block: Block;
  size: number;
  prev: Node | null = null;
  next: Node | null = null;

  constructor(key: number, block: Block, size: number) {
    this.key = key;
    this.block = block;
    this.size = size;
  }
}

export class BlockCache {
  #map = new Map<number, Node>();
  /** Most recently used. */
  #head: Node | null = null;
  /** Least recently used: the next to go. */
  #tail: Node | null = null;
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
    const n = this.#map.get(key);
    if (n === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    if (n !== this.#head) {
      this.#unlink(n);
      this.#pushFront(n);
    }
    return n.block;
  }

  set(key: number, block: Block): void {
    const size = block.data.length + ENTRY_OVERHEAD_BYTES;
    if (size > this.capacityBytes) return;
    this.#remove(key);
    const n = new Node(key, block, size);
    this.#map.set(key, n);
    this.#pushFront(n);
    this.#bytes += size;
    while (this.#bytes > this.capacityBytes && this.#tail !== null) this.#remove(this.#tail.key);
  }

  /** Drops every block of a table (when its file is deleted). */
  evictTable(table: number, offsets: Iterable<number>): void {
    for (const o of offsets) this.#remove(BlockCache.key(table, o));
  }

  get size(): number {
    return this.#map.size;
  }

  #remove(key: number): void {
    const n = this.#map.get(key);
    if (n === undefined) return;
    this.#map.delete(key);
    this.#unlink(n);
    this.#bytes -= n.size;
  }

  #unlink(n: Node): void {
    if (n.prev !== null) n.prev.next = n.next;
    else this.#head = n.next;
    if (n.next !== null) n.next.prev = n.prev;
    else this.#tail = n.prev;
    n.prev = n.next = null;
  }

  #pushFront(n: Node): void {
    n.next = this.#head;
    if (this.#head !== null) this.#head.prev = n;
    this.#head = n;
    if (this.#tail === null) this.#tail = n;
  }
}
