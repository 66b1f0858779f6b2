/**
 * The storage engine's public types: what the cluster layer passes in and gets back.
 *
 * Keys are addressed by a partition number (0 to 65535) and a key, given as a string (stored as UTF-8) or as
 * bytes. The engine stores `u16 partition (big-endian) | key bytes` as its internal key, so the records of a
 * partition are one contiguous, ordered range: it can be listed, streamed out and dropped as a whole. Keys come
 * back as bytes (`fromUtf8` in `mod.ts` turns them back into strings).
 */
import type { Compression, Durability } from "./options.ts";

export type Key = string | Uint8Array;

export interface PutOptions {
  /** Opaque bytes stored with the value (the cluster keeps version vectors here). */
  meta?: Uint8Array;
  /** Absolute expiry, milliseconds since the epoch on the engine's clock. */
  expiresAt?: number;
  /** Relative expiry from now, in milliseconds (give at most one of `expiresAt` and `ttlMs`). */
  ttlMs?: number;
}

export interface DeleteOptions {
  /** Opaque bytes stored with the tombstone (the version vector of the delete). */
  meta?: Uint8Array;
}

export type BatchOp =
  | ({ type: "put"; partition: number; key: Key; value: Uint8Array } & PutOptions)
  | ({ type: "delete"; partition: number; key: Key } & DeleteOptions);

export interface GetOptions {
  /** Return a tombstone (with its metadata) instead of undefined when the key was deleted. */
  includeTombstones?: boolean;
}

export interface IterateOptions {
  /** Only this partition. Without it, every partition in order (then prefix, start and end are not allowed). */
  partition?: number;
  prefix?: Key;
  /** First key, inclusive. */
  start?: Key;
  /** Last key, exclusive. */
  end?: Key;
  reverse?: boolean;
  limit?: number;
  /** Leave `value` empty (saves copying values). */
  keysOnly?: boolean;
  /** Yield tombstones too (streaming a partition to another node must carry its deletes). */
  includeTombstones?: boolean;
}

/** One stored version of a key, as returned by `get` and `iterate`. The arrays are copies the caller owns. */
export interface Entry {
  partition: number;
  key: Uint8Array;
  value: Uint8Array;
  meta: Uint8Array;
  /** Milliseconds since the epoch, or null when the entry does not expire. */
  expiresAt: number | null;
  tombstone: boolean;
  /** The engine's sequence number for this write (increases with every write on this engine). */
  seq: number;
}

export interface LevelStats {
  tables: number;
  bytes: number;
  targetBytes: number;
  score: number;
}

export interface EngineStats {
  sequence: number;
  memtableBytes: number;
  memtableEntries: number;
  immutableMemtables: number;
  levels: LevelStats[];
  tableBytes: number;
  walBytes: number;
  /** Bytes the user handed in (keys, values, metadata). */
  userBytesWritten: number;
  walBytesWritten: number;
  flushBytesWritten: number;
  compactionBytesRead: number;
  compactionBytesWritten: number;
  flushes: number;
  compactions: number;
  trivialMoves: number;
  /** (log + flush + compaction bytes written) / user bytes written. */
  writeAmplification: number;
  /** Table bytes / bytes in the largest level (RocksDB's estimate: the largest level is roughly the live data). */
  spaceAmplification: number;
  cacheBytes: number;
  /** The block cache's arena (the `cacheBytes` option). */
  cacheBytesMax: number;
  /** How new tables' blocks are stored (the `compression` option); tables written otherwise read the same. */
  compression: Compression;
  /** When writes are acknowledged (the `durability` option) and the least time between log syncs under `batch`. */
  durability: Durability;
  syncIntervalMs: number;
  cacheHits: number;
  cacheMisses: number;
  bloomChecks: number;
  bloomNegatives: number;
  corruptions: number;
  writeStalls: number;
  syncs: number;
  droppedPartitions: number;
  backgroundError: string | null;
}
