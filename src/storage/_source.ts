/**
 * The cursor contract shared by memtables, table blocks, tables and levels, which the merging iterator and
 * compaction consume. A source moves in one direction, chosen when it is made, and yields at most one record
 * per key: the newest one visible to its snapshot. `seek` and `next` return a promise only when they must read
 * from disk, so in-memory steps cost no microtask.
 */
import type { Rec } from "./_record.ts";

export interface Source {
  /** The current record, or null when the source is exhausted. Valid until the next call to `next`/`seek`. */
  rec: Rec | null;
  /**
   * Forward: moves to the first key at or after `target` (null: the first key).
   * Reverse: moves to the last key strictly before `target` (null: the last key).
   */
  seek(target: Uint8Array | null): void | Promise<void>;
  next(): void | Promise<void>;
  /** Releases what the source holds (pinned blocks); optional. */
  close?(): void;
}
