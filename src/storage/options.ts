/**
 * Engine options: every knob and named limit of the storage engine, its default, and its validation.
 *
 * Limits follow convention 6 (units last in names). Defaults are LevelDB's where they apply (4 KiB blocks,
 * 10 bloom bits per key, L0 compaction at 4 tables and stop at 12, 10x level fan-out) and are sized so a node
 * holding a million 100-byte values stays well under 256 MiB of resident memory.
 */
import { MeshkvError } from "../errors.ts";
import type { Clock } from "../runtime/types.ts";

/** `always`: sync before acknowledging. `batch`: sync at most every `syncIntervalMs`, acknowledge after it.
 * `none`: acknowledge once the write is in memory; the log reaches the OS within one group commit. */
export type Durability = "always" | "batch" | "none";
export type Compression = "none" | "deflate";

/** What the purge hook is told about a tombstone (or an expired value) that compaction could drop. */
export interface TombstoneInfo {
  partition: number;
  key: Uint8Array;
  meta: Uint8Array;
  seq: number;
  /** The expiry time when the entry is an expired value rather than a delete; null for deletes. */
  expiredAt: number | null;
}

export interface EngineOptions {
  /** Time source for expiry and the `batch` sync window (required: the engine never reads the clock itself). */
  clock: Clock;
  durability?: Durability;
  syncIntervalMs?: number;
  memtableBytes?: number;
  immutableMemtablesMax?: number;
  walSegmentBytes?: number;
  /** With `none`, writers wait when this many log bytes are queued and not yet written. */
  walQueueBytesMax?: number;
  blockBytes?: number;
  bloomBitsPerKey?: number;
  compression?: Compression;
  tableBytes?: number;
  /** Level 1's target size (default: `memtableBytes` x `l0CompactionTables`, at least 32 MiB). */
  levelBaseBytes?: number;
  levelMultiplier?: number;
  levelsMax?: number;
  l0CompactionTables?: number;
  /**
   * Writers wait while level 0 holds this many tables (default 20, RocksDB's slowdown trigger; LevelDB stops at
   * 12). Compaction shares the writers' thread here, and while one large level-0 compaction runs, flushes go on
   * adding tables: at 12 the writers stopped for a second of a six-second load, at 20 they do not, and the next
   * level-0 compaction merges more tables at once (fewer rewrites of level 1). Point reads check level 0's
   * tables through their bloom filters, so the extra tables cost them little.
   */
  l0StopTables?: number;
  /** A compaction reads and writes at most this many bytes in total (LevelDB: 25 tables). */
  compactionBytesMax?: number;
  /** Table output is written in appends of at most this many bytes: the I/O of one compaction step. */
  ioStepBytes?: number;
  /**
   * The block cache's arena (default 8 MiB, as LevelDB's). A miss costs a synchronous read of a few
   * microseconds from the page cache, so the hit rate of uniformly random reads over 150 MiB (5% at 8 MiB, 10% at
   * 16, 20% at 32) barely moves their speed, while every MiB of arena counts against the node's memory: at 16
   * MiB the benchmark's peak went over 256 MiB on Bun and Deno in one run of six to nine each.
   */
  cacheBytes?: number;
  keyBytesMax?: number;
  valueBytesMax?: number;
  metaBytesMax?: number;
  batchOpsMax?: number;
  batchBytesMax?: number;
  /**
   * Whether compaction may drop a tombstone (or expired value) at the bottom level. The cluster keeps
   * tombstones until every replica holds them (gc grace); the default drops them as soon as it is safe locally.
   */
  tombstonePurgeable?: (info: TombstoneInfo) => boolean;
  /** Called with each CORRUPTION error found in the background or in recovery (the engine keeps serving). */
  onCorruption?: (error: MeshkvError) => void;
  /** Written into the `LOCK` file (e.g. the server's pid and host) and passed to `lockOwnerAlive` by a later opener. */
  lockOwner?: string;
  /**
   * Whether the process named by a `LOCK` file's owner still runs (the server passes a pid check). Given, a
   * live owner's `LOCK` fails the open with `LOCKED` and a dead owner's is taken over; without it, a `LOCK` left
   * by another process is taken over (reported in `recovery.brokenLock`), so a restart after a crash never blocks.
   */
  lockOwnerAlive?: (owner: string) => boolean | Promise<boolean>;
  /** Take over a `LOCK` even when `lockOwnerAlive` says its owner lives (when it is known not to use the store). */
  breakLock?: boolean;
}

export type Settings = Required<Omit<EngineOptions, "onCorruption" | "lockOwnerAlive">> & {
  onCorruption: ((error: MeshkvError) => void) | null;
  lockOwnerAlive: ((owner: string) => boolean | Promise<boolean>) | null;
};

const KiB = 1024;
const MiB = 1024 * KiB;

export const DEFAULTS = {
  durability: "batch",
  syncIntervalMs: 5,
  memtableBytes: 8 * MiB,
  immutableMemtablesMax: 2,
  walSegmentBytes: 64 * MiB,
  walQueueBytesMax: 4 * MiB,
  blockBytes: 4 * KiB,
  bloomBitsPerKey: 10,
  compression: "none",
  tableBytes: 4 * MiB,
  levelBaseBytes: 32 * MiB,
  levelMultiplier: 10,
  levelsMax: 7,
  l0CompactionTables: 4,
  l0StopTables: 20,
  compactionBytesMax: 100 * MiB,
  ioStepBytes: 256 * KiB,
  cacheBytes: 8 * MiB,
  keyBytesMax: 4 * KiB,
  valueBytesMax: 4 * MiB,
  metaBytesMax: 64 * KiB,
  batchOpsMax: 10_000,
  batchBytesMax: 16 * MiB,
  lockOwner: "",
  breakLock: false,
} as const;

function invalid(name: string, value: unknown, rule: string): MeshkvError {
  return new MeshkvError("INVALID_ARGUMENT", `Invalid option ${name}: ${String(value)} (${rule})`, {
    details: { option: name, value: String(value) },
  });
}

const INTEGER_OPTIONS: ReadonlyArray<[keyof typeof DEFAULTS, number, number]> = [
  ["syncIntervalMs", 0, 60_000],
  ["memtableBytes", 4 * KiB, 1024 * MiB],
  ["immutableMemtablesMax", 1, 16],
  ["walSegmentBytes", 4 * KiB, 1024 * MiB],
  ["walQueueBytesMax", 4 * KiB, 1024 * MiB],
  ["blockBytes", 256, 1 * MiB],
  ["bloomBitsPerKey", 0, 32],
  ["tableBytes", 4 * KiB, 1024 * MiB],
  ["levelBaseBytes", 4 * KiB, 64 * 1024 * MiB],
  ["levelMultiplier", 2, 100],
  ["levelsMax", 2, 12],
  ["l0CompactionTables", 1, 100],
  ["l0StopTables", 2, 1000],
  ["compactionBytesMax", 4 * KiB, 64 * 1024 * MiB],
  ["ioStepBytes", 4 * KiB, 64 * MiB],
  ["cacheBytes", 0, 64 * 1024 * MiB],
  ["keyBytesMax", 1, 65_533],
  ["valueBytesMax", 0, 256 * MiB],
  ["metaBytesMax", 0, 16 * MiB],
  ["batchOpsMax", 1, 1_000_000],
  ["batchBytesMax", 1, 1024 * MiB],
];

/**
 * Level 1's target when none is given: what level 0 holds when it is compacted (`memtableBytes` times
 * `l0CompactionTables`, RocksDB's rule for `max_bytes_for_level_base`), and at least the default 32 MiB. A level 1
 * smaller than one level-0 compaction's input overflows into level 2 at every such compaction (docs/storage.md).
 */
function levelBaseFor(o: Record<string, unknown>): unknown {
  const m = o.memtableBytes;
  const n = o.l0CompactionTables;
  if (typeof m !== "number" || typeof n !== "number") return DEFAULTS.levelBaseBytes;
  return Math.min(64 * 1024 * MiB, Math.max(DEFAULTS.levelBaseBytes, m * n));
}

/** Fills in defaults and checks every option; throws INVALID_ARGUMENT naming the first bad one. */
export function normalizeOptions(options: EngineOptions): Settings {
  if (options === null || typeof options !== "object") throw invalid("options", options, "an object");
  const clock = options.clock;
  if (!clock || typeof clock.now !== "function" || typeof clock.setTimeout !== "function") {
    throw invalid("clock", clock, "a Clock from the runtime");
  }
  const out: Record<string, unknown> = { ...DEFAULTS, ...options };
  if (options.levelBaseBytes === undefined) out.levelBaseBytes = levelBaseFor(out);
  for (const [name, min, max] of INTEGER_OPTIONS) {
    const v = out[name];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
      throw invalid(name, v, `an integer from ${min} to ${max}`);
    }
  }
  if (!["always", "batch", "none"].includes(out.durability as string)) {
    throw invalid("durability", out.durability, "always, batch or none");
  }
  if (!["none", "deflate"].includes(out.compression as string)) {
    throw invalid("compression", out.compression, "none or deflate");
  }
  if ((out.l0StopTables as number) <= (out.l0CompactionTables as number)) {
    throw invalid("l0StopTables", out.l0StopTables, "greater than l0CompactionTables");
  }
  const purge = out.tombstonePurgeable ?? (() => true);
  if (typeof purge !== "function") throw invalid("tombstonePurgeable", purge, "a function");
  const onCorruption = out.onCorruption ?? null;
  if (onCorruption !== null && typeof onCorruption !== "function") {
    throw invalid("onCorruption", onCorruption, "a function");
  }
  if (typeof out.lockOwner !== "string") throw invalid("lockOwner", out.lockOwner, "a string");
  if (typeof out.breakLock !== "boolean") throw invalid("breakLock", out.breakLock, "a boolean");
  const alive = out.lockOwnerAlive ?? null;
  if (alive !== null && typeof alive !== "function") throw invalid("lockOwnerAlive", alive, "a function");
  return {
    ...(out as Omit<Settings, "tombstonePurgeable" | "onCorruption" | "lockOwnerAlive">),
    tombstonePurgeable: purge as Settings["tombstonePurgeable"],
    onCorruption: onCorruption as Settings["onCorruption"],
    lockOwnerAlive: alive as Settings["lockOwnerAlive"],
  } as Settings;
}
