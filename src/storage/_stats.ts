/**
 * `Engine.stats()`: sizes, counters and the two amplification figures the issue asks for.
 *
 * Write amplification counts every byte the engine wrote (log, flushes, compactions) per byte the user wrote.
 * Space amplification is RocksDB's estimate, table bytes over the bytes of the largest level, which after
 * compaction holds nearly all live data; it reads 1.0 for an engine whose data all sits in one level.
 */
import type { Background } from "./_background.ts";
import { levelScores, levelTargetBytes } from "./compaction_policy.ts";
import type { Settings } from "./options.ts";
import type { EngineStats, LevelStats } from "./types.ts";
import type { WalWriter } from "./wal.ts";

export function engineStats(bg: Background, wal: WalWriter, s: Settings): EngineStats {
  const metas = bg.version.metas();
  const scores = levelScores(metas, s);
  const levels: LevelStats[] = metas.map((l, i) => ({
    tables: l.length,
    bytes: l.reduce((a, t) => a + t.bytes, 0),
    targetBytes: i === 0 ? 0 : levelTargetBytes(i, s),
    score: scores[i] ?? 0,
  }));
  const tableBytes = levels.reduce((a, l) => a + l.bytes, 0);
  const largest = levels.reduce((a, l) => Math.max(a, l.bytes), 0);
  const written = wal.bytesWritten + bg.flushBytesWritten + bg.compactionBytesWritten;
  let memBytes = bg.mem.bytes;
  for (const m of bg.imm) memBytes += m.bytes;
  return {
    sequence: bg.lastSeq,
    memtableBytes: memBytes,
    memtableEntries: bg.mem.count,
    immutableMemtables: bg.imm.length,
    levels,
    tableBytes,
    walBytes: wal.bytes,
    userBytesWritten: bg.userBytesWritten,
    walBytesWritten: wal.bytesWritten,
    flushBytesWritten: bg.flushBytesWritten,
    compactionBytesRead: bg.compactionBytesRead,
    compactionBytesWritten: bg.compactionBytesWritten,
    flushes: bg.flushes,
    compactions: bg.compactions,
    trivialMoves: bg.trivialMoves,
    writeAmplification: bg.userBytesWritten === 0 ? 0 : written / bg.userBytesWritten,
    spaceAmplification: largest === 0 ? 1 : tableBytes / largest,
    cacheBytes: bg.cache.bytes,
    cacheBytesMax: s.cacheBytes,
    compression: s.compression,
    durability: s.durability,
    syncIntervalMs: s.syncIntervalMs,
    cacheHits: bg.cache.hits,
    cacheMisses: bg.cache.misses,
    bloomChecks: bg.bloomChecks,
    bloomNegatives: bg.bloomNegatives,
    corruptions: bg.corruptions,
    writeStalls: bg.writeStalls,
    syncs: wal.syncs,
    droppedPartitions: bg.drops.size,
    backgroundError: bg.error === null ? null : String(bg.error),
  };
}
