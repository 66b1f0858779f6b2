/**
 * Opening a data directory: read the manifest, open the tables it lists, delete leftovers of interrupted
 * flushes and compactions, and replay the write-ahead log into memtables (RocksDB's `DBImpl::Recover`).
 *
 * A table that the manifest lists but that cannot be opened (footer or index damaged) is renamed to
 * `<number>.sst.corrupt`, reported as CORRUPTION with file and offset, and left out: the node keeps serving
 * the rest, and the cluster's anti-entropy can restore what the table held.
 */
import { isMeshkvError, type MeshkvError } from "../errors.ts";
import type { FileSystem } from "../runtime/types.ts";
import { decodeLogRecord } from "./_batch.ts";
import { corruption } from "./_corruption.ts";
import { MANIFEST_TEMP_NAME, parseFileName, tableName } from "./_format.ts";
import type { BlockCache } from "./block_cache.ts";
import type { BrokenLock } from "./_lock.ts";
import { type ManifestState, readManifest } from "./manifest.ts";
import { Memtable } from "./memtable.ts";
import type { Settings } from "./options.ts";
import { TableReader } from "./table_reader.ts";
import { replayWal, type Segment, type WalDamage } from "./wal.ts";

/** What recovery found; `Engine.recovery` exposes it. */
export interface RecoveryReport {
  /** Log records replayed into memtables. */
  replayedRecords: number;
  /** Torn tails cut off the log: where, and how many bytes. */
  truncated: WalDamage[];
  /** CORRUPTION errors: damaged log records (skipped) and damaged tables (set aside). */
  corruption: MeshkvError[];
  /** Leftover files deleted (tables no manifest names, a half-written manifest). */
  removedFiles: string[];
  /** A `LOCK` taken over at open (left by a crashed engine, or broken on request), or null. */
  brokenLock: BrokenLock | null;
}

export interface Recovered {
  state: ManifestState;
  tables: TableReader[][];
  memtables: Memtable[];
  segments: Segment[];
  report: RecoveryReport;
}

export async function recover(fs: FileSystem, dir: string, settings: Settings, cache: BlockCache): Promise<Recovered> {
  await fs.mkdir(dir, { recursive: true });
  // The directory's own entry must be durable too, or a crash could take the whole store with it.
  const cut = dir.lastIndexOf("/");
  await fs.syncDir(cut > 0 ? dir.slice(0, cut) : cut === 0 ? "/" : ".");
  const report: RecoveryReport = {
    replayedRecords: 0,
    truncated: [],
    corruption: [],
    removedFiles: [],
    brokenLock: null,
  };
  const state: ManifestState = (await readManifest(fs, dir)) ??
    { nextNumber: 1, lastSeq: 0, flushedSeq: 0, levels: [], drops: new Map() };
  while (state.levels.length < settings.levelsMax) state.levels.push([]);
  const names = await fs.list(dir);
  const live = new Set(state.levels.flat().map((t) => t.number));
  const logs: number[] = [];
  for (const name of names) {
    const f = parseFileName(name);
    if (f) state.nextNumber = Math.max(state.nextNumber, f.number + 1);
    if (f?.kind === "log") logs.push(f.number);
    if ((f?.kind === "table" && !live.has(f.number)) || name === MANIFEST_TEMP_NAME) {
      await fs.remove(`${dir}/${name}`);
      report.removedFiles.push(name);
    }
  }
  const tables = await openTables(fs, dir, state, cache, report);
  const memtables: Memtable[] = [new Memtable(0)];
  const replay = await replayWal(fs, dir, logs.sort((a, b) => a - b), (payload, file, offset) => {
    let rec;
    try {
      rec = decodeLogRecord(payload, file, offset);
    } catch (e) {
      if (!isMeshkvError(e, "CORRUPTION")) throw e;
      report.corruption.push(e);
      return 0;
    }
    if (rec.seq > state.lastSeq) state.lastSeq = rec.seq;
    if (rec.type === "drop") {
      if (rec.seq > state.flushedSeq) {
        state.drops.set(rec.partition, Math.max(state.drops.get(rec.partition) ?? 0, rec.seq));
      }
      return rec.seq;
    }
    const last = rec.seq + rec.recs.length - 1;
    if (last > state.lastSeq) state.lastSeq = last;
    if (last <= state.flushedSeq) return last;
    // Keep a copy of the payload only, not the whole segment buffer it sits in.
    const own = decodeLogRecord(payload.slice(), file, offset);
    if (own.type !== "batch") return last;
    let mem = memtables[0]!;
    for (let i = 0; i < own.recs.length; i++) {
      const r = own.recs[i]!;
      if (r.seq <= state.flushedSeq) continue;
      mem.add(r, own.sizes[i]!);
    }
    if (mem.bytes >= settings.memtableBytes) {
      mem = new Memtable(0);
      memtables.unshift(mem);
    }
    return last;
  });
  report.replayedRecords = replay.records;
  report.truncated = replay.truncated;
  report.corruption.push(...replay.corrupt);
  return { state, tables, memtables, segments: replay.segments, report };
}

async function openTables(
  fs: FileSystem,
  dir: string,
  state: ManifestState,
  cache: BlockCache,
  report: RecoveryReport,
): Promise<TableReader[][]> {
  const out: TableReader[][] = [];
  for (let l = 0; l < state.levels.length; l++) {
    const level: TableReader[] = [];
    const keep = [];
    for (const meta of state.levels[l]!) {
      try {
        level.push(await TableReader.open(fs, dir, meta, cache));
        keep.push(meta);
      } catch (e) {
        if (isMeshkvError(e, "NOT_FOUND")) {
          report.corruption.push(
            corruption("Table named by the manifest is missing", `${dir}/${tableName(meta.number)}`, 0),
          );
          continue;
        }
        if (!isMeshkvError(e, "CORRUPTION")) throw e;
        report.corruption.push(e);
        await fs.rename(`${dir}/${tableName(meta.number)}`, `${dir}/${tableName(meta.number)}.corrupt`).catch(() => {});
      }
    }
    state.levels[l] = keep;
    out.push(level);
  }
  return out;
}
